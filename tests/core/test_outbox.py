"""The outbox on a real SQLite file: durability, sequence numbers, caps, TTL, group commit, priorities."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from core.clock import Clock
from core.events import Event, EventDraft, Priority, make_event
from gateway.config import OutboxSection, OutboxTTL
from gateway.outbox import Outbox, OutboxError, bodies_to_payload, decode_payload, is_storage_fault
from gateway.outbox.faults import CorruptOutbox

CLOCK = Clock(assume_synced=True)


def ev(prio: Priority = Priority.STATE, kind: str | None = None, **data: object) -> Event:
    kind = (
        kind
        or {
            Priority.ALARM: "alarm.smoke",
            Priority.ALERT: "device.tamper",
            Priority.STATE: "state.door",
            Priority.TELEMETRY: "telemetry.vitals",
        }[prio]
    )
    return make_event(EventDraft(kind, prio, None, dict(data)), "gw-t", CLOCK)


async def test_put_assigns_seq_after_commit_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    async with Outbox(path, OutboxSection()) as ob:
        stored = await ob.put([ev(), ev(), ev(Priority.ALARM)])
        assert [e.seq for e in stored] == [1, 2, 3]
    # A separate connection sees the rows: they were committed before put() returned.
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 3
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    async with Outbox(path, OutboxSection()) as ob:
        assert ob.stats.rows == 3 and ob.stats.alarms == 1
        more = await ob.put([ev()])
        assert more[0].seq == 4


async def test_seq_is_never_reused_after_everything_is_acked(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    async with Outbox(path, OutboxSection()) as ob:
        stored = await ob.put([ev() for _ in range(5)])
        ob.ack(e.seq for e in stored if e.seq)
        await ob.put([])  # no-op
        await asyncio.sleep(0.05)
        await ob.put([ev()])  # forces a commit that includes the deletes
    async with Outbox(path, OutboxSection()) as ob:
        assert ob.stats.rows == 1
        again = await ob.put([ev()])
        assert again[0].seq == 7


async def test_ack_deletes_only_acknowledged_rows(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.db", OutboxSection()) as ob:
        stored = await ob.put([ev() for _ in range(10)])
        ob.ack([stored[0].seq, stored[5].seq])  # type: ignore[list-item]
        await ob.put([ev()])
        rows = await ob.fetch(False, 0, 100, 10**9)
        assert [r.seq for r in rows] == [2, 3, 4, 5, 7, 8, 9, 10, 11]
        assert ob.stats.rows == 9


async def test_lanes_split_alarms_from_the_rest(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.db", OutboxSection()) as ob:
        await ob.put([ev(), ev(Priority.ALARM), ev(Priority.TELEMETRY), ev(Priority.ALARM)])
        alarms = await ob.fetch(True, 0, 100, 10**9)
        others = await ob.fetch(False, 0, 100, 10**9)
        assert [r.seq for r in alarms] == [2, 4]
        assert [r.seq for r in others] == [1, 3]
        payload = decode_payload(bodies_to_payload(alarms))
        assert [e["seq"] for e in payload] == [2, 4]


async def test_fetch_respects_byte_budget_but_always_returns_one(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.db", OutboxSection()) as ob:
        await ob.put([ev(blob="x" * 2000) for _ in range(10)])
        rows = await ob.fetch(False, 0, 100, 5000)
        assert 1 <= len(rows) <= 3
        rows = await ob.fetch(False, 0, 100, 10)
        assert len(rows) == 1


async def test_cap_drops_lowest_priority_oldest_first_never_alarms(tmp_path: Path) -> None:
    reports: list[dict[str, int]] = []
    settings = OutboxSection(max_rows=100)
    outbox = Outbox(tmp_path / "o.db", settings)
    outbox.dropped.connect(reports.append)
    async with outbox as ob:
        await ob.put([ev(Priority.ALARM) for _ in range(30)])
        await ob.put([ev(Priority.STATE) for _ in range(30)])
        await ob.put([ev(Priority.TELEMETRY) for _ in range(40)])
        assert ob.stats.rows == 100 and not reports
        await ob.put([ev(Priority.ALARM) for _ in range(50)])  # 50 over: all 40 telemetry, then 10 oldest state
        assert ob.stats.rows == 100
        assert reports == [{"telemetry_cap": 40, "state_cap": 10}]
        others = await ob.fetch(False, 0, 1000, 10**9)
        assert [r.seq for r in others] == list(range(41, 61)), "the 10 oldest state events went first"
        await ob.put([ev(Priority.ALARM) for _ in range(60)])  # only alarms would be left to drop
        alarms = await ob.fetch(True, 0, 1000, 10**9)
        assert len(alarms) == 140, "alarms are never dropped, even over the cap"
        assert ob.depth()["dropped"] == {"telemetry_cap": 40, "state_cap": 30}


async def test_cap_in_bytes(tmp_path: Path) -> None:
    settings = OutboxSection(max_bytes=64 * 1024)
    async with Outbox(tmp_path / "o.db", settings) as ob:
        await ob.put([ev(Priority.TELEMETRY, blob="y" * 1000) for _ in range(200)])
        assert ob.stats.bytes <= 64 * 1024
        assert ob.stats.dropped["telemetry_cap"] > 100


async def test_ttl_per_priority(tmp_path: Path) -> None:
    reports: list[dict[str, int]] = []
    settings = OutboxSection(ttl=OutboxTTL(alarm=0, alert=100, state=10, telemetry=1))
    outbox = Outbox(tmp_path / "o.db", settings)
    outbox.dropped.connect(reports.append)
    async with outbox as ob:
        await ob.put([ev(Priority.ALARM), ev(Priority.ALERT), ev(Priority.STATE), ev(Priority.TELEMETRY)])
        now = CLOCK.wall_ms()
        loop = asyncio.get_running_loop()
        dropped = await loop.run_in_executor(ob._writer, ob.expire, now + 5_000)
        assert dropped == {"telemetry_ttl": 1}
        dropped = await loop.run_in_executor(ob._writer, ob.expire, now + 10**9)
        assert dropped == {"alert_ttl": 1, "state_ttl": 1}
        assert ob.stats.rows == 1 and ob.stats.alarms == 1, "alarm TTL 0 means never"


async def test_group_commit_shares_fsyncs(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.db", OutboxSection()) as ob:
        await asyncio.gather(*(ob.put([ev()]) for _ in range(2000)))
        assert ob.stats.committed == 2000
        assert ob.stats.commits < 200, f"{ob.stats.commits} commits for 2000 concurrent puts"


async def test_alarm_is_committed_ahead_of_queued_bulk(tmp_path: Path) -> None:
    order: list[str] = []
    async with Outbox(tmp_path / "o.db", OutboxSection(max_batch=200)) as ob:

        async def put(kind: str, e: Event) -> None:
            await ob.put([e])
            order.append(kind)

        bulk = [asyncio.create_task(put("bulk", ev(Priority.TELEMETRY))) for _ in range(3000)]
        await asyncio.sleep(0)  # bulk is queued and the first batch is being written
        alarm = asyncio.create_task(put("alarm", ev(Priority.ALARM)))
        await asyncio.gather(alarm, *bulk)
        position = order.index("alarm")
        assert position <= 400, f"alarm committed after {position} bulk events"


async def test_accepting_commits_are_full_sync_delete_only_commits_are_not(tmp_path: Path) -> None:
    """An event is accepted only by a ``synchronous=FULL`` commit (fsynced); a transaction that only deletes
    delivered rows skips its own fsync, so it never holds up the next alarm."""
    async with Outbox(tmp_path / "o.db", OutboxSection()) as ob:
        statements: list[str] = []
        assert ob._wconn is not None
        ob._wconn.set_trace_callback(statements.append)
        stored = await ob.put([ev(Priority.ALARM), ev()])
        ob.ack(e.seq for e in stored if e.seq)
        for _ in range(100):  # the delete-only commit happens in the background
            if ob.stats.rows == 0:
                break
            await asyncio.sleep(0.01)
        assert ob.stats.rows == 0
        await ob.put([ev()])
        ob._wconn.set_trace_callback(None)
    level = "FULL"
    seen = {"insert": set(), "delete": set()}
    for sql in statements:
        if sql.startswith("PRAGMA synchronous="):
            level = sql.split("=", 1)[1]
        elif sql.startswith("INSERT INTO outbox"):
            seen["insert"].add(level)
        elif sql.startswith("DELETE FROM outbox"):
            seen["delete"].add(level)
    assert seen["insert"] == {"FULL"}, statements
    assert seen["delete"] == {"NORMAL"}, statements


async def test_corrupt_database_is_reported_not_silently_used(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    path.write_bytes(b"this is not a database" * 100)
    ob = Outbox(path, OutboxSection())
    with pytest.raises(sqlite3.DatabaseError):
        await ob.open()


def _raised(conn: sqlite3.Connection, sql: str) -> sqlite3.Error:
    try:
        conn.execute(sql)
    except sqlite3.Error as exc:
        return exc
    raise AssertionError(f"{sql!r} did not fail")


def test_storage_faults_are_told_from_other_failures(tmp_path: Path) -> None:
    """Only a storage that refuses writes sends the outbox into degraded mode; a busy lock, a full disk (it has
    its own reserve) or a bad statement do not."""
    path = tmp_path / "x.db"
    with (
        contextlib.closing(sqlite3.connect(path, isolation_level=None)) as a,
        contextlib.closing(sqlite3.connect(path, isolation_level=None, timeout=0)) as b,
    ):
        a.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
        a.execute("INSERT INTO t VALUES (1)")
        b.execute("PRAGMA query_only=ON")
        assert is_storage_fault(_raised(b, "INSERT INTO t VALUES (2)")), "SQLITE_READONLY"
        b.execute("PRAGMA query_only=OFF")
        a.execute("BEGIN IMMEDIATE")
        assert not is_storage_fault(_raised(b, "BEGIN IMMEDIATE")), "database is locked: wait, do not degrade"
        a.execute("ROLLBACK")
        assert not is_storage_fault(_raised(b, "INSERT INTO t VALUES (1)")), "constraint"
        assert not is_storage_fault(_raised(b, "SELECT * FROM nowhere")), "no such table"
    assert is_storage_fault(OSError(errno.EROFS, "Read-only file system"))
    assert is_storage_fault(OSError(errno.EIO, "Input/output error"))
    assert not is_storage_fault(OSError(errno.ENOSPC, "No space left on device"))


async def test_corruption_is_never_taken_for_a_storage_fault(tmp_path: Path) -> None:
    """A corrupt file is moved aside and salvaged by the gateway, a read-only card is not: neither may pass for
    the other. Not a database (SQLITE_NOTADB), a torn header (the integrity check fails), a bad block
    (SQLITE_CORRUPT): all raised from open, none a storage fault."""
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all " * 200)
    with pytest.raises(sqlite3.DatabaseError, match="not a database") as raised:
        await Outbox(garbage, OutboxSection()).open()
    assert not is_storage_fault(raised.value)

    async def damaged(name: str, at: Callable[[int], int], data: bytes) -> Path:
        """An outbox of a few dozen pages, closed cleanly, then ``data`` written at ``at(file size)``."""
        path = tmp_path / name
        async with Outbox(path, OutboxSection()) as ob:
            await ob.put([ev(blob="b" * 100) for _ in range(500)])
        with open(path, "r+b") as f:
            f.seek(at(path.stat().st_size))
            f.write(data)
        return path

    torn = await damaged("torn.db", lambda _: 36, (7).to_bytes(4, "big"))  # freelist count: 7 pages that do not exist
    with pytest.raises(CorruptOutbox, match="integrity check failed") as corrupt:
        await Outbox(torn, OutboxSection()).open()
    assert not is_storage_fault(corrupt.value)
    assert not is_storage_fault(CorruptOutbox("o.db: integrity check failed: disk I/O error on page 7"))

    bad_block = await damaged("bad.db", lambda size: 4096 * (size // 4096 // 2), b"\xff" * 4096)
    with pytest.raises(sqlite3.DatabaseError, match="malformed") as malformed:
        await Outbox(bad_block, OutboxSection()).open()
    assert not is_storage_fault(malformed.value)


async def _refuse_writes(ob: Outbox) -> None:
    """SQLite's own read-only refusal (SQLITE_READONLY, as for a read-only file) on the outbox's connection.
    A fresh connection writes again: the outbox's first retry opens one, so use a long ``retry_s``."""
    conn = ob._wconn
    assert conn is not None
    await asyncio.get_running_loop().run_in_executor(ob._writer, conn.execute, "PRAGMA query_only=ON")


