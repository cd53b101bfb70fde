"""Rule state on disk, so an alarm active before a restart is still active after it.

One small JSON file (``rules-state.json`` in the state directory), replaced atomically
(:func:`core.atomic.write_atomic`): a power cut leaves the old or the new state, never a mix. It is read
once when the engine is built, before any reading arrives (a few KB), and written off the event loop, at most
one write at a time: changes made during a write are picked up by the next one. A write starts ``settle_s``
after the change that asked for it, so it never competes for the disk with the outbox commit of the very alarm
that changed the state, and a burst of changes is one write. The alarm itself is already durable in the
outbox; what a power cut in that moment can lose is only the book's note of it, and a repeated press then opens
a new alarm (more calls, never fewer).

Timers are saved as monotonic milliseconds with the boot id. After a restart in the same boot the monotonic
clock has kept running, so a timer continues exactly; after a reboot the time in between is unknown and
:func:`since_after_restart` restarts the timer from "now" (a rule then fires late rather than early and
without cause).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.atomic import write_atomic

log = logging.getLogger(__name__)

STATE_FILE = "rules-state.json"
VERSION = 1
#: Delay between a change and its write (see the module docstring).
SETTLE_S = 0.2


def since_after_restart(saved_ms: int | None, saved_boot: str, now_ms: int, now_boot: str) -> int | None:
    """A saved monotonic timestamp, valid in this process: kept in the same boot, else restarted at now."""
    if saved_ms is None:
        return None
    if saved_boot == now_boot and saved_ms <= now_ms:
        return saved_ms
    return now_ms


class StateFile:
    """Loads and saves the rule state document."""

    def __init__(self, path: Path, settle_s: float = SETTLE_S) -> None:
        self.path = path
        self.settle_s = settle_s
        self.writes = 0
        self.errors = 0
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self._write_now = asyncio.Event()

    def load(self) -> dict[str, Any]:
        """The saved document, or ``{}`` when there is none or it is unreadable (then moved aside)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            log.error("rule state %s unreadable, starting fresh: %s", self.path, exc)
            return {}
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict) or doc.get("version") != VERSION:
                raise ValueError("not a rule state document of this version")
        except ValueError as exc:
            aside = self.path.with_name(self.path.name + ".corrupt")
            log.error("rule state %s corrupt (%s), moved to %s, starting fresh", self.path, exc, aside.name)
            try:
                self.path.replace(aside)
            except OSError:
                pass
            return {}
        return doc

    @staticmethod
    def encode(doc: dict[str, Any]) -> bytes:
        return json.dumps({"version": VERSION, **doc}, separators=(",", ":"), ensure_ascii=False).encode()

    def save_now(self, doc: dict[str, Any]) -> None:
        """Write synchronously (tests, shutdown from a thread)."""
        write_atomic(self.path, self.encode(doc))
        self.writes += 1

    def mark_dirty(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        """Schedule a background write of ``snapshot()`` (taken on the loop, written in a thread)."""
        self._dirty = True
        if self._task is not None and not self._task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (plain unit tests): the caller flushes with save_now if it wants to
            return
        self._task = loop.create_task(self._writer(snapshot), name="rules-state-writer")

    async def _writer(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._write_now.wait(), self.settle_s)
        while self._dirty:
            self._dirty = False
            data = self.encode(snapshot())
            try:
                await asyncio.to_thread(write_atomic, self.path, data)
                self.writes += 1
            except OSError as exc:
                self.errors += 1
                self._dirty = True  # retried by the next change or tick
                log.error("rule state not saved: %s", exc)
                return

    async def flush(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        """Write a pending change at once (no settling), then once more if anything changed meanwhile."""
        if self._task is not None:
            self._write_now.set()
            try:
                await asyncio.shield(self._task)
            finally:
                self._write_now.clear()
        if self._dirty:
            self._dirty = False
            try:
                await asyncio.to_thread(write_atomic, self.path, self.encode(snapshot()))
                self.writes += 1
            except OSError as exc:
                self.errors += 1
                self._dirty = True
                log.error("rule state not saved: %s", exc)

    @property
    def dirty(self) -> bool:
        return self._dirty
