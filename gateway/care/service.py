"""The ``care`` service: runs the care book (:mod:`gateway.care.book`) on committed events and the wall clock.

It listens to committed events (a care-button press, the pill box opening, a caregiver's badge, motion, bed,
doors, alarms), ticks every ``tick_s`` seconds, commits what the book decides, and keeps the book in
``care-state.json`` so a restart carries on mid-routine. A reminder coming due is said and shown through the
feedback port ("reminder"), only while no alarm is being shown; a check-in is thanked ("checkin_received").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from core.atomic import write_atomic
from core.events import Event, EventDraft
from gateway.care.book import CareBook

if TYPE_CHECKING:
    from core.signal import Unsubscribe
    from gateway.config import Config
    from gateway.context import ServiceContext
    from gateway.ports import FeedbackDisplay

log = logging.getLogger(__name__)

STATE_FILE = "care-state.json"
#: Feedback states the care routines may replace (never an alarm's); the one replaced comes back afterwards.
_QUIET_STATES = frozenset({"normal", "uplink_down", "reminder", "checkin_received"})


class CareService:
    name = "care"
    tick_s = 5.0

    def __init__(self, ctx: ServiceContext, feedback: FeedbackDisplay) -> None:
        self.ctx = ctx
        self.feedback = feedback
        cfg = ctx.config()
        self.book = CareBook(cfg.care, ZoneInfo(cfg.gateway.timezone))
        self.stats: dict[str, int] = {"events": 0, "errors": 0}
        self._unsubscribe: Unsubscribe | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._underneath = "normal"  # what was shown before a reminder (the network-down light stays honest)
        self._path = ctx.state_dir / STATE_FILE

    async def start(self) -> None:
        if not self.ctx.config().care.enabled:
            return
        doc = await asyncio.to_thread(self._load)
        if doc is not None:
            self.book.restore(doc)
        self._unsubscribe = self.ctx.committed.connect(self._committed)
        await self.tick()
        self._task = self.ctx.supervise(self._ticker(), name="care")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=5)
        await self._save()

    async def reconfigure(self, config: Config) -> None:
        """New schedules (local or pushed by the platform) apply from the next tick; what is due stays due."""
        self.book.settings = config.care
        self.book.tz = ZoneInfo(config.gateway.timezone)

    def status(self) -> dict[str, Any]:
        return {"due": self.book.due_now(), "visits": sorted(self.book.visits), "stats": dict(self.stats)}

    # ------------------------------------------------------------------ time

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            await self.tick()

    async def tick(self) -> None:
        """Evaluate the schedule now (tests call this after moving the fake clock)."""
        if not self.ctx.clock.synced():
            return  # no schedule can be kept against an unset clock
        await self._commit(self.book.tick(self.ctx.clock.wall_ms()))

    # ------------------------------------------------------------------ events

    def _committed(self, events: Sequence[Event]) -> None:
        drafts: list[EventDraft] = []
        for event in events:
            if event.kind.startswith("care."):
                continue
            try:
                drafts += self.book.on_event(event)
            except Exception:  # runs in the outbox writer's path: a bug here must never stop it
                self.stats["errors"] += 1
                log.exception("care: event %s not understood", event.kind)
        if drafts or self.book.dirty:
            task = asyncio.get_running_loop().create_task(self._commit(drafts), name="care-commit")
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _commit(self, drafts: list[EventDraft]) -> None:
        if drafts:
            self.stats["events"] += len(drafts)
            try:
                await self.ctx.emit(drafts)
            except Exception as exc:  # storage refused it (logged by the outbox)
                log.error("care: %s not stored: %s", ", ".join(d.kind for d in drafts), exc)
            self._show(drafts)
        if self.book.dirty:
            await self._save()

    def _show(self, drafts: list[EventDraft]) -> None:
        kinds = {d.kind for d in drafts}
        shown = self.feedback.current
        if shown not in _QUIET_STATES:
            return  # an alarm is being shown: it matters more
        if shown in ("normal", "uplink_down"):
            self._underneath = shown
        if "care.reminder_due" in kinds:
            self.feedback.signal("reminder")
        elif "care.checkin" in kinds:
            self.feedback.signal("checkin_received")
        elif shown == "reminder" and not self.book.due_now():
            self.feedback.signal(self._underneath)

    # ------------------------------------------------------------------ persistence

    async def _save(self) -> None:
        self.book.dirty = False
        data = json.dumps(self.book.dump(), ensure_ascii=False).encode()
        try:
            await asyncio.to_thread(write_atomic, self._path, data)
        except OSError as exc:
            log.error("care: state not saved: %s", exc)

    def _load(self) -> dict[str, Any] | None:
        try:
            doc = json.loads(self._path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("care: %s unreadable (%s); starting afresh", self._path, exc)
            return None
        return doc if isinstance(doc, dict) else None
