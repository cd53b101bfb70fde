"""One wired input as a state machine: edges in, readings out.

Edges arrive in bursts (contact bounce, noise on a long cord). A change counts only once the line has been
quiet for ``debounce_ms``; a burst that ends where it began is a glitch and is dropped. The reading carries
the kernel timestamp of the burst's first edge (when the contact actually moved) and of the settling edge.

Momentary inputs (pull cord, call button) report ``press`` when asserted and again, with
``meta["event"] = "long_press"``, if still held after ``long_press_ms``. Letting go is ``release`` (its own
capability with ``held_ms``, a state event: a press has no "false", and a call is never cleared by its
button).

Normally-closed loops are supervised: a cut wire opens the loop, which at first looks like a pull (and is
reported as one: it cannot be told apart and a missed call is worse than a false one), but a loop still open
after ``cut_after_ms`` is reported as ``tamper`` true, until it closes again. An NC loop found open at start
is reported as ``tamper`` at once; a normally-open button found closed at start is ``trouble`` (stuck).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from drivers.base import Reading
from drivers.gpio.config import InputSettings
from drivers.gpio.lines import Edge

log = logging.getLogger(__name__)

Emit = Callable[[Reading], None]
Count = Callable[[str], None]


class Channel:
    """Debounce, long press and loop supervision for one input. Runs on the event loop; never blocks."""

    def __init__(self, spec: InputSettings, emit: Emit, count: Count) -> None:
        self.spec = spec
        self.kind = spec.spec
        self.device_id = spec.device_id
        self._emit = emit
        self._count = count
        self._loop = asyncio.get_running_loop()
        self.stable: bool | None = None  # debounced logical level (True = active)
        self._pending: Edge | None = None  # last edge of the current burst
        self._burst_first_ns = 0
        self._burst_edges = 0
        self._last_seqno: int | None = None
        self._settle: asyncio.TimerHandle | None = None
        self._long: asyncio.TimerHandle | None = None
        self._cut: asyncio.TimerHandle | None = None
        self._asserted_ns = 0
        self._pressed = False  # a press was reported and not yet released
        self.tamper = False
        self.trouble = False
        self.last_release_ms: int | None = None  # how long the last press was held

    # ------------------------------------------------------------------ input

    def asserted(self, level: bool) -> bool:
        """Whether a logical line level means the input is asserted (pressed, in alarm, door open)."""
        return level if self.spec.contact == "no" else not level

    def begin(self, level: bool, now_ns: int | None = None) -> None:
        """Take the line's level at start: state kinds report it; a suspicious level is reported at once."""
        now_ns = time.monotonic_ns() if now_ns is None else now_ns
        self.stable = level
        asserted = self.asserted(level)
        if asserted:
            self._asserted_ns = now_ns
        meta = self._meta("at_start", now_ns, now_ns, 0)
        if not self.kind.momentary:
            self._send(self.kind.capability, self.kind.asserted if asserted else self.kind.idle, meta, now_ns)
            if asserted:
                self._arm_supervision(now_ns)
            return
        if not asserted:
            return
        if self.spec.contact == "nc":
            self.tamper = True
            log.warning("%s: loop open at start: wire cut or cord latched", self.spec.where)
            self._send("tamper", True, {**meta, "event": "loop_open_at_start"}, now_ns)
        else:
            self.trouble = True
            log.warning("%s: contact closed at start: button stuck", self.spec.where)
            self._send("trouble", True, {**meta, "event": "stuck_at_start"}, now_ns)

    def on_edges(self, edges: Iterable[Edge]) -> None:
        """Edges read from the line; settles them after ``debounce_ms`` of quiet."""
        for edge in edges:
            self._count("edges")
            if self._last_seqno is not None and edge.seqno > self._last_seqno + 1:
                self._count("edges_lost")
            if edge.seqno:
                self._last_seqno = edge.seqno
            if self._pending is None:
                self._burst_first_ns = edge.ts_ns
                self._burst_edges = 0
            self._pending = edge
            self._burst_edges += 1
        if self._pending is None:
            return
        if self._settle is not None:
            self._settle.cancel()
        if self.spec.debounce_ms == 0:
            self._settled()
        else:
            self._settle = self._loop.call_later(self.spec.debounce_ms / 1000, self._settled)

    def close(self) -> None:
        """Cancel every timer (the line is being released)."""
        for handle in (self._settle, self._long, self._cut):
            if handle is not None:
                handle.cancel()
        self._settle = self._long = self._cut = None

    # ------------------------------------------------------------------ transitions

    def _settled(self) -> None:
        self._settle = None
        edge, self._pending = self._pending, None
        if edge is None:
            return
        if edge.active == self.stable:
            self._count("glitches")  # the burst came back where it started: bounce or noise
            return
        self.stable = edge.active
        if self._burst_edges > 1:
            self._count("bounces")
        meta = self._meta("", self._burst_first_ns, edge.ts_ns, self._burst_edges)
        if self.asserted(edge.active):
            self._on_assert(meta)
        else:
            self._on_clear(meta)

    def _on_assert(self, meta: dict[str, Any]) -> None:
        ts_ns = meta["ts_ns"]
        self._asserted_ns = ts_ns
        if self.kind.momentary:
            self._pressed = True
            self._send(self.kind.capability, True, {**meta, "event": "press"}, ts_ns)
            if self.spec.long_press_ms:
                self._long = self._at(ts_ns, self.spec.long_press_ms, self._long_press)
        else:
            self._send(self.kind.capability, self.kind.asserted, {**meta, "event": "asserted"}, ts_ns)
        self._arm_supervision(ts_ns)

    def _on_clear(self, meta: dict[str, Any]) -> None:
        ts_ns = meta["ts_ns"]
        for handle in (self._long, self._cut):
            if handle is not None:
                handle.cancel()
        self._long = self._cut = None
        if self.kind.momentary:
            held_ms = (ts_ns - self._asserted_ns) // 1_000_000 if self._asserted_ns else None
            self.last_release_ms = held_ms
            self._count("releases")
            log.info("%s: released (held %s ms, kernel ts %d ns)", self.spec.where, held_ms, ts_ns)
            self._pressed, pressed = False, self._pressed
            if self.kind.capability == "press" and pressed:  # only a press it reported (not stuck at start)
                self._send("release", True, {**meta, "event": "release", "held_ms": held_ms}, ts_ns)
        else:
            self._send(self.kind.capability, self.kind.idle, {**meta, "event": "cleared"}, ts_ns)
        if self.tamper:
            self.tamper = False
            self._send("tamper", False, {**meta, "event": "loop_restored"}, ts_ns)
        if self.trouble:
            self.trouble = False
            self._send("trouble", False, {**meta, "event": "released"}, ts_ns)
        self._asserted_ns = 0

    def _long_press(self) -> None:
        self._long = None
        now_ns = time.monotonic_ns()
        held_ms = (now_ns - self._asserted_ns) // 1_000_000
        meta = {**self._meta("long_press", self._asserted_ns, self._asserted_ns, 0), "held_ms": held_ms}
        self._send(self.kind.capability, True, meta, now_ns)

    def _arm_supervision(self, since_ns: int) -> None:
        ms = self.spec.supervision_ms
        if ms and not self.tamper:
            self._cut = self._at(since_ns, ms, self._loop_cut)

    def _loop_cut(self) -> None:
        self._cut = None
        now_ns = time.monotonic_ns()
        open_ms = (now_ns - self._asserted_ns) // 1_000_000 if self._asserted_ns else None
        self.tamper = True
        log.warning("%s: normally-closed loop open for %s ms: wire cut?", self.spec.where, open_ms)
        meta = {**self._meta("loop_open", self._asserted_ns or now_ns, now_ns, 0), "open_ms": open_ms}
        self._send("tamper", True, meta, now_ns)

    # ------------------------------------------------------------------ helpers

    def _at(self, since_ns: int, after_ms: int, callback: Callable[[], None]) -> asyncio.TimerHandle:
        """Call ``callback`` ``after_ms`` after the kernel time ``since_ns`` (CLOCK_MONOTONIC)."""
        delay_s = max(0.0, (since_ns + after_ms * 1_000_000 - time.monotonic_ns()) / 1e9)
        return self._loop.call_later(delay_s, callback)

    def _meta(self, event: str, ts_ns: int, settled_ns: int, edges: int) -> dict[str, Any]:
        return {
            "event": event,
            "ts_ns": ts_ns,
            "settled_ns": settled_ns,
            "edges": edges,
            "chip": self.spec.chip,
            "line": self.spec.line,
        }

    def _send(self, capability: str, value: Any, meta: dict[str, Any], ts_ns: int) -> None:
        self._count("readings")
        self._emit(Reading(self.device_id, capability, value, mono_ms=ts_ns // 1_000_000, meta=meta))
