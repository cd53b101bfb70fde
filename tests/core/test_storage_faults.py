"""Storage faults: corrupt files at boot, a full disk, a card the kernel makes read-only. Real files, real
(tiny) filesystems."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.clock import Clock
from gateway.config import OutboxSection
from gateway.events import EventDraft, Priority, make_event
from gateway.outbox import Outbox, OutboxError
from tests.ops.disks import BreakableDisk, breakable_disk
from tests.support import require_root
from tests.support.broker import Mosquitto
from tests.support.collector import Collector
from tests.support.gateway import make_config

CLOCK = Clock(assume_synced=True)


_KINDS = {
    Priority.ALARM: "alarm.smoke",
    Priority.ALERT: "device.tamper",
    Priority.STATE: "state.door",
    Priority.TELEMETRY: "telemetry.vitals",
}


def _ev(prio: Priority, pad: int = 0):  # type: ignore[no-untyped-def]
    return make_event(EventDraft(_KINDS[prio], prio, None, {"pad": "z" * pad}), "gw-t", CLOCK)


async def test_garbage_outbox_is_moved_aside_and_reported(tmp_path: Path, broker: Mosquitto) -> None:
    state = tmp_path / "s"
    state.mkdir()
    (state / "outbox.sqlite3").write_bytes(os.urandom(64 * 1024))
    async with Collector(broker.host, broker.port) as col, Gateway(make_config(state, broker.url)) as gw:
        await col.wait_for(lambda c: "gateway.storage_recovered" in c.kinds())
        ev = next(e for e in col.events if e["kind"] == "gateway.storage_recovered")
        assert ev["data"]["store"] == "outbox"
        assert ev["data"]["moved_to"][0].startswith("outbox.sqlite3.corrupt-")
        assert (state / ev["data"]["moved_to"][0]).exists(), "the damaged file is kept for inspection"
        await gw.drivers["sim"].inject("btn-1", "press", True, trace="after")
        await col.wait_for(lambda c: "after" in c.traces())


async def test_damaged_outbox_rows_are_salvaged(tmp_path: Path, broker: Mosquitto) -> None:
    state = tmp_path / "s"
    broker.stop()  # nothing may leave: the rows must survive in the outbox
    async with Gateway(make_config(state, broker.url)) as gw:
        for i in range(200):
            await gw.drivers["sim"].inject("btn-1", "press", True, trace=f"keep{i}")
        gw_rows = gw.outbox.stats.rows
    db = state / "outbox.sqlite3"
    assert not db.with_name(db.name + "-wal").exists(), "a clean stop checkpoints the WAL"
    pages = db.stat().st_size // 4096
    assert pages > 10
    with open(db, "r+b") as f:  # one bad block in the middle of the table, as an SD card does
        f.seek(4096 * (pages * 2 // 3))
        f.write(os.urandom(4096))
    broker.start()
    async with Collector(broker.host, broker.port) as col, Gateway(make_config(state, broker.url)):
        await col.wait_for(lambda c: "gateway.storage_recovered" in c.kinds(), timeout=15)
        await asyncio.sleep(0.5)
        report = next(e for e in col.events if e["kind"] == "gateway.storage_recovered")["data"]
        assert report["store"] == "outbox"
        salvaged = report["salvaged_events"]
        assert 0 < salvaged < gw_rows, report
        await col.wait_for(lambda c: "keep0" in c.traces())
        await asyncio.sleep(1.0)
        kept = {t for t in col.traces() if t.startswith("keep")}
        assert kept == {f"keep{i}" for i in range(len(kept))}, "the rows before the bad block survive, in order"


async def test_corrupt_registry_is_moved_aside_and_reported(tmp_path: Path, broker: Mosquitto) -> None:
    state = tmp_path / "s"
    state.mkdir()
    (state / "devices.json").write_text('{"devices": {"1": {"id": "btn-1", "ty')
    async with Collector(broker.host, broker.port) as col, Gateway(make_config(state, broker.url)) as gw:
        await col.wait_for(lambda c: "gateway.storage_recovered" in c.kinds())
        report = next(e for e in col.events if e["kind"] == "gateway.storage_recovered")["data"]
        assert report["store"] == "registry"
        assert gw.registry.get("btn-1") is not None, "the sim driver re-registered its devices"


@pytest.fixture
def tiny_fs() -> Iterator[Path]:
    """A 4 MiB tmpfs: a disk that really fills up."""
    require_root("mounting a small tmpfs is the point of the test")
    mnt = Path(tempfile.mkdtemp(prefix="fbgw-tinyfs-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
        shutil.rmtree(mnt, ignore_errors=True)


async def test_full_disk_still_takes_alarms_and_recovers(tiny_fs: Path) -> None:
    dropped: list[dict[str, int]] = []
    settings = OutboxSection(reserve_bytes=512 * 1024, max_bytes=64 * 1024 * 1024, max_rows=10**7)
    async with Outbox(tiny_fs / "o.db", settings, on_dropped=dropped.append) as ob:
        assert (tiny_fs / "o.db.reserve").stat().st_size == 512 * 1024
        filler = tiny_fs / "filler"
        with open(filler, "wb", buffering=0) as f:  # someone else (logs, a runaway process) eats the disk
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
        refused = 0
        for _ in range(200):  # telemetry fills what little is left, then is refused
            try:
                await ob.put([_ev(Priority.TELEMETRY, pad=2000) for _ in range(20)])
            except OutboxError:
                refused += 1
        assert refused > 0
        assert ob.disk_full
        stored = await ob.put([_ev(Priority.ALARM)])  # the reserve makes room
        assert stored[0].seq is not None
        for _ in range(5):
            await ob.put([_ev(Priority.ALARM)])
        assert sum(d.get("telemetry_disk_full", 0) for d in dropped) > 0
        with pytest.raises(OutboxError, match="storage full"):
            await ob.put([_ev(Priority.TELEMETRY)])
        filler.unlink()  # space returns
        ob._disk_checked = 0.0
        await ob.put([_ev(Priority.TELEMETRY)])
        assert not ob.disk_full
        await asyncio.sleep(0.2)
        assert (tiny_fs / "o.db.reserve").exists(), "the reserve is re-made once space is back"


@pytest.fixture
def card() -> Iterator[BreakableDisk]:
    """A small ext4 "SD card" the kernel can be made to put read-only under open files (tests/ops/disks.py)."""
    with breakable_disk() as disk:
        yield disk


def _stored(path: Path) -> dict[int, bytes]:
    """What is really in the database file, through a connection of its own."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return {seq: bytes(body) for seq, body in conn.execute("SELECT seq, body FROM outbox ORDER BY seq")}


