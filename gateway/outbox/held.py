"""Degraded mode's memory: alarms and alerts accepted while the storage cannot be written.

A pull-cord alarm must get out even when the SD card has turned read-only. Such events are held here, IN
MEMORY, which is NOT durable (a crash or power cut loses them): bounded (``held_max_events``), handed to the
uplink like stored rows (after the stored ones of their lane), forgotten on PUBACK, and written back with their
seq when the storage takes writes again. When the queue is full an alarm takes the place of the oldest held
alert; alerts are refused; an alarm is refused only when nothing but alarms is held. Held events are counted in
the outbox's ``rows``, ``bytes`` and ``alarms`` too, so the uplink retries fast while an alarm waits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from core.events import Event, Priority
from gateway.outbox.faults import FAULT_TEXT
from gateway.outbox.rows import Row
from gateway.outbox.stats import OutboxStats

log = logging.getLogger("gateway.outbox")  # one logger for the whole outbox: the journal is filtered by it


@dataclass(frozen=True, slots=True)
class Held:
    """An event accepted while the storage cannot be written: in memory only, until written or acknowledged."""

    row: Row
    created_ms: int


class HeldQueue:
    """The held events in seq order, at most ``limit`` of them; keeps their part of ``stats``.

    Used from the event loop only; the write-back snapshot (:meth:`begin_write_back`) is what the writer thread
    sees."""

    def __init__(self, limit: int, stats: OutboxStats) -> None:
        self.limit = max(1, limit)
        self.stats = stats
        self._held: dict[int, Held] = {}  # seq -> event, in seq order
        self._flushing: frozenset[int] = frozenset()  # seqs being written to disk right now

    def __len__(self) -> int:
        return len(self._held)

    def admit(self, event: Event, seq: int, now_ms: int, reason: str, counts: dict[str, int]) -> bool:
        """Hold ``event`` as ``seq`` if it may be held, else count it as dropped (``<priority>_<reason>``).

        Alarms and alerts only; when full, an alarm pushes out the oldest held alert (counted too)."""
        if event.priority > Priority.ALERT or not self._make_room(event.priority, reason, counts):
            key = f"{event.priority.label}_{reason}"
            counts[key] = counts.get(key, 0) + 1
            return False
        event.seq = seq
        row = Row(seq, int(event.priority), event.to_bytes())
        self._held[seq] = Held(row, now_ms)
        st = self.stats
        st.rows += 1
        st.bytes += len(row.body)
        st.alarms += event.priority == Priority.ALARM
        if st.oldest_ms is None:
            st.oldest_ms = now_ms
        return True

    def _make_room(self, prio: Priority, reason: str, counts: dict[str, int]) -> bool:
        """Whether one more event of ``prio`` may be held; an alarm pushes out the oldest held alert."""
        if len(self._held) < self.limit:
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

    def release(self, seqs: Iterable[int]) -> list[int]:
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

    def merge(self, stored: list[Row], alarms: bool, after_seq: int, limit: int, max_bytes: int) -> list[Row]:
        """Add held rows of the lane to ``stored``. Past the last stored row only when there is none: more stored
        rows may follow it (limit, byte budget), and the lane's cursor must not skip them."""
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

    # ---------------------------------------------------------------- writing back

    def begin_write_back(self) -> list[Held]:
        """Everything held, now being written to disk (an acknowledgement meanwhile must delete it there too)."""
        held = list(self._held.values())
        self._flushing = frozenset(h.row.seq for h in held)
        return held

    def written_back(self, held: list[Held]) -> None:
        """``held`` is on disk now: forget it. Only the write loop adds held events, so nothing else is left."""
        for h in held:
            self._held.pop(h.row.seq, None)
        self._flushing = frozenset()

    def write_back_failed(self) -> None:
        self._flushing = frozenset()

    def report_lost(self, fault: str | None) -> None:
        """Closing while the storage still refuses writes: say what is lost."""
        if not self._held:
            return
        alarms = sum(1 for h in self._held.values() if h.row.prio == Priority.ALARM)
        log.error(
            "outbox: closing with %d undelivered events held in memory (%d alarms) that could not be written "
            "(storage %s): they are lost",
            len(self._held),
            alarms,
            FAULT_TEXT.get(fault or "", "not writable"),
        )
