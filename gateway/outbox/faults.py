"""What can go wrong with the outbox's storage, told apart, because each calls for a different answer.

- The disk is full: the reserve is given back so alarms still get in (:mod:`gateway.outbox.reserve`).
- The storage refuses writes (the kernel remounted the SD card read-only after errors, or it fails with I/O
  errors): the outbox goes degraded and holds alarms in memory (:mod:`gateway.outbox.held`).
- The file is corrupt (not a database, integrity check failed): the caller moves it aside and salvages it.
- Anything else (a busy lock, a bad statement) is a failed commit, reported to the caller as such.

The same functions decide at commit and at open, so a card that is read-only at boot is treated like one that
turns read-only later.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from pathlib import Path

from drivers.base import ReadingRefused


class OutboxError(ReadingRefused):
    """The outbox could not commit; the event was NOT accepted."""


class CorruptOutbox(sqlite3.DatabaseError):
    """The file opens as a database but fails its integrity check: damage, not a storage that refuses writes."""


#: SQLite primary result codes that mean the storage refuses writes.
FAULT_CODES = frozenset({sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN})
#: How a storage fault is named in ``last_error`` (the storage monitor reads the reason back from this text).
FAULT_TEXT = {"read_only": "read-only file system", "io_error": "disk I/O error"}
#: Name of the file :func:`dir_read_only` tries to create.
PROBE_NAME = ".fbgw-write-probe"


def is_disk_full(exc: BaseException) -> bool:
    """The write failed for lack of space (ENOSPC, or SQLite's "database or disk is full")."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    return isinstance(exc, sqlite3.Error) and "full" in str(exc).lower()


def is_storage_fault(exc: BaseException) -> bool:
    """The storage refuses writes (read-only, I/O errors): not "full", not a busy lock or a bug in a query."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.EROFS, errno.EIO)
    if not isinstance(exc, sqlite3.Error) or isinstance(exc, CorruptOutbox):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in FAULT_CODES
    text = str(exc).lower()
    return "readonly" in text or "disk i/o error" in text


def dir_read_only(path: Path) -> bool:
    """Whether ``path``'s filesystem refuses new files with EROFS. Blocking; for the writer thread.

    A read-only remount after errors does not always show in statvfs (ext4 on newer kernels keeps the mount
    "rw" and refuses writes), and SQLite reports the failed write only as "disk I/O error": so try one."""
    with contextlib.suppress(OSError):
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return True
    probe = path / PROBE_NAME
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        return exc.errno == errno.EROFS
    os.close(fd)
    with contextlib.suppress(OSError):
        probe.unlink()
    return False


def fault_reason(exc: BaseException, directory: Path) -> str:
    """``read_only`` or ``io_error`` for a storage fault. Blocking (it may probe ``directory``)."""
    if isinstance(exc, OSError) and exc.errno == errno.EROFS:
        return "read_only"
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_READONLY:
        return "read_only"
    return "read_only" if dir_read_only(directory) else "io_error"
