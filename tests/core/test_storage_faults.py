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
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.clock import Clock
from core.events import EventDraft, Priority, make_event
from gateway.app import Gateway
from gateway.config import OutboxSection
from gateway.outbox import Outbox, OutboxError
from gateway.outbox.store import UNKNOWN_SEQ_FLOOR
from tests.ops.disks import BreakableDisk, breakable_disk
from tests.support import require_root
from tests.support.broker import Mosquitto
from tests.support.collector import Collector
from tests.support.gateway import REPO, make_config

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
    outbox = Outbox(tiny_fs / "o.db", settings)
    outbox.dropped.connect(dropped.append)
    async with outbox as ob:
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
    outbox = Outbox(path, settings, retry_s=0.1)
    outbox.dropped.connect(dropped.append)
    outbox.committed.connect(lambda evs: accepted.extend(e.seq for e in evs))
    async with outbox as ob:
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


# A gateway killed (kill -9, power cut) right after committing a door event and an alarm: both are in the WAL only.
_KILLED_AFTER_COMMIT = """
import asyncio, os, sys
from pathlib import Path
from core.clock import Clock
from gateway.config import OutboxSection
from core.events import EventDraft, Priority, make_event
from gateway.outbox import Outbox

async def main() -> None:
    ob = Outbox(Path(sys.argv[1]), OutboxSection(reserve_bytes=0))
    await ob.open()
    drafts = [EventDraft("state.door", Priority.STATE, None, {}), EventDraft("alarm.smoke", Priority.ALARM, None, {})]
    await ob.put([make_event(d, "gw-t", Clock(assume_synced=True)) for d in drafts])
    os._exit(0)

asyncio.run(main())
"""


def _killed_after_commit(path: Path) -> None:
    subprocess.run([sys.executable, "-c", _KILLED_AFTER_COMMIT, str(path)], cwd=REPO, check=True, timeout=60)


def _beside(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


@pytest.mark.parametrize("before", ["stopped", "killed"])
async def test_card_read_only_before_open_starts_degraded_on_what_is_stored(card: BreakableDisk, before: str) -> None:
    """The card turned read-only before the outbox opened (the gateway restarted on it): the outbox opens degraded
    instead of failing, the events stored before still go out, seqs continue after them, and once the card is
    repaired it writes again by itself. Stopped cleanly, no WAL is left and SQLite cannot open the file on the
    read-only card at all; killed, the WAL and its index are there and SQLite opens it as if it were writable."""
    path = card.path / "o.db"
    settings = OutboxSection(reserve_bytes=256 * 1024)
    if before == "stopped":
        async with Outbox(path, settings) as ob:
            await ob.put([_ev(Priority.STATE), _ev(Priority.ALARM)])
        assert not _beside(path, "-wal").exists()
    else:
        _killed_after_commit(path)
        assert _beside(path, "-wal").stat().st_size > 0, "the two events are in the WAL only"
    os.sync()  # all of it is on the card when the card fails
    card.fail()
    dropped: list[dict[str, int]] = []
    outbox = Outbox(path, settings, retry_s=0.1)
    outbox.dropped.connect(dropped.append)
    async with outbox as ob:
        assert ob.storage_fault == "read_only"
        assert ob.stats.last_error and ob.stats.last_error.startswith("read-only file system")
        assert (ob.stats.rows, ob.stats.alarms) == (2, 1)
        assert await _lane(ob, alarms=False) == [1] and await _lane(ob, alarms=True) == [2]
        (alarm,) = await ob.put([_ev(Priority.ALARM)])
        assert alarm.seq == 3, "seqs continue after the highest stored one"
        assert await _lane(ob, alarms=True) == [2, 3]
        with pytest.raises(OutboxError, match="read-only"):
            await ob.put([_ev(Priority.TELEMETRY)])
        assert ob.stats.dropped == {"telemetry_read_only": 1} and dropped == [{"telemetry_read_only": 1}]
        ob.ack([1])  # delivered; deleted once the card takes writes
        await asyncio.sleep(0.3)
        assert ob.storage_fault == "read_only", "retries keep failing while the card is broken"

        card.repair()
        await _until(lambda: ob.storage_fault is None)
        await _until(lambda: ob.stats.rows == 2)
        on_disk = _stored(path)
        assert list(on_disk) == [2, 3], "the delivered row is deleted, the held alarm written back"
        assert on_disk[3] == alarm.to_bytes()
        (after,) = await ob.put([_ev(Priority.TELEMETRY)])
        assert after.seq == 4
    async with Outbox(path, settings) as ob:
        assert ob.storage_fault is None
        (again,) = await ob.put([_ev(Priority.STATE)])
        assert again.seq == 5


async def test_outbox_unreadable_on_a_read_only_card_holds_alarms_under_seqs_no_stored_event_has(
    card: BreakableDisk,
) -> None:
    """The WAL holds events but its index is gone, and a read-only card cannot rebuild it: nothing stored can be
    read, not even the main file alone (it lacks what the WAL holds). The stored events wait for the repair; the
    held alarm gets a seq above any the file can hold, so writing it back collides with none."""
    path = card.path / "o.db"
    async with Outbox(path, OutboxSection(reserve_bytes=0)) as ob:
        await ob.put([_ev(Priority.STATE), _ev(Priority.ALARM)])  # 1, 2: checkpointed into the main file
    _killed_after_commit(path)  # 3, 4: in the WAL only
    _beside(path, "-shm").unlink()
    os.sync()
    card.fail()
    async with Outbox(path, OutboxSection(reserve_bytes=0), retry_s=0.1) as ob:
        assert ob.storage_fault == "read_only" and ob.stats.rows == 0
        assert await _lane(ob, alarms=True) == []
        (alarm,) = await ob.put([_ev(Priority.ALARM)])
        assert alarm.seq is not None and alarm.seq >= UNKNOWN_SEQ_FLOOR
        assert await _lane(ob, alarms=True) == [alarm.seq]

        card.repair()
        await _until(lambda: ob.storage_fault is None)
        on_disk = _stored(path)
        assert list(on_disk) == [1, 2, 3, 4, alarm.seq], "the stored events are all kept, the held alarm beside them"
        assert on_disk[alarm.seq] == alarm.to_bytes()
        assert (ob.stats.rows, ob.stats.alarms) == (5, 3)
        assert await _lane(ob, alarms=True) == [2, 4, alarm.seq], "what was stored before can go out now"
        (after,) = await ob.put([_ev(Priority.STATE)])
        assert after.seq == alarm.seq + 1


async def test_held_bound_and_retry_interval_are_outbox_settings(card: BreakableDisk) -> None:
    path = card.path / "o.db"
    settings = OutboxSection(reserve_bytes=0, held_max_events=10, retry_s=300)
    async with Outbox(path, settings) as ob:
        assert (ob.held_max, ob.retry_s) == (10, 300)
        card.fail()
        for _ in range(10):
            await ob.put([_ev(Priority.ALERT)])
        with pytest.raises(OutboxError):
            await ob.put([_ev(Priority.ALERT)])
        assert ob.depth()["held"] == 10 and ob.stats.dropped == {"alert_read_only": 1}
        card.repair()
        await asyncio.sleep(2.5)
        assert ob.storage_fault == "read_only", "the next attempt is retry_s (300 s) away, not the default 2 s"
    assert list(_stored(path)) == list(range(1, 11)), "closing tries once more, and the repaired card takes them"
