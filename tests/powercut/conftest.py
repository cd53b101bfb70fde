"""A mounted power-cut filesystem for one test; a machine that cannot mount one skips (fails in CI)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.powercut.mount import PowerCutMount, fuse_missing


def require_fuse() -> None:
    why = fuse_missing()
    if why is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"power-cut tests need FUSE in CI: {why}")
    pytest.skip(f"power-cut tests need FUSE: {why}")


@pytest.fixture
def medium(tmp_path: Path) -> Iterator[PowerCutMount]:
    """A mounted filesystem on ``tmp_path/medium``; remount with ``medium.cut(); medium.mount()``."""
    require_fuse()
    m = PowerCutMount(tmp_path / "medium", tmp_path / "mnt", tmp_path / "fs.log")
    m.mount()
    try:
        yield m
    finally:
        m.cut()
