"""Storage faults: corrupt files at boot, a full disk. Real files, a real (tiny) filesystem."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.clock import Clock
from gateway.config import OutboxSection
from gateway.events import EventDraft, Priority, make_event
from gateway.outbox import Outbox, OutboxError
from tests.support import require_root
from tests.support.broker import Mosquitto
from tests.support.collector import Collector
from tests.support.gateway import make_config

CLOCK = Clock(assume_synced=True)


def _ev(prio: Priority, pad: int = 0):  # type: ignore[no-untyped-def]
    kind = "alarm.smoke" if prio == Priority.ALARM else "telemetry.vitals"
    return make_event(EventDraft(kind, prio, None, {"pad": "z" * pad}), "gw-t", CLOCK)


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
