"""Helpers shared by the test suites: a real Mosquitto, a subscriber that collects events, a gateway process."""

import os

import pytest


def require_root(why: str) -> None:
    """Root is needed (mounting a tmpfs, chown): skip with the reason on a developer's machine, fail in CI,
    where a skip would hide a machine that cannot run the test."""
    if os.geteuid() == 0:
        return
    if os.environ.get("CI"):
        pytest.fail(f"needs root in CI: {why}")
    pytest.skip(f"needs root: {why}")
