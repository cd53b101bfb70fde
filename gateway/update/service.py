"""Confirm an update on trial (uplink online, drivers started, outbox writable, within ``update_health_s``) or
return to the previous slot and restart; report the outcome as ``gateway.updated`` / ``gateway.update_failed``.

The install half is the ``update`` command (:mod:`gateway.remote.actions`); the crash-loop half runs at boot
(:mod:`gateway.slots.boot`). The outcome event of a rollback is sent by the previous version after its restart,
from the state file, so it is never lost with the version that failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from core.events import EventDraft, Priority
from gateway.slots import guard
from gateway.slots import state as update_state
from gateway.slots.layout import Layout

if TYPE_CHECKING:
    from gateway.context import ServiceContext
    from gateway.ports import Restart

log = logging.getLogger(__name__)
UPDATED = "gateway.updated"
FAILED = "gateway.update_failed"
#: Driver states that count as started.
STARTED = ("up", "degraded")


class UpdateService:
    def __init__(self, ctx: ServiceContext, restart: Restart) -> None:
        self.ctx = ctx
        self.restart = restart
        self.result: str | None = None  # "committed" / "rolled_back" once decided (tests, status)

    async def start(self) -> None:
        st = update_state.load(self.ctx.state_dir)
        if st is None:
            return
        if st.phase in ("rolled_back", "failed") and not st.reported:
            # A rollback, or an update interrupted before its switch whose command never got a result.
            await self._report(st, FAILED)
        elif st.phase in guard.ON_TRIAL:
            st.phase = "health_checking"
            update_state.save(self.ctx.state_dir, st)
            self.ctx.supervise(self._confirm(st), name="update-confirm")

    async def stop(self) -> None:
        return None

    def _missing(self) -> list[str]:
        missing = []
        if self.ctx.uplink.stats.state != "online":
            missing.append("uplink not online")
        for h in self.ctx.driver_health():
            if h.state not in STARTED:
                missing.append(f"driver {h.transport} {h.state}")
        return missing

    async def _confirm(self, st: update_state.UpdateState) -> None:
        settings = self.ctx.config().remote
        deadline = time.monotonic() + settings.update_health_s
        missing = self._missing()
        while missing and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            missing = self._missing()
        if not missing:
            try:
                # Committing the event proves the outbox writable. A kill before the journal says committed
                # checks again at the next start, and may send the event twice (never zero times).
                await self._emit(st, UPDATED)
            except Exception as exc:
                missing = [f"outbox not writable: {exc}"]
            else:
                st.phase, st.reported = "committed", True
                update_state.save(self.ctx.state_dir, st)
        if missing:
            await self._roll_back(st, "; ".join(missing))
            return
        self.result = "committed"
        log.warning("update to %s confirmed", st.to_version)

    async def _roll_back(self, st: update_state.UpdateState, reason: str) -> None:
        log.error("update to %s failed its check (%s): back to slot %s", st.to_version, reason, st.from_slot)
        st.phase, st.reason, st.reported = "rolling_back", f"health check: {reason}", False
        update_state.save(self.ctx.state_dir, st)  # a kill from here on: the next start finishes the switch back
        Layout(self.ctx.config().remote.update_root).switch(st.from_slot)
        st.phase = "rolled_back"
        update_state.save(self.ctx.state_dir, st)
        self.result = "rolled_back"
        self.restart.request_restart()  # the previous version reports gateway.update_failed when it is back

    async def _report(self, st: update_state.UpdateState, kind: str) -> None:
        await self._emit(st, kind)
        st.reported = True
        update_state.save(self.ctx.state_dir, st)

    async def _emit(self, st: update_state.UpdateState, kind: str) -> None:
        data: dict[str, Any] = {"from": st.from_version, "to": st.to_version, "slot": st.to_slot}
        if kind == FAILED:
            data["reason"] = st.reason
        await self.ctx.emit([EventDraft(kind, Priority.ALERT if kind == FAILED else Priority.STATE, None, data)])
