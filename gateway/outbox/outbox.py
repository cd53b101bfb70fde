"""The Outbox: takes events, commits them durably, hands them to the uplink, deletes them on PUBACK.

One writer task group-commits everything queued through the writer thread (:mod:`gateway.outbox.store`), so
many events per second share one fsync; pending alarms are committed on their own, ahead of any queued batch,
so an alarm never waits behind bulk data. A caller is told "accepted" only after its commit is on disk.

The alarm path is kept short: a committed alarm's lane is woken before anything else hears of the commit, and
the rows it needs are handed over in memory (the last few committed alarm rows, byte for byte what is stored)
instead of being read back through the reader thread.

Deletes of delivered ordinary events may be deferred (``ack(..., defer=True)``, what the uplink's event lane
does): they ride in the next commit of ordinary events, which touches the same pages anyway, or run on their own
after ``ack_delay_s``. On an SD card that saves a delete transaction per event. Rows waiting to be deleted are
not handed out again and not counted as backlog; a crash in between only makes them be sent again (the
platform drops duplicates by id).

The same task switches modes: a disk that fills up is answered from the reserve (:mod:`gateway.outbox.reserve`);
a storage that refuses writes, at a commit or already at open (:mod:`gateway.outbox.faults`), makes the outbox
degraded: alarms and alerts go to the held queue (:mod:`gateway.outbox.held`), telemetry and state are refused
and counted, and every ``retry_s`` the database is opened afresh and the held events written back.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import sqlite3
import time
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from core.events import Event, Priority
from core.signal import Signal
from gateway.config import OutboxSection
from gateway.outbox.faults import FAULT_TEXT, OutboxError, dir_read_only, fault_reason, is_disk_full, is_storage_fault
from gateway.outbox.held import HeldQueue
from gateway.outbox.reserve import make_reserve, release_reserve, space_is_back
from gateway.outbox.rows import Row, row_clock_ms
from gateway.outbox.stats import OutboxStats
from gateway.outbox.store import SalvagedRow, StateEntry, Store

log = logging.getLogger("gateway.outbox")  # one logger for the whole outbox: the journal is filtered by it

#: Longest a deferred delete waits for a commit to ride in (seconds).
ACK_DELAY_S = 60.0
#: Deferred deletes run at once when this many are waiting.
ACK_BATCH = 1000
#: Committed alarm rows kept in memory for the alarm lane.
FRESH_ALARMS = 64


@dataclass(slots=True)
class _Pending:
    events: list[Event]
    future: asyncio.Future[None]
    state: list[StateEntry]


class Outbox:
    """Durable, bounded, priority-aware queue of events. Use as ``async with Outbox(...)``."""

    def __init__(
        self,
        path: Path,
        settings: OutboxSection,
        *,
        held_max: int | None = None,
        retry_s: float | None = None,
        ack_delay_s: float = ACK_DELAY_S,
    ) -> None:
        """``path``: the database file. ``settings``: caps, TTLs, reserve, held-queue bound, retry interval.
        ``held_max`` and ``retry_s`` override ``settings.held_max_events`` and ``settings.retry_s``.
        ``ack_delay_s``: longest wait of a deferred delete (see :meth:`ack`)."""
        self.path = path
        self.settings = settings
        #: The events of every commit (and every event held in degraded mode). Emitted in the writer's path.
        self.committed: Signal[Sequence[Event]] = Signal("outbox.committed")
        #: The counts of every drop (cap, TTL, refusals), by ``priority:reason``.
        self.dropped: Signal[dict[str, int]] = Signal("outbox.dropped")
        self.stats = OutboxStats()
        self._store = Store(path, settings, self.stats)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-writer")
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-reader")
        self._alarms: deque[_Pending] = deque()
        self._others: deque[_Pending] = deque()
        self._acks: list[int] = []
        #: Acknowledged seqs not yet deleted (queued or in the commit deleting them): never handed out again.
        self._acked: set[int] = set()
        self.ack_delay_s = ack_delay_s
        self._ack_due: float | None = None  # monotonic time the queued deletes must run by; None: at once
        #: Alarm rows of the last commits, for the alarm lane; every stored alarm above ``_fresh_floor`` is here.
        self._fresh: deque[Row] = deque()
        self._fresh_floor = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ttl_task: asyncio.Task[None] | None = None
        self._closing = False
        self.reserve_path = path.with_name(path.name + ".reserve")
        #: True while the disk is full: only alarms and alerts are accepted.
        self.disk_full = False
        self._disk_checked = 0.0
        #: None while the storage takes writes; else why it does not ("read_only", "io_error"): degraded mode.
        self.storage_fault: str | None = None
        self._held = HeldQueue(settings.held_max_events if held_max is None else held_max, self.stats)
        #: Seconds between two attempts to write to storage that failed.
        self.retry_s = settings.retry_s if retry_s is None else retry_s
        self._retry_at = 0.0
        #: Set when ``storage_fault`` changes, so the storage monitor reports it at once.
        self.storage_changed = asyncio.Event()
        #: Set whenever new rows of that lane are committed; the uplink waits on these.
        self.alarm_ready = asyncio.Event()
        self.event_ready = asyncio.Event()

    @property
    def held_max(self) -> int:
        """Most events held in memory in degraded mode."""
        return self._held.limit

    @property
    def _wconn(self) -> sqlite3.Connection | None:
        """The writer connection (writer thread only); None while degraded between two attempts."""
        return self._store.wconn

    # ---------------------------------------------------------------- lifetime

    async def __aenter__(self) -> Outbox:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self, *, unusable: BaseException | None = None) -> None:
        """Open (creating if needed) and start the writer.

        Storage that refuses writes at open (:func:`is_storage_fault`, the same test as at commit, or a probe
        file the directory refuses although SQLite could open the file) does not stop the outbox: it starts
        degraded, reading what is stored if it can (:meth:`Store.open_read_only`), and retries every
        ``retry_s`` as after a failed commit. Nothing is moved aside for that. Raises ``sqlite3.DatabaseError``
        for a corrupt file (not a database, integrity check failed), leaving nothing open.

        ``unusable``: the caller found the file corrupt and the storage refused to let it be moved aside (this
        error); start degraded without reading the file, with seqs that cannot collide with what it holds.
        """
        loop = asyncio.get_running_loop()
        try:
            fault = unusable if unusable is not None else await self._open_store()
            if fault is not None:
                await self._open_degraded(fault, read=unusable is None)
        except BaseException:
            self._store.close_writer()
            self._store.close_reader()
            self._writer.shutdown(wait=False)
            self._reader.shutdown(wait=False)
            raise
        self._fresh_floor = self._store.max_alarm_seq if fault is None else self._store.next_seq
        if fault is None:
            await loop.run_in_executor(self._writer, self._make_reserve)
        self._task = asyncio.create_task(self._write_loop(), name="outbox-writer")
        self._ttl_task = asyncio.create_task(self._ttl_loop(), name="outbox-ttl")
        if self.stats.alarms:
            self.alarm_ready.set()
        if self.stats.rows > self.stats.alarms:
            self.event_ready.set()

    async def _open_store(self) -> BaseException | None:
        """Open the database for writing. Returns the storage fault that prevented it, if that is what did."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._writer, self._store.open_writer)
            await loop.run_in_executor(self._reader, self._store.open_reader)
        except (sqlite3.Error, OSError, OutboxError) as exc:
            if not is_storage_fault(exc):
                raise
            return exc
        if await loop.run_in_executor(self._writer, dir_read_only, self.path.parent):
            return OSError(errno.EROFS, os.strerror(errno.EROFS), str(self.path.parent))
        return None

    async def _open_degraded(self, fault: BaseException, *, read: bool) -> None:
        """Start degraded: no writer connection; a read-only reader if ``read`` and the file can be read."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, self._store.close_writer)
        await loop.run_in_executor(self._reader, self._store.close_reader)
        if read:
            readable = await loop.run_in_executor(self._reader, self._store.open_read_only)
        else:
            readable = self._store.unreadable(fault)
        reason = await loop.run_in_executor(self._writer, fault_reason, fault, self.path.parent)
        self._set_fault(reason, fault)
        log.error(
            "outbox: storage not writable at start (%s: %s). Alarms and alerts are held in memory (NOT durable) "
            "until it can be written again; telemetry and state are refused; %s, next seq %d",
            FAULT_TEXT[reason],
            fault,
            f"{self.stats.rows} stored events readable" if readable else "stored events unreadable",
            self._store.next_seq,
        )

    # ---------------------------------------------------------------- health (the watchdog)

    @property
    def writer_task(self) -> asyncio.Task[None] | None:
        """The task that commits queued events (None before ``open``)."""
        return self._task

    def probe_writer(self) -> asyncio.Future[None] | None:
        """Run a no-op on the writer thread; a future that never finishes means the thread is wedged.

        None once the writer has been shut down (closing)."""
        try:
            return asyncio.get_running_loop().run_in_executor(self._writer, _noop)
        except RuntimeError:  # executor shut down
            return None

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
        await loop.run_in_executor(self._writer, self._store.close_writer)
        await loop.run_in_executor(self._reader, self._store.close_reader)
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=True)

    # ---------------------------------------------------------------- writing

    @property
    def saved_state(self) -> list[StateEntry]:
        """The rule state committed with events (see :meth:`put`), as read when the outbox was opened."""
        return list(self._store.rule_state)

    async def put(self, events: Iterable[Event], state: list[StateEntry] | None = None) -> list[Event]:
        """Store events durably. Returns them with ``seq`` set, only after the commit is on disk.

        ``state``: rule state entries (key, JSON value, version) written in the same transaction as the events,
        so the state that decided they were changes is exactly as durable as they are; a newer version of a key
        is never overwritten by an older one. In degraded mode they are not written (nothing is durable then).

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
                f"storage {FAULT_TEXT[self.storage_fault]}: only alarms and alerts are accepted "
                "(held in memory, not durable) until it can be written again",
            )
        elif self.disk_full and not self.recheck_space():
            todo = self._refuse_low(
                batch, "disk_full", "storage full: only alarms and alerts are accepted until space returns"
            )
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        pending = _Pending(todo, fut, state or [])
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
        if counts:
            self.dropped.emit(counts)

    def ack(self, seqs: Iterable[int], *, defer: bool = False) -> None:
        """The broker has these; delete them (held ones at once). The delete runs in the next commit, or on its
        own at once; with ``defer`` it waits up to ``ack_delay_s`` for a commit of ordinary events to ride in."""
        if self._held:
            seqs = self._held.release(seqs)
        seqs = list(seqs)
        if not seqs:
            return
        self._acks.extend(seqs)
        self._acked.update(seqs)
        if self._fresh:
            done = set(seqs)
            self._fresh = deque(r for r in self._fresh if r.seq not in done)
        now = time.monotonic()
        if not defer or len(self._acks) >= ACK_BATCH:
            self._ack_due = now
            self._wake.set()
        elif self._ack_due is None or self._ack_due > now + self.ack_delay_s:
            self._ack_due = now + self.ack_delay_s
            asyncio.get_running_loop().call_later(self.ack_delay_s, self._wake.set)

    def _acks_due(self) -> bool:
        """Deletes to run now, in a transaction of their own if nothing else is queued."""
        if not self._acks:
            return False
        # (a timer may fire a little before its time: a few ms early count as due)
        return self._closing or self._ack_due is None or time.monotonic() >= self._ack_due - 0.05

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self.storage_fault is None:
                await self._wake.wait()
            else:
                await self._degraded_wait()
            self._wake.clear()
            while self._alarms or self._others or self._acks_due():
                if self.storage_fault is not None:
                    self._hold_queued()  # acknowledged deletes wait until the storage takes writes again
                    break
                # Alarms alone first: a tiny transaction, never queued behind a bulk batch nor deletes.
                acks: list[int] = []
                if self._alarms:
                    taken = list(self._alarms)
                    self._alarms.clear()
                else:
                    taken, count = [], 0
                    while self._others and count < self.settings.max_batch:
                        item = self._others.popleft()
                        taken.append(item)
                        count += len(item.events)
                    acks, self._acks, self._ack_due = self._acks, [], None
                events = [e for p in taken for e in p.events]
                state = [s for p in taken for s in p.state]
                try:
                    try:
                        dropped = await loop.run_in_executor(self._writer, self._store.commit, events, acks, state)
                    except (sqlite3.Error, OSError) as exc:
                        if not is_disk_full(exc) or not await loop.run_in_executor(self._writer, self._give_reserve):
                            raise
                        log.error("outbox: disk full; reserve released, retrying (%d events)", len(events))
                        dropped = await loop.run_in_executor(self._writer, self._store.commit, events, acks, state)
                except (sqlite3.Error, OSError) as exc:
                    if acks:
                        self._acks = acks + self._acks
                        self._ack_due = time.monotonic()
                    if not is_disk_full(exc) and is_storage_fault(exc):
                        await self._enter_fault(exc, len(events))
                        self._hold(taken)
                        continue
                    if is_disk_full(exc):
                        self.disk_full = True
                    self.stats.last_error = f"{type(exc).__name__}: {exc}"
                    log.error("outbox commit failed (%d events not accepted): %s", len(events), exc)
                    for p in taken:
                        if not p.future.done():
                            p.future.set_exception(OutboxError(f"outbox commit failed: {exc}"))
                    await asyncio.sleep(0.05)
                    continue
                self._acked.difference_update(acks)
                if events:
                    self._keep_fresh()
                    self._wake_lanes(events)  # the alarm lane first: it runs before anyone told below
                for p in taken:
                    if not p.future.done():
                        p.future.set_result(None)
                if events:
                    self.committed.emit(events)
                if dropped:
                    self.dropped.emit(dropped)
            if self._closing and not (self._alarms or self._others):
                if self.storage_fault is None and not self._acks:
                    return
                if self.storage_fault is not None and not await self._try_recover():
                    self._held.report_lost(self.storage_fault)
                    return
                self._wake.set()  # written back while closing: go round once more for the deletes

    def _announce(self, events: list[Event]) -> None:
        """Accepted events (committed or held): wake their uplink lanes, tell ``committed``'s listeners."""
        self._wake_lanes(events)
        self.committed.emit(events)

    def _wake_lanes(self, events: list[Event]) -> None:
        if any(e.priority == Priority.ALARM for e in events):
            self.alarm_ready.set()
        if any(e.priority != Priority.ALARM for e in events):
            self.event_ready.set()

    def _keep_fresh(self) -> None:
        """Keep the alarm rows just committed for the alarm lane; the oldest beyond the bound are let go."""
        self._fresh.extend(self._store.last_alarm_rows)
        while len(self._fresh) > FRESH_ALARMS:
            self._fresh_floor = max(self._fresh_floor, self._fresh.popleft().seq)

    def _forget_fresh(self) -> None:
        """Rows were stored or removed another way (held, written back, imported, expired): read them back."""
        self._fresh.clear()
        self._fresh_floor = max(self._fresh_floor, self._store.next_seq - 1)

    async def import_rows(self, rows: Sequence[SalvagedRow]) -> int:
        """Put back rows salvaged from a damaged outbox (same seq, same body). Returns how many went in."""
        loop = asyncio.get_running_loop()
        n = await loop.run_in_executor(self._writer, self._store.import_rows, list(rows))
        self._forget_fresh()
        if self.stats.alarms:
            self.alarm_ready.set()
        if self.stats.rows > self.stats.alarms:
            self.event_ready.set()
        return n

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
            if dropped.get("alarm_ttl"):
                self._forget_fresh()
            if dropped:
                self.dropped.emit(dropped)

    def expire(self, now_ms: int | None = None) -> dict[str, int]:
        """Delete events older than their priority's TTL. Runs on the writer thread."""
        return self._store.expire(now_ms)

    # ---------------------------------------------------------------- disk space

    def _make_reserve(self) -> None:
        """Writer thread: set aside ``reserve_bytes`` of real disk blocks (best effort)."""
        make_reserve(self.reserve_path, self.settings.reserve_bytes)

    def _give_reserve(self) -> bool:
        """Writer thread: free the reserve (disk full). Returns False if there was none to give."""
        self.disk_full = True
        if not release_reserve(self.reserve_path):
            return False
        self._store.free_telemetry()
        return True

    def recheck_space(self) -> bool:
        """While the disk is full, look (at most once a second) whether space is back; re-make the reserve if so."""
        now = time.monotonic()
        if now - self._disk_checked < 1.0:
            return False
        self._disk_checked = now
        free = space_is_back(self.path.parent, self.settings.reserve_bytes)
        if free is None:
            return False
        self.disk_full = False
        self._writer.submit(self._make_reserve)
        log.warning("outbox: disk space is back (%d bytes free); accepting everything again", free)
        return True

    # ---------------------------------------------------------------- storage that cannot be written

    def _set_fault(self, reason: str, exc: BaseException) -> None:
        first = self.storage_fault is None
        self.storage_fault = reason
        self.stats.last_error = f"{FAULT_TEXT[reason]}: {type(exc).__name__}: {exc}"
        self._retry_at = time.monotonic() + self.retry_s
        if first:
            self.storage_changed.set()

    async def _enter_fault(self, exc: BaseException, events: int) -> None:
        """A commit failed because the storage refuses writes: go (or stay) degraded."""
        reason = await asyncio.get_running_loop().run_in_executor(self._writer, fault_reason, exc, self.path.parent)
        if self.storage_fault is None:
            log.error(
                "outbox: storage not writable (%s: %s; %d events in the failed commit). Alarms and alerts are "
                "held in memory (NOT durable) until it can be written again; telemetry and state are refused",
                FAULT_TEXT[reason],
                exc,
                events,
            )
        self._set_fault(reason, exc)

    def _hold_queued(self) -> None:
        taken = [*self._alarms, *self._others]
        self._alarms.clear()
        self._others.clear()
        self._hold(taken)

    def _hold(self, taken: list[_Pending]) -> None:
        """Degraded mode: accept the alarms and alerts of ``taken`` into memory, refuse (and count) the rest."""
        reason = self.storage_fault or "io_error"
        now = row_clock_ms()
        held: list[Event] = []
        counts: dict[str, int] = {}
        for p in taken:
            kept = 0
            for e in p.events:
                e.seq = None
                if self._held.admit(e, self._store.next_seq, now, reason, counts):
                    self._store.next_seq += 1
                    held.append(e)
                    kept += 1
            if p.future.done():
                continue
            if kept:
                p.future.set_result(None)
            else:
                p.future.set_exception(
                    OutboxError(f"storage {FAULT_TEXT[reason]}: not accepted (only alarms and alerts are held)")
                )
        if held:
            self._forget_fresh()
            self._announce(held)
        self._count_dropped(counts)

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
        held = self._held.begin_write_back()
        try:
            counts = await loop.run_in_executor(self._writer, self._store.write_back, held)
            await loop.run_in_executor(self._writer, self._make_reserve)
            await loop.run_in_executor(self._reader, self._store.reopen_reader)
        except (sqlite3.Error, OSError, OutboxError) as exc:
            self._held.write_back_failed()
            self._retry_at = time.monotonic() + self.retry_s
            if is_storage_fault(exc):
                log.debug("outbox: storage still not writable: %s", exc)
                return False
            text = f"{type(exc).__name__}: {exc}"  # e.g. a damaged file that could not be moved aside at start
            if self.stats.last_error != text:
                log.error("outbox: held events cannot be written back: %s", exc)
            self.stats.last_error = text
            return False
        self._held.written_back(held)
        self._forget_fresh()
        st = self.stats
        st.rows, st.bytes, st.alarms, st.oldest_ms = counts
        st.committed += len(held)
        st.commits += 1
        st.last_error = None
        was, self.storage_fault = self.storage_fault, None
        self.storage_changed.set()
        log.warning("outbox: storage writable again (was %s); %d held events written to disk", was, len(held))
        if st.alarms:  # stored rows unreadable while degraded are readable now
            self.alarm_ready.set()
        if st.rows > st.alarms:
            self.event_ready.set()
        self._wake.set()
        return True

    # ---------------------------------------------------------------- reading (uplink)

    async def fetch(self, alarms: bool, after_seq: int, limit: int, max_bytes: int) -> list[Row]:
        """Next rows of one lane (alarms, or everything else) in seq order, after ``after_seq``: stored ones,
        and in degraded mode the ones held in memory (they always come after the stored ones)."""
        if alarms and after_seq >= self._fresh_floor and self.storage_fault is None and not self._held:
            return self._from_fresh(after_seq, limit, max_bytes)
        loop = asyncio.get_running_loop()
        while True:
            try:
                rows = await loop.run_in_executor(self._reader, self._store.fetch, alarms, after_seq, limit, max_bytes)
            except sqlite3.Error as exc:
                if self.storage_fault is None:
                    raise
                # Failing storage may fail reads too: the held alarms still go out.
                log.warning("outbox: stored rows unreadable (%s); sending held events only", exc)
                rows = []
            if self._acked and rows:  # delivered, delete pending: not again
                kept = [r for r in rows if r.seq not in self._acked]
                if not kept:
                    after_seq = rows[-1].seq
                    continue
                rows = kept
            break
        if self._held:
            return self._held.merge(rows, alarms, after_seq, limit, max_bytes)
        return rows

    def _from_fresh(self, after_seq: int, limit: int, max_bytes: int) -> list[Row]:
        """The alarm lane's next rows from memory: every stored alarm above ``_fresh_floor`` is in ``_fresh``."""
        out: list[Row] = []
        total = 0
        for row in self._fresh:
            if row.seq <= after_seq or row.seq in self._acked:
                continue
            total += len(row.body)
            if out and (total > max_bytes or len(out) >= limit):
                break
            out.append(row)
        return out

    def depth(self) -> dict[str, object]:
        """Depth and age of the backlog, for status pages and the heartbeat."""
        st = self.stats
        age = None if st.oldest_ms is None else max(0, row_clock_ms() - st.oldest_ms) // 1000
        return {
            "disk_full": self.disk_full,
            "storage_fault": self.storage_fault,
            "held": len(self._held),  # in memory, not durable (degraded mode); counted in rows and alarms too
            "rows": max(0, st.rows - len(self._acked)),  # delivered rows waiting for their delete are not backlog
            "bytes": st.bytes,
            "alarms": st.alarms,
            "oldest_age_s": age,
            "dropped": dict(st.dropped),
            "last_error": st.last_error,
        }


def _noop() -> None:
    return None
