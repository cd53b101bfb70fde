"""Fewer pages per event on the SD card, and the alarm lane fed from memory; nothing lost or sent twice for it."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

from core.clock import Clock
from core.events import Event, EventDraft, Priority, make_event
from gateway.config import OutboxSection
from gateway.outbox import Outbox

CLOCK = Clock(assume_synced=True)


def ev(prio: Priority = Priority.TELEMETRY) -> Event:
    kind = "alarm.smoke" if prio == Priority.ALARM else "telemetry.vitals"
    return make_event(EventDraft(kind, prio, None, {"heart_rate": 70}), "gw-w", CLOCK)


def wal_frames(path: Path) -> list[int]:
    """Page numbers of the frames in the WAL, in order."""
    data = path.with_name(path.name + "-wal").read_bytes()
    pages, off = [], 32
    while off + 24 + 4096 <= len(data):
        pages.append(struct.unpack(">I", data[off : off + 4])[0])
        off += 24 + 4096
    return pages


async def test_a_sparse_events_commit_carries_the_previous_delete_in_two_pages(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    async with Outbox(path, OutboxSection(), ack_delay_s=30) as ob:
        (first,) = await ob.put([ev()])
        await asyncio.sleep(0.1)
        before = len(wal_frames(path))
        for _ in range(5):
            assert first.seq is not None
            ob.ack([first.seq], defer=True)
            await asyncio.sleep(0.05)  # no delete transaction of its own
            assert ob.depth()["rows"] == 0, "a delivered row waiting for its delete is not backlog"
            assert await ob.fetch(False, 0, 10, 10**6) == [], "a delivered row is not handed out again"
            (first,) = await ob.put([ev()])
        frames = len(wal_frames(path)) - before
        assert frames == 5 * 2, f"{frames} WAL frames for 5 events (table leaf + index leaf each)"
        assert ob.stats.rows == 1


async def test_a_deferred_delete_runs_alone_after_the_delay_and_at_close(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    async with Outbox(path, OutboxSection(), ack_delay_s=0.2) as ob:
        stored = await ob.put([ev(), ev()])
        ob.ack([stored[0].seq or 0], defer=True)
        await asyncio.sleep(0.6)
        assert ob.stats.rows == 1
        ob.ack([stored[1].seq or 0], defer=True)
    async with Outbox(path, OutboxSection()) as ob:
        assert ob.stats.rows == 0
        (again,) = await ob.put([ev()])
        assert again.seq == 3, "the next seq survives the deletes of every row"


async def test_committed_alarms_reach_the_lane_from_memory_as_stored(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    async with Outbox(path, OutboxSection()) as ob:
        reads: list[bool] = []
        real = ob._store.fetch

        def counting(alarms: bool, *args: int) -> list:  # type: ignore[type-arg]
            reads.append(alarms)
            return real(alarms, *args)

        ob._store.fetch = counting  # type: ignore[method-assign]
        a1, _t, a2 = await ob.put([ev(Priority.ALARM), ev(), ev(Priority.ALARM)])
        rows = await ob.fetch(True, 0, 100, 10**6)
        assert [r.seq for r in rows] == [a1.seq, a2.seq] and reads == []
        stored = real(True, 0, 100, 10**6)
        assert [(r.seq, r.body) for r in rows] == [(r.seq, r.body) for r in stored]
        assert await ob.fetch(True, a2.seq or 0, 100, 10**6) == []
        ob.ack([a1.seq or 0])
        assert [r.seq for r in await ob.fetch(True, 0, 100, 10**6)] == [a2.seq]
        assert reads == []
    async with Outbox(path, OutboxSection()) as ob:  # after a restart the stored alarm is read back
        assert [r.seq for r in await ob.fetch(True, 0, 100, 10**6)] == [a2.seq]
        (a3,) = await ob.put([ev(Priority.ALARM)])
        assert [r.seq for r in await ob.fetch(True, a2.seq or 0, 100, 10**6)] == [a3.seq]


async def test_alarms_beyond_what_memory_keeps_are_read_back(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.db", OutboxSection()) as ob:
        stored = await ob.put([ev(Priority.ALARM) for _ in range(150)])
        rows = await ob.fetch(True, 0, 1000, 10**9)
        assert [r.seq for r in rows] == [e.seq for e in stored]
        rows = await ob.fetch(True, stored[100].seq or 0, 1000, 10**9)
        assert [r.seq for r in rows] == [e.seq for e in stored[101:]]