async def test_held_rows_follow_stored_ones_without_the_cursor_skipping_any(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.db", OutboxSection(), retry_s=3600) as ob:
        await ob.put([ev(Priority.STATE, blob="s" * 600) for _ in range(10)])  # seqs 1..10 on disk, big
        await _refuse_writes(ob)
        await ob.put([ev(Priority.ALERT), ev(Priority.ALERT)])  # held, small
        await ob.put([ev(Priority.ALARM)])
        assert ob.storage_fault == "read_only" and ob.depth()["held"] == 3
        big = len((await ob.fetch(False, 0, 1, 10**9))[0].body)
        small = len((await ob.fetch(False, 10, 1, 10**9))[0].body)
        budget = big + small  # one stored row and one held row fit; two stored rows do not
        assert 2 * big > budget
        for limit, max_bytes in ((4, 10**9), (100, budget), (1, 1)):  # cut by count, by bytes, one at a time
            seqs: list[int] = []
            while rows := await ob.fetch(False, seqs[-1] if seqs else 0, limit, max_bytes):
                assert len(rows) <= limit
                seqs += [r.seq for r in rows]
            assert seqs == list(range(1, 13)), (limit, max_bytes)
        assert [r.seq for r in await ob.fetch(True, 0, 100, 10**9)] == [13]
        assert ob.stats.rows == 13 and ob.stats.alarms == 1


async def test_degraded_outbox_writes_held_events_back_when_closing_if_it_can(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    async with Outbox(path, OutboxSection(), retry_s=3600) as ob:
        await _refuse_writes(ob)
        (alarm,) = await ob.put([ev(Priority.ALARM)])
        with pytest.raises(OutboxError):
            await ob.put([ev(Priority.TELEMETRY)])
        assert ob.storage_fault == "read_only" and alarm.seq == 1
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT seq, body FROM outbox").fetchall() == [(1, alarm.to_bytes())]


def _sqlite_memory_used() -> int:
    """Bytes SQLite has allocated in this process (the library the sqlite3 module runs on)."""
    import ctypes
    import ctypes.util

    lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    return int(lib.sqlite3_memory_used())


async def test_acks_of_every_batch_size_keep_sqlite_memory_flat(tmp_path: Path) -> None:
    """After outages the broker acknowledges batches of every size; each size must not become a statement of its
    own in the connection's cache (that grew the gateway's memory by hours of outages)."""
    before_open = _sqlite_memory_used()
    async with Outbox(tmp_path / "o.db", OutboxSection()) as ob:
        assert _sqlite_memory_used() > before_open  # the measure sees this process's SQLite
        stored = [e.seq for e in await ob.put([ev() for _ in range(1300)]) if e.seq]

        async def ack_batches(sizes: range) -> None:
            for size in sizes:
                batch, stored[:size] = stored[:size], []
                ob.ack(batch)
                await ob.put([ev()])  # the deletes ride in this commit

        await ack_batches(range(1, 6))
        settled = _sqlite_memory_used()
        await ack_batches(range(6, 50))  # 44 more sizes
        grown = _sqlite_memory_used() - settled
        assert ob.stats.rows == 1300 - sum(range(1, 50)) + 49
    assert grown < 64 * 1024, f"SQLite memory grew {grown} bytes over 44 ack sizes"
