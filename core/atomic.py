"""Crash-safe small-file writes: temp file, fsync, rename, fsync the directory; directories made durably."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make the names in directory ``path`` (new, renamed, removed) survive a power cut."""
    dir_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def make_dirs(path: Path, mode: int = 0o777) -> None:
    """``mkdir -p`` whose new directories survive a power cut: each one's parent is fsynced after it is made.

    A plain ``mkdir`` only changes the parent directory in memory; after a cut the new directory, and every file
    already fsynced inside it, can be gone."""
    if path.is_dir():
        return
    make_dirs(path.parent)
    try:
        path.mkdir(mode=mode)
    except FileExistsError:
        if not path.is_dir():
            raise
    fsync_dir(path.parent)


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` so that a power cut leaves either the old or the new file, never a mix."""
    make_dirs(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)
