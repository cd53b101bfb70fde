"""Disk space set aside for alarms: a file of real blocks beside the database.

An SD card fills up (logs, a runaway backlog) long before anyone looks. When a commit fails for lack of space
the reserve is deleted and the commit retried, so alarms and alerts still get in; once enough space is free
again the reserve is made anew. Every function blocks (file system calls): run them on the writer thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger("gateway.outbox")  # one logger for the whole outbox: the journal is filtered by it


def make_reserve(path: Path, size: int) -> None:
    """Set aside ``size`` bytes of real disk blocks at ``path`` (best effort: a full disk simply has none)."""
    if not size:
        return
    try:
        if path.stat().st_size >= size:
            return
    except FileNotFoundError:
        pass
    except OSError as exc:  # a failing card: leave whatever is there alone
        log.warning("outbox: disk reserve not checked (%s)", exc.strerror)
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.posix_fallocate(fd, 0, size)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.unlink()
        log.warning("outbox: no disk reserve (%s)", exc.strerror)


def release_reserve(path: Path) -> bool:
    """Delete the reserve to make room. False if there was none to give."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def space_is_back(directory: Path, reserve_bytes: int) -> int | None:
    """Free bytes in ``directory`` if there is room for the reserve twice over and a margin; else None."""
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return None
    return free if free >= 2 * reserve_bytes + 1024 * 1024 else None
