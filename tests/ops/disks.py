"""A filesystem the kernel really turns read-only under open files, as it does to an SD card that throws errors.

Why not ``mount -o remount,ro`` on a tmpfs: the kernel refuses that (EBUSY) while any file on it is open for
writing, and the outbox always has its database open. ``/sys/fs/ext4/<dev>/trigger_fs_error`` runs ext4's own
error path instead (``errors=remount-ro``): from then on every write fails with EROFS, and SQLite reports
"disk I/O error", exactly as after a real card error. Recent kernels keep that state until the filesystem is
unmounted (``remount,rw`` does not undo it), so :meth:`BreakableDisk.repair` does what fixing the card means:
e2fsck on a copy of the image, mounted again at the same place over the broken mount (which the open files
keep alive underneath), so whatever opens the path afresh writes to the repaired filesystem.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.support import require_root

SIZE_BYTES = 32 * 1024 * 1024


def _source_of(mount_point: Path) -> str:
    """The device of the topmost mount at ``mount_point`` (from /proc/self/mountinfo)."""
    source = ""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == str(mount_point):
            source = fields[fields.index("-") + 2]
    if not source:
        raise RuntimeError(f"{mount_point} is not mounted")
    return source


class BreakableDisk:
    """A small ext4 image on a loop device, mounted at :attr:`path` for one test."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.path = work / "disk"
        self.images: list[Path] = []
        self.device = ""

    def _mount(self, image: Path) -> None:
        subprocess.run(
            ["mount", "-t", "ext4", "-o", "loop,errors=remount-ro", str(image), str(self.path)],
            check=True,
            capture_output=True,
        )
        self.images.append(image)
        self.device = _source_of(self.path)

    def mount(self) -> None:
        self.path.mkdir()
        image = self.work / "card-0.img"
        with open(image, "wb") as f:
            f.truncate(SIZE_BYTES)
        subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
        self._mount(image)

    def writable(self) -> bool:
        """Whether a new file can be written on it right now (False only for EROFS)."""
        probe = self.path / ".probe"
        try:
            probe.write_bytes(b"x")
        except OSError as exc:
            if exc.errno != errno.EROFS:
                raise
            return False
        probe.unlink()
        return True

    def fail(self) -> None:
        """The kernel meets an error on the card and makes the filesystem read-only."""
        trigger = Path("/sys/fs/ext4") / os.path.basename(self.device) / "trigger_fs_error"
        trigger.write_text("fbgw test: simulated card error\n")
        assert not self.writable(), "the kernel did not make the filesystem read-only"

    def repair(self) -> None:
        """Check the card (a copy of its image: the broken mount still holds the original) and mount it again."""
        image = self.work / f"card-{len(self.images)}.img"
        shutil.copyfile(self.images[-1], image)
        fsck = subprocess.run(["e2fsck", "-fy", str(image)], capture_output=True, text=True)
        if fsck.returncode >= 4:  # 1 and 2 mean "errors corrected"
            raise RuntimeError(f"e2fsck could not repair the image: {fsck.stdout}{fsck.stderr}")
        self._mount(image)
        assert self.writable(), "the repaired filesystem is not writable"

    def close(self) -> None:
        for _ in range(len(self.images)):
            if not os.path.ismount(self.path):
                break
            subprocess.run(["umount", "-l", str(self.path)], check=False, capture_output=True)
        shutil.rmtree(self.work, ignore_errors=True)


@contextlib.contextmanager
def breakable_disk() -> Iterator[BreakableDisk]:
    """A mounted :class:`BreakableDisk` (root only: mounting and breaking a filesystem is the point)."""
    require_root("a filesystem the kernel makes read-only is the point of the test")
    disk = BreakableDisk(Path(tempfile.mkdtemp(prefix="fbgw-card-")))
    try:
        disk.mount()
        yield disk
    finally:
        disk.close()
