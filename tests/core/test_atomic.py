"""Durable directory creation: every new directory's parent is fsynced, so a power cut cannot lose it."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import atomic


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = atomic.fsync_dir

    def record(path: Path) -> None:
        calls.append(path)
        real(path)

    monkeypatch.setattr(atomic, "fsync_dir", record)
    return calls


def test_make_dirs_fsyncs_the_parent_of_each_new_directory(tmp_path: Path, synced: list[Path]) -> None:
    atomic.make_dirs(tmp_path / "a" / "b" / "c")
    assert (tmp_path / "a" / "b" / "c").is_dir()
    assert synced == [tmp_path, tmp_path / "a", tmp_path / "a" / "b"]
    synced.clear()
    atomic.make_dirs(tmp_path / "a" / "b")  # nothing new: nothing to sync
    assert synced == []


def test_make_dirs_refuses_a_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises((FileExistsError, NotADirectoryError)):
        atomic.make_dirs(tmp_path / "f" / "sub")


def test_write_atomic_into_a_new_directory_syncs_it_into_its_parent(tmp_path: Path, synced: list[Path]) -> None:
    target = tmp_path / "remote" / "desired.json"
    atomic.write_atomic(target, b"{}")
    assert target.read_bytes() == b"{}"
    assert synced == [tmp_path, tmp_path / "remote"]  # the new directory's name, then the file's
    assert not list((tmp_path / "remote").glob(".*.tmp"))