async def _lane(ob: Outbox, alarms: bool, limit: int = 100) -> list[int]:
    """Every seq one uplink lane would send, read as the uplink reads: by cursor, until nothing is left."""
    seqs: list[int] = []
    while rows := await ob.fetch(alarms, seqs[-1] if seqs else 0, limit, 10**9):
        seqs += [r.seq for r in rows]
    return seqs


async def _until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_read_only_card_holds_alarms_in_memory_and_writes_them_back(card: BreakableDisk) -> None:
    path = card.path / "o.db"
    dropped: list[dict[str, int]] = []
    accepted: list[int | None] = []
    settings = OutboxSection(reserve_bytes=256 * 1024)
    async with Outbox(
        path,
        settings,
        on_dropped=dropped.append,
        on_committed=lambda evs: accepted.extend(e.seq for e in evs),
        retry_s=0.1,
    ) as ob:
        delivered, waiting = await ob.put([_ev(Priority.STATE), _ev(Priority.ALARM)])
        assert (delivered.seq, waiting.seq) == (1, 2)
        ob.ack([1])
        await _until(lambda: ob.stats.rows == 1)
        await ob.put([_ev(Priority.ALARM)])  # seq 3; its fsync also makes the (unsynced) delete of 1 durable

        card.fail()
        (alarm,) = await ob.put([_ev(Priority.ALARM)])
        assert alarm.seq == 4, "accepted, with the next seq, although nothing can be written"
        assert ob.storage_fault == "read_only"
        assert ob.stats.last_error and ob.stats.last_error.startswith("read-only file system: OperationalError")
        with pytest.raises(OutboxError, match="read-only"):
            await ob.put([_ev(Priority.TELEMETRY)])
        state, alert = await ob.put([_ev(Priority.STATE), _ev(Priority.ALERT)])
        assert state.seq is None and alert.seq == 5, "the alert of a mixed batch is kept, the state dropped"
        assert ob.stats.dropped == {"telemetry_read_only": 1, "state_read_only": 1}
        assert sum(sum(d.values()) for d in dropped) == 2, "every refusal is reported"
        assert accepted[-2:] == [4, 5], "held events are announced like committed ones (alarm book, feedback)"

        # The uplink sees them like stored rows, after the stored ones, each in its lane.
        assert await _lane(ob, alarms=True) == [2, 3, 4]
        assert await _lane(ob, alarms=True, limit=1) == [2, 3, 4]
        assert await _lane(ob, alarms=False) == [5]
        assert ob.stats.alarms == 3, "held alarms count, so the uplink retries fast while they wait"
        assert list(_stored(path)) == [2, 3], "held events are in memory only: the card takes nothing"

        ob.ack([4])  # PUBACK for the held alarm: forgotten at once
        assert ob.depth()["held"] == 1 and ob.stats.rows == 3
        await asyncio.sleep(0.5)
        assert ob.storage_fault == "read_only", "retries keep failing while the card is broken"

        card.repair()
        await _until(lambda: ob.storage_fault is None)
        on_disk = _stored(path)
        assert list(on_disk) == [2, 3, 5], "the undelivered held alert is written back; the delivered alarm is not"
        assert on_disk[5] == alert.to_bytes(), "written back with its seq and body unchanged"
        assert ob.depth()["held"] == 0 and ob.stats.rows == 3 and ob.stats.last_error is None
        (after,) = await ob.put([_ev(Priority.TELEMETRY)])
        assert after.seq == 6, "accepting everything again; seqs go on"
        assert await _lane(ob, alarms=False) == [5, 6]
    async with Outbox(path, settings) as ob:
        (again,) = await ob.put([_ev(Priority.STATE)])
        assert again.seq == 7, "a seq handed out while degraded is never given again"


