"""Fixtures for the unattended-operation tests."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.disks import BreakableDisk, breakable_disk
from tests.ops.notify_socket import FakeNotifySocket
from tests.support import require_root


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


class SmallDisk:
    """A tmpfs of a few MB mounted for one test: a disk that really fills up, and can go read-only."""

    def __init__(self, path: Path, size_bytes: int) -> None:
        self.path = path
        self.size_bytes = size_bytes
        self.filler = path / "filler.bin"

    def free(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self, leave_bytes: int) -> None:
        """Grow the filler file until only about ``leave_bytes`` are free."""
        grow = self.free() - leave_bytes
        if grow > 0:
            with open(self.filler, "ab") as f:
                f.write(b"\0" * grow)

    def fill_completely(self) -> None:
        chunk = b"\0" * 4096
        with open(self.filler, "ab", buffering=0) as f:
            try:
                while True:
                    f.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
        with open(self.filler, "ab", buffering=0) as f:
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0")

    def release(self) -> None:
        self.filler.unlink(missing_ok=True)

    def remount(self, read_only: bool) -> None:
        subprocess.run(["mount", "-o", f"remount,{'ro' if read_only else 'rw'}", str(self.path)], check=True)


@pytest.fixture
def small_disk(short_dir: Path) -> Iterator[SmallDisk]:
    """An 8 MB tmpfs (root only: mounting is the point; without root the test cannot be meaningful)."""
    require_root("mounting a small tmpfs is the point of the test")
    mount_point = short_dir / "disk"
    mount_point.mkdir()
    size = 8 * 1024 * 1024
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "fbgw-test", str(mount_point)], check=True)
    try:
        yield SmallDisk(mount_point, size)
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.fixture
def card() -> Iterator[BreakableDisk]:
    """A small ext4 "SD card" the kernel can be made to put read-only under open files (see tests/ops/disks.py)."""
    with breakable_disk() as disk:
        yield disk
