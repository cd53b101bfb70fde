"""The power-cut filesystem keeps exactly what was synced: the rules the trials rely on."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from core.atomic import write_atomic
from tests.powercut.mount import PowerCutMount


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write(path: Path, data: bytes, sync: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def recut(medium: PowerCutMount) -> Path:
    medium.cut()
    medium.mount()
    return medium.mountpoint


def test_unsynced_file_is_gone_after_cut(medium: PowerCutMount) -> None:
    mnt = medium.mountpoint
    write(mnt / "a", b"hello", sync=False)
    assert (mnt / "a").read_bytes() == b"hello"  # the live view has it
    assert not (recut(medium) / "a").exists()


def test_synced_file_without_synced_name_is_gone(medium: PowerCutMount) -> None:
    write(medium.mountpoint / "a", b"hello", sync=True)
    assert not (recut(medium) / "a").exists()


def test_synced_name_without_synced_data_is_empty(medium: PowerCutMount) -> None:
    mnt = medium.mountpoint
    write(mnt / "a", b"hello", sync=False)
    fsync_path(mnt)
    assert (recut(medium) / "a").read_bytes() == b""


def test_synced_file_and_directory_survive(medium: PowerCutMount) -> None:
    mnt = medium.mountpoint
    write(mnt / "a", b"hello", sync=True)
    fsync_path(mnt)
    mnt = recut(medium)
    assert (mnt / "a").read_bytes() == b"hello"
    with open(mnt / "a", "ab") as f:  # a later unsynced append is lost, the synced part stays
        f.write(b" world")
    assert (recut(medium) / "a").read_bytes() == b"hello"


def test_rename_needs_the_directory_synced(medium: PowerCutMount) -> None:
    mnt = medium.mountpoint
    write(mnt / "a", b"old", sync=True)
    fsync_path(mnt)
    write(mnt / "tmp", b"new", sync=True)
    os.replace(mnt / "tmp", mnt / "a")
    mnt = recut(medium)
    assert (mnt / "a").read_bytes() == b"old" and not (mnt / "tmp").exists()
    write(mnt / "tmp", b"new", sync=True)
    os.replace(mnt / "tmp", mnt / "a")
    fsync_path(mnt)
    assert (recut(medium) / "a").read_bytes() == b"new"


def test_unlink_and_new_directory_are_pending(medium: PowerCutMount) -> None:
    mnt = medium.mountpoint
    write(mnt / "a", b"x", sync=True)
    fsync_path(mnt)
    (mnt / "a").unlink()
    (mnt / "sub").mkdir()
    write(mnt / "sub" / "b", b"y", sync=True)
    fsync_path(mnt / "sub")  # the file's name is in sub, but sub itself is not yet in the root on the medium
    mnt = recut(medium)
    assert (mnt / "a").read_bytes() == b"x"
    assert not (mnt / "sub").exists()


def test_write_atomic_survives_a_cut_in_a_new_subdirectory(medium: PowerCutMount) -> None:
    """``write_atomic`` into a directory it has to create must make that directory durable as well."""
    write_atomic(medium.mountpoint / "remote" / "desired.json", b"{}")
    assert (recut(medium) / "remote" / "desired.json").read_bytes() == b"{}"


def test_sqlite_wal_commit_survives_and_uncommitted_does_not(medium: PowerCutMount) -> None:
    db = medium.mountpoint / "t.sqlite3"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (v INTEGER)")
    for v in range(50):
        conn.execute("INSERT INTO t VALUES (?)", (v,))
    conn.execute("PRAGMA synchronous=OFF")  # this one is never synced: a cut must lose it, not corrupt the file
    conn.execute("INSERT INTO t VALUES (999)")
    mnt = recut(medium)  # the connection's files are dropped with the mount, as at a power cut
    conn = sqlite3.connect(mnt / "t.sqlite3")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert [v for (v,) in conn.execute("SELECT v FROM t ORDER BY v")] == list(range(50))
    conn.close()


def test_torn_writes_keep_synced_data(tmp_path: Path) -> None:
    from tests.powercut.conftest import require_fuse

    require_fuse()
    for seed in range(4):
        m = PowerCutMount(tmp_path / f"m{seed}", tmp_path / f"mnt{seed}", tmp_path / "fs.log", torn_seed=seed)
        m.mount()
        try:
            f = m.mountpoint / "f"
            write(f, b"A" * 4096, sync=True)
            fsync_path(m.mountpoint)
            with open(f, "r+b") as fh:
                fh.write(b"B" * 4096)
            m.cut()
            m.mount()
            data = f.read_bytes()
            assert len(data) == 4096 and data.strip(b"B") in (b"A" * (4096 - data.count(b"B")),)
            assert data == b"B" * data.count(b"B") + b"A" * (4096 - data.count(b"B"))
            assert data.count(b"B") % 512 == 0
        finally:
            m.cut()
