"""The ``test_mode`` service: turns installation test mode on for N minutes and off again by itself.

While on, the rule engine stamps ``test: true`` on every event it makes and the alarms raised never escalate
(:meth:`gateway.rules.engine.RuleEngine.set_test_mode`); the alarm service says "test received" instead of the
alarm prompts; the failover path reads the :class:`gateway.ports.TestMode` port and sends no SMS or call.
The platform sees ``gateway.test_mode_started`` (``minutes``, ``until_ts``, ``by``) and
``gateway.test_mode_ended`` (``reason``: ``expired`` | ``stopped``, ``by``). The deadline is kept on disk
(wall clock), so a restart in the middle resumes the countdown, and one after the deadline ends it at once.
Ending it resolves the test alarms still open (reason ``test_ended``): a real press afterwards is a new call,
never a "repeat" of a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

from core.atomic import write_atomic
from core.events import EventDraft, Priority
from core.signal import Signal

if TYPE_CHECKING:
    from gateway.context import ServiceContext

log = logging.getLogger(__name__)

STATE_FILE = "test_mode.json"
#: The longest test mode a technician or the platform may ask for.
MAX_MINUTES = 240


class TestModeService:
    """Service ``test_mode``; implements the :class:`gateway.ports.TestModeSwitch` port (and so ``TestMode``,
    which the second path reads)."""

    name = "test_mode"
    __test__ = False  # not a pytest class
    #: How often the countdown re-reads the wall clock (it may be set, or jump, meanwhile).
    recheck_s = 30.0

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.changed: Signal[bool] = Signal("test_mode.changed")
        self.until_ms: int | None = None
        self.by = ""
        self._timer: asyncio.Task[None] | None = None
        self._path = ctx.state_dir / STATE_FILE

    @property
    def test_mode_active(self) -> bool:
        return self.until_ms is not None

    # ------------------------------------------------------------------ lifetime

    async def start(self) -> None:
        saved = await asyncio.to_thread(self._load)
        if saved is None:
            return
        until, by = saved
        self.until_ms, self.by = until, by
        self.ctx.rules.set_test_mode(True)
        self.changed.emit(True)
        if until <= self.ctx.clock.wall_ms():
            await self._end("expired", "gateway")
        else:
            log.info("test mode resumed until %d (%s)", until, by)
            self._arm()

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None

    # ------------------------------------------------------------------ the port

    async def start_test(self, minutes: float, by: str) -> dict[str, Any]:
        if not 0 < minutes <= MAX_MINUTES:
            raise ValueError(f"minutes must be more than 0 and at most {MAX_MINUTES}")
        until = self.ctx.clock.wall_ms() + round(minutes * 60_000)
        self.until_ms, self.by = until, by[:64]
        await asyncio.to_thread(self._save)
        self.ctx.rules.set_test_mode(True)
        data = {"minutes": minutes, "until_ts": until, "by": self.by, "test": True}
        await self.ctx.emit([EventDraft("gateway.test_mode_started", Priority.ALERT, None, data)])
        self.changed.emit(True)
        self._arm()
        log.info("test mode on for %g min (%s)", minutes, self.by)
        return {"active": True, "until_ts": until, "minutes": minutes}

    async def end_test(self, by: str) -> dict[str, Any]:
        if self.test_mode_active:
            if self._timer is not None and self._timer is not asyncio.current_task():
                self._timer.cancel()
            await self._end("stopped", by[:64])
        return {"active": False}

    def status(self) -> dict[str, Any]:
        return {"active": self.test_mode_active, "until_ts": self.until_ms, "by": self.by or None}

    # ------------------------------------------------------------------ helpers

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.ctx.supervise(self._expire(), name="test-mode")

    async def _expire(self) -> None:
        while self.until_ms is not None:
            left = (self.until_ms - self.ctx.clock.wall_ms()) / 1000
            if left <= 0:
                await self._end("expired", "gateway")
                return
            await asyncio.sleep(min(left, self.recheck_s))

    async def _end(self, reason: str, by: str) -> None:
        self.until_ms = None
        closed = self.ctx.rules.set_test_mode(False)  # the test alarms still open are resolved
        await asyncio.to_thread(self._path.unlink, True)
        ended = EventDraft("gateway.test_mode_ended", Priority.ALERT, None, {"reason": reason, "by": by})
        await self.ctx.emit([*closed, ended])
        self.changed.emit(False)
        log.info("test mode ended (%s, %s)", reason, by)

    def _save(self) -> None:
        write_atomic(self._path, json.dumps({"until_ts": self.until_ms, "by": self.by}).encode())

    def _load(self) -> tuple[int, str] | None:
        try:
            doc = json.loads(self._path.read_text())
            return int(doc["until_ts"]), str(doc.get("by", ""))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("test mode: %s unreadable (%s); test mode off", self._path, exc)
            return None
