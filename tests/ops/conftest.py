"""Fixtures for the unattended-operation tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.notify_socket import FakeNotifySocket


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A temp dir with a short path (AF_UNIX socket paths are limited to 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="fbgw-ops-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def notify_socket(short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNotifySocket]:
    """A fake systemd notify socket, announced to the gateway as systemd would ($NOTIFY_SOCKET)."""
    sock = FakeNotifySocket(short_dir / "notify")
    monkeypatch.setenv("NOTIFY_SOCKET", str(sock.path))
    try:
        yield sock
    finally:
        sock.close()