async def test_read_only_memory_is_bounded_and_alarms_are_dropped_last(
    card: BreakableDisk, caplog: pytest.LogCaptureFixture
) -> None:
    path = card.path / "o.db"
    async with Outbox(path, OutboxSection(reserve_bytes=0), held_max=4, retry_s=3600) as ob:
        card.fail()
        for prio in (Priority.ALERT, Priority.ALERT, Priority.ALARM, Priority.ALERT):
            await ob.put([_ev(prio)])
        assert ob.storage_fault == "read_only" and ob.depth()["held"] == 4
        with pytest.raises(OutboxError):  # full: an alert is refused...
            await ob.put([_ev(Priority.ALERT)])
        for _ in range(3):  # ...an alarm takes the place of the oldest held alert
            await ob.put([_ev(Priority.ALARM)])
        assert await _lane(ob, alarms=True) == [3, 5, 6, 7]
        assert await _lane(ob, alarms=False) == [], "every alert made way for an alarm"
        with pytest.raises(OutboxError):  # nothing but alarms held: only now is an alarm refused
            await ob.put([_ev(Priority.ALARM)])
        assert ob.stats.dropped == {"alert_read_only": 4, "alarm_read_only": 1}
        assert ob.depth()["held"] == 4 and ob.stats.alarms == 4
        caplog.set_level(logging.ERROR, logger="gateway.outbox")
    assert "closing with 4 undelivered events held in memory (4 alarms)" in caplog.text, (
        "stopping with the card still broken must say what is lost"
    )
    assert _stored(path) == {}
