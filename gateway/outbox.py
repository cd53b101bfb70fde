"""The outbox: the single source of truth for what still has to reach the platform.

SQLite in WAL mode with ``synchronous=FULL``: a caller is told "accepted" only after the transaction holding its
event is on disk. Writes are group-committed by one writer thread, so many events per second share one fsync;
pending alarms are committed on their own, ahead of any queued batch, so an alarm never waits behind bulk data.
Rows are deleted only when the uplink reports the broker's PUBACK.

Bounded: over ``max_rows`` / ``max_bytes`` the lowest-priority oldest rows go first; alarms are never dropped.
Every drop (cap or TTL) is counted and reported through ``on_dropped``. Nothing but cursors and counters is kept
in memory (except in degraded mode, below, and bounded there), so memory use does not grow with the backlog.

Disk full: a reserve file (``reserve_bytes``) is kept beside the database. When a commit fails for lack of space
the reserve is given back and the commit retried, so alarms and alerts still get in; telemetry and state events
are refused (and counted as dropped) until free space returns, when the reserve is re-made.

Storage that cannot be written at all (the kernel remounted the SD card read-only after errors, or writes fail
with I/O errors): no reserve helps, yet a pull-cord alarm must still get out. The outbox goes degraded
(``storage_fault``): alarms and alerts are accepted into a bounded queue IN MEMORY, which is NOT durable (a crash
or power cut loses what it holds), and handed to the uplink like stored rows, with seqs that never collide with
stored ones; telemetry and state are refused and counted (``<priority>_read_only`` / ``_io_error``). When the queue
is full an alarm takes the place of the oldest held alert; alerts are refused; an alarm is refused only when
nothing but alarms is held. Every ``retry_s`` the database is opened afresh (the mount may have been repaired or
replaced) and the held events still undelivered are written with their seq; then the outbox is normal again.
Stopping while still degraded loses what is held (logged); its seqs were never stored, so they may be handed
out again after a restart (the event ids stay unique).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import shutil
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from gateway.config import OutboxSection
from gateway.events import Event, Priority

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY,
    prio       INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    size       INTEGER NOT NULL,
    body       BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_by_prio ON outbox (prio, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

#: Page cache per connection, in KiB.
_CACHE_KIB = 256

#: Order in which priorities are sacrificed when the outbox is full. Alarms are absent on purpose.
_DROP_ORDER = (Priority.TELEMETRY, Priority.STATE, Priority.ALERT)

#: Default bound on events held in memory while the storage cannot be written (about 1 MB of alarms and alerts).
HELD_MAX = 1000
#: Default seconds between two attempts to write to storage that failed.
RETRY_S = 2.0
#: SQLite primary result codes that mean the storage refuses writes.
_FAULT_CODES = frozenset({sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN})
#: How a storage fault is named in ``last_error`` (the storage monitor reads the reason back from this text).
_FAULT_TEXT = {"read_only": "read-only file system", "io_error": "disk I/O error"}


@dataclass(frozen=True, slots=True)
class Row:
    """A stored event as the uplink reads it."""

    seq: int
    prio: int
    body: bytes


@dataclass(slots=True)
class OutboxStats:
    rows: int = 0
    bytes: int = 0
    alarms: int = 0
    oldest_ms: int | None = None
    committed: int = 0
    deleted: int = 0
    commits: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None


class OutboxError(RuntimeError):
    """The outbox could not commit; the event was NOT accepted."""


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    return isinstance(exc, sqlite3.Error) and "full" in str(exc).lower()


def is_storage_fault(exc: BaseException) -> bool:
    """The storage refuses writes (read-only, I/O errors): not "full", not a busy lock or a bug in a query."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.EROFS, errno.EIO)
    if not isinstance(exc, sqlite3.Error):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _FAULT_CODES
    text = str(exc).lower()
    return "readonly" in text or "disk i/o error" in text


def _dir_read_only(path: Path) -> bool:
    """Whether ``path``'s filesystem refuses new files with EROFS. Blocking; for the writer thread.

    A read-only remount after errors does not always show in statvfs (ext4 on newer kernels keeps the mount
    "rw" and refuses writes), and SQLite reports the failed write only as "disk I/O error": so try one."""
    with contextlib.suppress(OSError):
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return True
    probe = path / ".fbgw-write-probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        return exc.errno == errno.EROFS
    os.close(fd)
    with contextlib.suppress(OSError):
        probe.unlink()
    return False


@dataclass(slots=True)
class _Pending:
    events: list[Event]
    future: asyncio.Future[None]


