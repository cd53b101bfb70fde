"""Mount and cut the power-cut filesystem (:mod:`tests.powercut.fs`) from tests and scripts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def fuse_missing() -> str | None:
    """Why this machine cannot mount the filesystem, or None when it can."""
    if not Path("/dev/fuse").exists():
        return "/dev/fuse is missing"
    if shutil.which("fusermount3") is None:
        return "fusermount3 is missing (Debian package fuse3)"
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as exc:  # OSError: libfuse3 itself not found by ctypes
        return f"mfusepy unusable: {exc}"
    return None


class PowerCutMount:
    """One mount of a backing folder; :meth:`cut` unmounts it, dropping whatever was not synced."""

    def __init__(self, backing: Path, mountpoint: Path, log_path: Path, torn_seed: int | None = None) -> None:
        self.backing, self.mountpoint, self.log_path = backing, mountpoint, log_path
        self.torn_seed = torn_seed
        self.proc: subprocess.Popen[bytes] | None = None

    def mount(self, timeout: float = 10.0) -> None:
        self.backing.mkdir(parents=True, exist_ok=True)
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "tests.powercut.fs", str(self.backing), str(self.mountpoint)]
        if self.torn_seed is not None:
            args += ["--torn", str(self.torn_seed)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, cwd=REPO, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while not os.path.ismount(self.mountpoint):
            if self.proc.poll() is not None:
                raise RuntimeError(f"powercut fs exited {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("powercut fs did not mount")
            time.sleep(0.02)

    def cut(self, timeout: float = 10.0) -> None:
        """Unmount: the filesystem process exits, and with it everything pending. Processes using the mount
        must be dead first (a cut kills them together with the medium)."""
        if self.proc is None:
            return
        if os.path.ismount(self.mountpoint):
            done = subprocess.run(["fusermount3", "-u", str(self.mountpoint)], capture_output=True, check=False)
            if done.returncode != 0:  # still busy for a moment after a kill: detach it
                subprocess.run(["fusermount3", "-u", "-z", str(self.mountpoint)], capture_output=True, check=False)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.returncode not in (0, -9):
            raise RuntimeError(f"powercut fs failed ({self.proc.returncode}): {self.log_path.read_text()[-2000:]}")
        self.proc = None

    def __enter__(self) -> PowerCutMount:
        self.mount()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cut()