@dataclass(frozen=True, slots=True)
class _Held:
    """An event accepted while the storage cannot be written: in memory only, until written or acknowledged."""

    row: Row
    created_ms: int


class Outbox:
    """Durable, bounded, priority-aware queue of events. Use as ``async with Outbox(...)``."""

    def __init__(
        self,
        path: Path,
        settings: OutboxSection,
        *,
        on_committed: Callable[[Sequence[Event]], None] | None = None,
        on_dropped: Callable[[dict[str, int]], None] | None = None,
        held_max: int = HELD_MAX,
        retry_s: float = RETRY_S,
    ) -> None:
        self.path = path
        self.settings = settings
        self.on_committed = on_committed
        self.on_dropped = on_dropped
        self.stats = OutboxStats()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-writer")
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-reader")
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._alarms: deque[_Pending] = deque()
        self._others: deque[_Pending] = deque()
        self._acks: list[int] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ttl_task: asyncio.Task[None] | None = None
        self._next_seq = 1
        self._synchronous = "FULL"
        self._closing = False
        self.reserve_path = path.with_name(path.name + ".reserve")
        #: True while the disk is full: only alarms and alerts are accepted.
        self.disk_full = False
        self._disk_checked = 0.0
        #: None while the storage takes writes; else why it does not ("read_only", "io_error"): degraded mode.
        self.storage_fault: str | None = None
        #: Most events held in memory in degraded mode; seconds between two attempts to write again.
        self.held_max = max(1, held_max)
        self.retry_s = retry_s
        self._held: dict[int, _Held] = {}  # seq -> event, in seq order
        self._flushing: frozenset[int] = frozenset()  # held seqs being written to disk right now
        self._retry_at = 0.0
        #: Set when ``storage_fault`` changes, so the storage monitor reports it at once.
        self.storage_changed = asyncio.Event()
        #: Set whenever new rows of that lane are committed; the uplink waits on these.
        self.alarm_ready = asyncio.Event()
        self.event_ready = asyncio.Event()

    # ---------------------------------------------------------------- lifetime

    async def __aenter__(self) -> Outbox:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Open (creating if needed). Raises ``sqlite3.DatabaseError`` for a corrupt file, leaving nothing open."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._writer, self._open_writer)
            await loop.run_in_executor(self._reader, self._open_reader)
        except BaseException:
            for conn in (self._wconn, self._rconn):
                if conn is not None:
                    conn.close()
            self._wconn = self._rconn = None
            self._writer.shutdown(wait=False)
            self._reader.shutdown(wait=False)
            raise
        await loop.run_in_executor(self._writer, self._make_reserve)
        self._task = asyncio.create_task(self._write_loop(), name="outbox-writer")
        self._ttl_task = asyncio.create_task(self._ttl_loop(), name="outbox-ttl")
        if self.stats.alarms:
            self.alarm_ready.set()
        if self.stats.rows > self.stats.alarms:
            self.event_ready.set()

    async def close(self) -> None:
        """Commit whatever is queued, then close the database."""
        self._closing = True
        self._wake.set()
        if self._ttl_task:
            self._ttl_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ttl_task
        if self._task:
            await self._task
        loop = asyncio.get_running_loop()
        if self._wconn is not None:
            await loop.run_in_executor(self._writer, self._wconn.close)
        if self._rconn is not None:
            await loop.run_in_executor(self._reader, self._rconn.close)
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=True)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=5000")
        # A queue is written at its tail and read from its head once: a big page cache buys nothing, and at
        # SQLite's default (2 MB per connection) it would be most of the memory a backlog adds.
        conn.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
        return conn

    def _open_writer(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise OutboxError(f"{self.path}: cannot switch to WAL mode (got {mode})")
        conn.execute("PRAGMA synchronous=FULL")
        self._synchronous = "FULL"
        conn.execute("PRAGMA wal_autocheckpoint=2000")
        conn.executescript(_SCHEMA)
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"{self.path}: integrity check failed: {check}")
        row = conn.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()
        max_seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0]
        self._next_seq = max(row[0] if row else 1, max_seq + 1)
        rows, size, oldest = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0), MIN(created_ms) FROM outbox"
        ).fetchone()
        alarms = conn.execute("SELECT COUNT(*) FROM outbox WHERE prio=0").fetchone()[0]
        self.stats.rows, self.stats.bytes, self.stats.oldest_ms, self.stats.alarms = rows, size, oldest, alarms
        self._wconn = conn
        log.info("outbox open: %s rows (%s alarms), %s bytes, next seq %s", rows, alarms, size, self._next_seq)

    def _open_reader(self) -> None:
        self._rconn = self._connect()

    # ---------------------------------------------------------------- writing

    async def put(self, events: Iterable[Event]) -> list[Event]:
        """Store events durably. Returns them with ``seq`` set, only after the commit is on disk.

        While the disk is full or the storage cannot be written, only alarms and alerts are taken: the others
        of a mixed batch are dropped (counted, ``seq`` left None) and a batch with nothing urgent is refused.
        In degraded mode (``storage_fault``) "stored" means held in memory, not on disk.
        Raises :class:`OutboxError` if they could not be stored (the caller must not report success).
        """
        batch = list(events)
        if not batch:
            return batch
        if self._closing:
            raise OutboxError("outbox is closing")
        todo = batch
        if self.storage_fault is not None:
            todo = self._refuse_low(
                batch,
                self.storage_fault,
                f"storage {_FAULT_TEXT[self.storage_fault]}: only alarms and alerts are accepted "
                "(held in memory, not durable) until it can be written again",
            )
        elif self.disk_full and not self.recheck_space():
            todo = self._refuse_low(
                batch, "disk_full", "storage full: only alarms and alerts are accepted until space returns"
            )
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        pending = _Pending(todo, fut)
        if any(e.priority == Priority.ALARM for e in todo):
            self._alarms.append(pending)
        else:
            self._others.append(pending)
        self._wake.set()
        await fut
        return batch

    def _refuse_low(self, batch: list[Event], reason: str, message: str) -> list[Event]:
        """Alarms and alerts of ``batch``; the rest is counted as dropped (``<priority>_<reason>``).

        Raises :class:`OutboxError` when nothing is left."""
        keep = [e for e in batch if e.priority <= Priority.ALERT]
        if len(keep) == len(batch):
            return batch
        counts: dict[str, int] = {}
        for e in batch:
            if e.priority > Priority.ALERT:
                key = f"{e.priority.label}_{reason}"
                counts[key] = counts.get(key, 0) + 1
        self._count_dropped(counts)
        if not keep:
            raise OutboxError(message)
        return keep

    def _count_dropped(self, counts: dict[str, int]) -> None:
        for key, n in counts.items():
            self.stats.dropped[key] = self.stats.dropped.get(key, 0) + n
        if counts and self.on_dropped:
            self.on_dropped(counts)

    def ack(self, seqs: Iterable[int]) -> None:
        """The broker has these; delete them (lazily, in the next group commit; held ones at once)."""
        if self._held:
            seqs = self._release_held(seqs)
        self._acks.extend(seqs)
        self._wake.set()

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self.storage_fault is None:
                await self._wake.wait()
            else:
                await self._degraded_wait()
            self._wake.clear()
            while self._alarms or self._others or self._acks:
                if self.storage_fault is not None:
                    self._hold_queued()  # acknowledged deletes wait until the storage takes writes again
                    break
                # Alarms alone first: a tiny transaction, never queued behind a bulk batch.
                if self._alarms:
                    taken = list(self._alarms)
                    self._alarms.clear()
                else:
                    taken, count = [], 0
                    while self._others and count < self.settings.max_batch:
                        item = self._others.popleft()
                        taken.append(item)
                        count += len(item.events)
                acks, self._acks = self._acks, []
                events = [e for p in taken for e in p.events]
                try:
                    try:
                        dropped = await loop.run_in_executor(self._writer, self._commit, events, acks)
                    except (sqlite3.Error, OSError) as exc:
                        if not _is_disk_full(exc) or not await loop.run_in_executor(self._writer, self._give_reserve):
                            raise
                        log.error("outbox: disk full; reserve released, retrying (%d events)", len(events))
                        dropped = await loop.run_in_executor(self._writer, self._commit, events, acks)
                except (sqlite3.Error, OSError) as exc:
                    self._acks = acks + self._acks
                    if not _is_disk_full(exc) and is_storage_fault(exc):
                        await self._enter_fault(exc, len(events))
                        self._hold(taken)
                        continue
                    if _is_disk_full(exc):
                        self.disk_full = True
                    self.stats.last_error = f"{type(exc).__name__}: {exc}"
                    log.error("outbox commit failed (%d events not accepted): %s", len(events), exc)
                    for p in taken:
                        if not p.future.done():
                            p.future.set_exception(OutboxError(f"outbox commit failed: {exc}"))
                    await asyncio.sleep(0.05)
                    continue
                for p in taken:
                    if not p.future.done():
                        p.future.set_result(None)
                if events:
                    if any(e.priority == Priority.ALARM for e in events):
                        self.alarm_ready.set()
                    if any(e.priority != Priority.ALARM for e in events):
                        self.event_ready.set()
                    if self.on_committed:
                        self.on_committed(events)
                if dropped and self.on_dropped:
                    self.on_dropped(dropped)
            if self._closing and not (self._alarms or self._others):
                if self.storage_fault is None and not self._acks:
                    return
                if self.storage_fault is not None and not await self._try_recover():
                    self._report_lost()
                    return
                self._wake.set()  # written back while closing: go round once more for the deletes

    def _commit(self, events: list[Event], acks: list[int]) -> dict[str, int]:
        """One transaction: insert, delete acknowledged, enforce the cap. Runs on the writer thread."""
        conn = self._wconn
        assert conn is not None
        now = int(time.time() * 1000)
        next_seq = self._next_seq
        rows = []
        for e in events:
            e.seq = next_seq
            next_seq += 1
            body = e.to_bytes()
            rows.append((e.seq, int(e.priority), now, len(body), body))
        dropped: dict[str, int] = {}
        self._set_synchronous(conn, "FULL" if rows else "NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            if rows:
                conn.executemany("INSERT INTO outbox (seq, prio, created_ms, size, body) VALUES (?,?,?,?,?)", rows)
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('next_seq', ?)", (next_seq,))
            freed_rows = freed_bytes = freed_alarms = 0
            if acks:
                freed_rows, freed_bytes, freed_alarms = self._delete(conn, acks)
            added_bytes = sum(r[3] for r in rows)
            added_alarms = sum(1 for r in rows if r[1] == Priority.ALARM)
            total_rows = self.stats.rows + len(rows) - freed_rows
            total_bytes = self.stats.bytes + added_bytes - freed_bytes
            cap_rows = cap_bytes = 0
            if total_rows > self.settings.max_rows or total_bytes > self.settings.max_bytes:
                cap_rows, cap_bytes, dropped = self._enforce_cap(conn, total_rows, total_bytes)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            for e in events:
                e.seq = None
            raise
        self._next_seq = next_seq
        st = self.stats
        st.rows = total_rows - cap_rows
        st.bytes = total_bytes - cap_bytes
        st.alarms += added_alarms - freed_alarms
        st.committed += len(rows)
        st.deleted += freed_rows
        st.commits += 1
        st.last_error = None
        if st.rows == 0:
            st.oldest_ms = None
        elif st.oldest_ms is None or freed_rows or cap_rows:
            st.oldest_ms = self._oldest(conn)
        for key, n in dropped.items():
            st.dropped[key] = st.dropped.get(key, 0) + n
        return dropped

    def _set_synchronous(self, conn: sqlite3.Connection, level: str) -> None:
        """``FULL`` for a transaction that accepts events (the caller is told only after the fsync);
        ``NORMAL`` for one that only deletes delivered rows: no fsync of its own, so it never holds up the next
        alarm's commit. WAL stays consistent either way; a power cut may only undo deletes (the rows are sent
        again, and the platform drops duplicates by id), and the next ``FULL`` commit makes them durable."""
        if self._synchronous != level:
            conn.execute(f"PRAGMA synchronous={level}")
            self._synchronous = level

    @staticmethod
    def _oldest(conn: sqlite3.Connection) -> int | None:
        row = conn.execute("SELECT created_ms FROM outbox ORDER BY seq LIMIT 1").fetchone()
        return None if row is None else int(row[0])

    @staticmethod
    def _delete(conn: sqlite3.Connection, seqs: list[int]) -> tuple[int, int, int]:
        rows = size = alarms = 0
        for start in range(0, len(seqs), 500):
            chunk = seqs[start : start + 500]
            marks = ",".join("?" * len(chunk))
            n, b, a = conn.execute(
                f"SELECT COUNT(*), COALESCE(SUM(size),0), COALESCE(SUM(prio=0),0) FROM outbox WHERE seq IN ({marks})",
                chunk,
            ).fetchone()
            conn.execute(f"DELETE FROM outbox WHERE seq IN ({marks})", chunk)
            rows, size, alarms = rows + n, size + b, alarms + a
        return rows, size, alarms

    def _enforce_cap(
        self, conn: sqlite3.Connection, total_rows: int, total_bytes: int
    ) -> tuple[int, int, dict[str, int]]:
        """Drop lowest priority, oldest first, until under the cap. Never an alarm."""
        over_rows = total_rows - self.settings.max_rows
        over_bytes = total_bytes - self.settings.max_bytes
        dropped: dict[str, int] = {}
        freed_rows = freed_bytes = 0
        for prio in _DROP_ORDER:
            if over_rows <= 0 and over_bytes <= 0:
                break
            victims: list[int] = []
            # Walk oldest-first in pages; stop as soon as enough is freed.
            last = 0
            while over_rows > 0 or over_bytes > 0:
                page = conn.execute(
                    "SELECT seq, size FROM outbox WHERE prio=? AND seq>? ORDER BY seq LIMIT 1000",
                    (int(prio), last),
                ).fetchall()
                if not page:
                    break
                for seq, size in page:
                    if over_rows <= 0 and over_bytes <= 0:
                        break
                    victims.append(seq)
                    over_rows -= 1
                    over_bytes -= size
                    freed_rows += 1
                    freed_bytes += size
                last = page[-1][0]
            if victims:
                for start in range(0, len(victims), 500):
                    chunk = victims[start : start + 500]
                    conn.execute(f"DELETE FROM outbox WHERE seq IN ({','.join('?' * len(chunk))})", chunk)
                dropped[f"{prio.label}_cap"] = len(victims)
        if over_rows > 0 or over_bytes > 0:
            log.warning("outbox over its cap with alarms only (%d rows over): alarms are kept", over_rows)
        return freed_rows, freed_bytes, dropped

    async def import_rows(self, rows: Sequence[tuple[int, int, int, int, bytes]]) -> int:
        """Put back rows salvaged from a damaged outbox (same seq, same body). Returns how many went in."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, self._import_rows, list(rows))

    def _import_rows(self, rows: list[tuple[int, int, int, int, bytes]]) -> int:
        conn = self._wconn
        assert conn is not None
        if not rows:
            return 0
        self._set_synchronous(conn, "FULL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            cur = conn.executemany(
                "INSERT OR IGNORE INTO outbox (seq, prio, created_ms, size, body) VALUES (?,?,?,?,?)", rows
            )
            self._next_seq = max(self._next_seq, max(r[0] for r in rows) + 1)
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('next_seq', ?)", (self._next_seq,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        n = max(cur.rowcount, 0)
        st = self.stats
        st.rows, st.bytes, st.alarms = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(size),0), COALESCE(SUM(prio=0),0) FROM outbox"
        ).fetchone()
        st.oldest_ms = self._oldest(conn)
        if st.alarms:
            self.alarm_ready.set()
        if st.rows > st.alarms:
            self.event_ready.set()
        return n

    # ---------------------------------------------------------------- disk space

    def _make_reserve(self) -> None:
        """Set aside ``reserve_bytes`` of real disk blocks (best effort: a full disk simply has no reserve)."""
        want = self.settings.reserve_bytes
        if not want or (self.reserve_path.exists() and self.reserve_path.stat().st_size >= want):
            return
        try:
            fd = os.open(self.reserve_path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, want)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                self.reserve_path.unlink()
            log.warning("outbox: no disk reserve (%s)", exc.strerror)

    def _give_reserve(self) -> bool:
        """Free the reserve (disk full). Returns False if there was none to give."""
        self.disk_full = True
        try:
            self.reserve_path.unlink()
        except FileNotFoundError:
            return False
        # Make room inside the database too: the oldest telemetry goes, its pages are reused for alarms.
        with contextlib.suppress(sqlite3.Error):
            assert self._wconn is not None
            freed = self._wconn.execute(
                "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE prio=? ORDER BY seq LIMIT 1000)",
                (int(Priority.TELEMETRY),),
            ).rowcount
            if freed > 0:
                self.stats.rows -= freed
                self.stats.dropped["telemetry_disk_full"] = self.stats.dropped.get("telemetry_disk_full", 0) + freed
        return True

    def recheck_space(self) -> bool:
        """While the disk is full, look (at most once a second) whether space is back; re-make the reserve if so."""
        now = time.monotonic()
        if now - self._disk_checked < 1.0:
            return False
        self._disk_checked = now
        try:
            free = shutil.disk_usage(self.path.parent).free
        except OSError:
            return False
        if free < 2 * self.settings.reserve_bytes + 1024 * 1024:
            return False
        self.disk_full = False
        self._writer.submit(self._make_reserve)
        log.warning("outbox: disk space is back (%d bytes free); accepting everything again", free)
        return True

    # ---------------------------------------------------------------- storage that cannot be written

    async def _enter_fault(self, exc: BaseException, events: int) -> None:
        """A commit failed because the storage refuses writes: go (or stay) degraded."""
        reason = await asyncio.get_running_loop().run_in_executor(self._writer, self._fault_reason, exc)
        first = self.storage_fault is None
        self.storage_fault = reason
        self.stats.last_error = f"{_FAULT_TEXT[reason]}: {type(exc).__name__}: {exc}"
        self._retry_at = time.monotonic() + self.retry_s
        if first:
            log.error(
                "outbox: storage not writable (%s: %s; %d events in the failed commit). Alarms and alerts are "
                "held in memory (NOT durable) until it can be written again; telemetry and state are refused",
                _FAULT_TEXT[reason],
                exc,
                events,
            )
            self.storage_changed.set()

    def _fault_reason(self, exc: BaseException) -> str:
        """``read_only`` or ``io_error``. Runs on the writer thread (it may probe the filesystem)."""
        if isinstance(exc, OSError) and exc.errno == errno.EROFS:
            return "read_only"
        code = getattr(exc, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_READONLY:
            return "read_only"
        return "read_only" if _dir_read_only(self.path.parent) else "io_error"

    def _hold_queued(self) -> None:
        taken = [*self._alarms, *self._others]
        self._alarms.clear()
        self._others.clear()
        self._hold(taken)

    def _hold(self, taken: list[_Pending]) -> None:
        """Degraded mode: accept the alarms and alerts of ``taken`` into memory, refuse (and count) the rest."""
        reason = self.storage_fault or "io_error"
        now = int(time.time() * 1000)
        st = self.stats
        held: list[Event] = []
        counts: dict[str, int] = {}
        for p in taken:
            kept = 0
            for e in p.events:
                e.seq = None
                if e.priority > Priority.ALERT or not self._make_room(e.priority, reason, counts):
                    key = f"{e.priority.label}_{reason}"
                    counts[key] = counts.get(key, 0) + 1
                    continue
                e.seq = self._next_seq
                self._next_seq += 1
                row = Row(e.seq, int(e.priority), e.to_bytes())
                self._held[e.seq] = _Held(row, now)
                st.rows += 1
                st.bytes += len(row.body)
                st.alarms += e.priority == Priority.ALARM
                if st.oldest_ms is None:
                    st.oldest_ms = now
                held.append(e)
                kept += 1
            if p.future.done():
                continue
            if kept:
                p.future.set_result(None)
            else:
                p.future.set_exception(
                    OutboxError(f"storage {_FAULT_TEXT[reason]}: not accepted (only alarms and alerts are held)")
                )
        if held:
            if any(e.priority == Priority.ALARM for e in held):
                self.alarm_ready.set()
            if any(e.priority != Priority.ALARM for e in held):
                self.event_ready.set()
            if self.on_committed:
                self.on_committed(held)
        self._count_dropped(counts)

    def _make_room(self, prio: Priority, reason: str, counts: dict[str, int]) -> bool:
        """Whether one more event of ``prio`` may be held; an alarm pushes out the oldest held alert."""
        if len(self._held) < self.held_max:
            return True
        if prio != Priority.ALARM:
            return False
        victim = next((seq for seq, h in self._held.items() if h.row.prio != Priority.ALARM), None)
        if victim is None:
            log.error("outbox: %d alarms held in memory, no room for another: alarm refused", len(self._held))
            return False
        gone = self._held.pop(victim)
        self.stats.rows -= 1
        self.stats.bytes -= len(gone.row.body)
        key = f"alert_{reason}"
        counts[key] = counts.get(key, 0) + 1
        return True

    def _release_held(self, seqs: Iterable[int]) -> list[int]:
        """Forget acknowledged held events; returns the seqs that are (or are being put) on disk."""
        rest: list[int] = []
        st = self.stats
        for seq in seqs:
            held = self._held.pop(seq, None)
            if held is None or seq in self._flushing:
                rest.append(seq)
            if held is not None:
                st.rows -= 1
                st.bytes -= len(held.row.body)
                st.alarms -= held.row.prio == Priority.ALARM
                st.deleted += seq not in self._flushing
        if st.rows == 0:
            st.oldest_ms = None
        return rest

    async def _degraded_wait(self) -> None:
        """Wait for work or for the next attempt to write, and make that attempt when it is due."""
        delay = self._retry_at - time.monotonic()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
        if not self._closing and time.monotonic() >= self._retry_at:
            await self._try_recover()

    async def _try_recover(self) -> bool:
        """Open the database afresh and write the held events back (same seq). True if that worked."""
        loop = asyncio.get_running_loop()
        held = list(self._held.values())
        self._flushing = frozenset(h.row.seq for h in held)
        try:
            counts = await loop.run_in_executor(self._writer, self._reopen, held)
            await loop.run_in_executor(self._reader, self._reopen_reader)
        except (sqlite3.Error, OSError, OutboxError) as exc:
            self._flushing = frozenset()
            self._retry_at = time.monotonic() + self.retry_s
            log.debug("outbox: storage still not writable: %s", exc)
            return False
        # Only the write loop (which is here) adds held events: every one still held is on disk now.
        for h in held:
            self._held.pop(h.row.seq, None)
        self._flushing = frozenset()
        st = self.stats
        st.rows, st.bytes, st.alarms, st.oldest_ms = counts
        st.committed += len(held)
        st.commits += 1
        st.last_error = None
        was, self.storage_fault = self.storage_fault, None
        self.storage_changed.set()
        log.warning("outbox: storage writable again (was %s); %d held events written to disk", was, len(held))
        self._wake.set()
        return True

    def _reopen(self, held: list[_Held]) -> tuple[int, int, int, int | None]:
        """Writer thread: a new connection (the broken mount may have been repaired or replaced), the held rows
        written with their seq in one ``synchronous=FULL`` transaction. Returns the table's rows, bytes,
        alarms and oldest time."""
        old, self._wconn = self._wconn, None
        if old is not None:  # its locks and file handles belong to the broken mount: let go first
            with contextlib.suppress(sqlite3.Error):
                old.close()
        conn = self._connect()
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise OutboxError(f"{self.path}: cannot switch to WAL mode (got {mode})")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA wal_autocheckpoint=2000")
            conn.executescript(_SCHEMA)  # a replaced, empty filesystem gets a fresh outbox
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()
                max_seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0]
                next_seq = max(self._next_seq, row[0] if row else 1, max_seq + 1)
                conn.executemany(
                    "INSERT OR IGNORE INTO outbox (seq, prio, created_ms, size, body) VALUES (?,?,?,?,?)",
                    [(h.row.seq, h.row.prio, h.created_ms, len(h.row.body), h.row.body) for h in held],
                )
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('next_seq', ?)", (next_seq,))
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            rows, size, alarms, oldest = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(prio=0), 0), MIN(created_ms) FROM outbox"
            ).fetchone()
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
            raise
        self._wconn = conn
        self._synchronous = "FULL"
        self._next_seq = next_seq
        self._make_reserve()
        return int(rows), int(size), int(alarms), None if oldest is None else int(oldest)

    def _reopen_reader(self) -> None:
        """Reader thread: read through the same (possibly new) mount as the writer."""
        conn = self._connect()
        try:
            conn.execute("SELECT seq FROM outbox LIMIT 1").fetchall()
        except BaseException:
            conn.close()
            raise
        old, self._rconn = self._rconn, conn
        if old is not None:
            with contextlib.suppress(sqlite3.Error):
                old.close()

    def _report_lost(self) -> None:
        if not self._held:
            return
        alarms = sum(1 for h in self._held.values() if h.row.prio == Priority.ALARM)
        log.error(
            "outbox: closing with %d undelivered events held in memory (%d alarms) that could not be written "
            "(storage %s): they are lost",
            len(self._held),
            alarms,
            _FAULT_TEXT.get(self.storage_fault or "", "not writable"),
        )

    # ---------------------------------------------------------------- TTL

    async def _ttl_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.settings.ttl_check_s)
            if self.storage_fault is not None:  # nothing can be deleted; held events are bounded anyway
                continue
            try:
                dropped = await loop.run_in_executor(self._writer, self.expire)
            except sqlite3.Error as exc:
                log.error("outbox TTL purge failed: %s", exc)
                continue
            if dropped and self.on_dropped:
                self.on_dropped(dropped)

    def expire(self, now_ms: int | None = None) -> dict[str, int]:
        """Delete events older than their priority's TTL. Runs on the writer thread."""
        conn = self._wconn
        if conn is None:  # between two attempts to reopen a storage that failed
            return {}
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        dropped: dict[str, int] = {}
        self._set_synchronous(conn, "NORMAL")  # only deletes
        conn.execute("BEGIN IMMEDIATE")
        try:
            for prio in Priority:
                ttl = getattr(self.settings.ttl, prio.label)
                if not ttl:
                    continue
                cutoff = now_ms - ttl * 1000
                n, b = conn.execute(
                    "SELECT COUNT(*), COALESCE(SUM(size),0) FROM outbox WHERE prio=? AND created_ms<?",
                    (int(prio), cutoff),
                ).fetchone()
                if n:
                    conn.execute("DELETE FROM outbox WHERE prio=? AND created_ms<?", (int(prio), cutoff))
                    dropped[f"{prio.label}_ttl"] = n
                    self.stats.rows -= n
                    self.stats.bytes -= b
                    if prio == Priority.ALARM:
                        self.stats.alarms -= n
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if dropped:
            self.stats.oldest_ms = self._oldest(conn)
            for key, n in dropped.items():
                self.stats.dropped[key] = self.stats.dropped.get(key, 0) + n
        return dropped

    # ---------------------------------------------------------------- reading (uplink)

    async def fetch(self, alarms: bool, after_seq: int, limit: int, max_bytes: int) -> list[Row]:
        """Next rows of one lane (alarms, or everything else) in seq order, after ``after_seq``: stored ones,
        and in degraded mode the ones held in memory (they always come after the stored ones)."""
        loop = asyncio.get_running_loop()
        try:
            rows = await loop.run_in_executor(self._reader, self._fetch, alarms, after_seq, limit, max_bytes)
        except sqlite3.Error as exc:
            if self.storage_fault is None:
                raise
            # Failing storage may fail reads too: the held alarms still go out.
            log.warning("outbox: stored rows unreadable (%s); sending held events only", exc)
            rows = []
        if self._held:
            return self._merge_held(rows, alarms, after_seq, limit, max_bytes)
        return rows

    def _merge_held(self, stored: list[Row], alarms: bool, after_seq: int, limit: int, max_bytes: int) -> list[Row]:
        """Add held rows to ``stored``. Past the last stored row only when there is none: more stored rows may
        follow it (limit, byte budget), and the lane's cursor must not skip them."""
        upto = stored[-1].seq if stored else None
        have = {r.seq for r in stored}
        extra = [
            h.row
            for h in self._held.values()
            if (h.row.prio == Priority.ALARM) == alarms
            and h.row.seq > after_seq
            and (upto is None or h.row.seq < upto)
            and h.row.seq not in have  # being written back: on disk and still held
        ]
        if not extra:
            return stored
        merged = sorted(stored + extra, key=lambda r: r.seq) if stored else extra
        out: list[Row] = []
        total = 0
        for r in merged[:limit]:
            total += len(r.body)
            if out and total > max_bytes:
                break
            out.append(r)
        return out

    def _fetch(self, alarms: bool, after_seq: int, limit: int, max_bytes: int) -> list[Row]:
        conn = self._rconn
        assert conn is not None
        where = "prio=0" if alarms else "+prio>0"  # unary + keeps the planner on the seq primary key
        # Alarms use the (prio, seq) index; the rest are walked in plain seq order.
        cur = conn.execute(
            f"SELECT seq, prio, body FROM outbox WHERE {where} AND seq>? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )
        out: list[Row] = []
        total = 0
        for seq, prio, body in cur:
            total += len(body)
            if out and total > max_bytes:
                break
            out.append(Row(seq, prio, bytes(body)))
        return out

    def depth(self) -> dict[str, object]:
        """Depth and age of the backlog, for status pages and the heartbeat."""
        st = self.stats
        age = None if st.oldest_ms is None else max(0, int(time.time() * 1000) - st.oldest_ms) // 1000
        return {
            "disk_full": self.disk_full,
            "storage_fault": self.storage_fault,
            "held": len(self._held),  # in memory, not durable (degraded mode); counted in rows and alarms too
            "rows": st.rows,
            "bytes": st.bytes,
            "alarms": st.alarms,
            "oldest_age_s": age,
            "dropped": dict(st.dropped),
            "last_error": st.last_error,
        }


def bodies_to_payload(rows: Sequence[Row]) -> bytes:
    """One MQTT payload: a JSON array of the stored event bodies (already JSON; joined, not re-encoded)."""
    return b"[" + b",".join(r.body for r in rows) + b"]"


def decode_payload(payload: bytes) -> list[dict[str, object]]:
    """Inverse of :func:`bodies_to_payload` (tests, tools, the console platform view)."""
    data = json.loads(payload)
    if not isinstance(data, list):
        raise ValueError("payload is not a JSON array of events")
    return data
