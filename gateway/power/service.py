"""The ``power`` service: mains and battery from UPower, an orderly power-off before the battery runs out, and
the downtime after a power cut.

- UPower (``[power] upower``): ``OnBattery`` turning on/off gives ``power.mains_lost`` / ``power.mains_restored``
  (alert; ``source: "upower"``); on battery below ``battery_low_pct``, ``power.battery_low`` (alert), and
  ``power.battery_ok`` once on mains again. Below ``shutdown_pct`` (or with less than ``shutdown_before_empty_s``
  left) it commits ``power.shutdown`` and asks logind to power off: systemd stops the gateway as on any stop
  (intake stopped, outbox committed and closed), so nothing is lost when the battery dies.
- A wired mains-loss line (GPIO kind ``mains_detect``) gives the same two events through the rules.
- Every ``alive_interval_s`` the wall time is written to ``last_alive.json`` (only with a synchronised clock);
  a start on a new boot reports ``power.downtime`` (``down_s``, ``last_alive_ts``, ``cause``: ``power_cut``
  when the last record was not a clean stop, else ``shutdown``), once the clock is synchronised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.events import EventDraft, Priority
from gateway.power import alive
from gateway.power.upower import BatteryState, PowerBus, PowerBusError

if TYPE_CHECKING:
    from gateway.config import Config
    from gateway.context import ServiceContext

log = logging.getLogger(__name__)


class PowerService:
    name = "power"
    #: Between committing ``power.shutdown`` and asking for the power-off (the uplink may deliver it meanwhile).
    poweroff_delay_s = 2.0

    def __init__(self, ctx: ServiceContext, *, bus_factory: Callable[[], PowerBus] = PowerBus) -> None:
        self.ctx = ctx
        self.settings = ctx.config().power
        self._bus_factory = bus_factory
        self.bus: PowerBus | None = None
        self.battery: BatteryState | None = None
        self.low_reported = False
        self.shutting_down = False
        self.downtime_reported = False
        self.poweroff_asked = False
        self.last_error = ""
        self.stats: dict[str, int] = {"reads": 0, "read_errors": 0, "poweroff_errors": 0}
        self._tasks: list[asyncio.Task[Any]] = []
        self._previous: alive.Alive | None = None

    # ------------------------------------------------------------------ lifetime

    async def start(self) -> None:
        if not self.settings.enabled:
            return
        self._previous = await asyncio.to_thread(alive.read, self.ctx.state_dir)
        self._tasks.append(self.ctx.supervise(self._keep_alive(), name="power-alive"))
        if self.settings.upower is not False:
            self.bus = self._bus_factory()
            try:
                await self.bus.connect()
                self.battery = None
                await self.poll_once()
            except PowerBusError as exc:
                if self.settings.upower == "auto":
                    log.info("power: no UPower (%s); battery not watched", exc)
                    self.bus.close()
                    self.bus = None
                else:
                    log.error("power: UPower: %s (retrying)", exc)
            if self.bus is not None:
                self._tasks.append(self.ctx.supervise(self._watch(), name="power-upower"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self.bus is not None:
            self.bus.close()
            self.bus = None
        if self.settings.enabled and self.ctx.clock.synced():
            stamp = self.ctx.clock.stamp()
            await asyncio.to_thread(alive.write, self.ctx.state_dir, alive.Alive(stamp.wall_ms, stamp.boot, True))

    async def reconfigure(self, config: Config) -> None:
        """Thresholds apply at the next reading; switching UPower on or off needs a restart."""
        self.settings = config.power

    def status(self) -> dict[str, Any]:
        b = self.battery
        return {
            "upower": self.bus is not None,
            "on_battery": b.on_battery if b else None,
            "percentage": b.percentage if b else None,
            "shutting_down": self.shutting_down,
            "last_error": self.last_error,
            "stats": dict(self.stats),
        }

    # ------------------------------------------------------------------ downtime

    async def _keep_alive(self) -> None:
        while True:
            if self.ctx.clock.synced():
                stamp = self.ctx.clock.stamp()
                if not self.downtime_reported:
                    self.downtime_reported = True
                    await self._report_downtime(stamp.wall_ms, stamp.boot)
                record = alive.Alive(stamp.wall_ms, stamp.boot, False)
                await asyncio.to_thread(alive.write, self.ctx.state_dir, record)
            await asyncio.sleep(self.settings.alive_interval_s)

    async def _report_downtime(self, now_ms: int, boot: str) -> None:
        previous = self._previous
        if previous is None or previous.boot == boot:
            return  # first start, or the same boot (a service restart is no power cut)
        data = {
            "down_s": max(0, round((now_ms - previous.ts) / 1000)),
            "last_alive_ts": previous.ts,
            "cause": "shutdown" if previous.clean else "power_cut",
        }
        log.warning("power: gateway was down %d s (%s)", data["down_s"], data["cause"])
        await self.ctx.emit([EventDraft("power.downtime", Priority.ALERT, None, data)])

    # ------------------------------------------------------------------ battery

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.settings.poll_s)
            try:
                await self.poll_once()
            except PowerBusError as exc:
                self.stats["read_errors"] += 1
                if exc.args[0] != self.last_error:
                    log.error("power: %s", exc)
                self.last_error = str(exc)

    async def poll_once(self) -> None:
        """Read UPower and commit what changed."""
        assert self.bus is not None
        now = await self.bus.battery()
        self.stats["reads"] += 1
        self.last_error = ""
        before, self.battery = self.battery, now
        s = self.settings
        data: dict[str, Any] = {"source": "upower", "percentage": now.percentage}
        if now.time_to_empty_s:
            data["time_to_empty_s"] = now.time_to_empty_s
        drafts: list[EventDraft] = []
        if (before is None and now.on_battery) or (before is not None and before.on_battery != now.on_battery):
            kind = "power.mains_lost" if now.on_battery else "power.mains_restored"
            drafts.append(EventDraft(kind, Priority.ALERT, None, dict(data)))
        if now.on_battery and now.present and now.percentage < s.battery_low_pct and not self.low_reported:
            self.low_reported = True
            drafts.append(EventDraft("power.battery_low", Priority.ALERT, None, dict(data)))
        elif not now.on_battery and self.low_reported:
            self.low_reported = False
            drafts.append(EventDraft("power.battery_ok", Priority.STATE, None, dict(data)))
        empty_soon = 0 < now.time_to_empty_s <= s.shutdown_before_empty_s
        shutdown = now.on_battery and now.present and (now.percentage <= s.shutdown_pct or empty_soon)
        if shutdown and not self.shutting_down:
            self.shutting_down = True
            drafts.append(EventDraft("power.shutdown", Priority.ALERT, None, {**data, "poweroff": s.poweroff}))
        if drafts:
            await self.ctx.emit(drafts)
        if shutdown and not self.poweroff_asked:
            await self._power_off()

    async def _power_off(self) -> None:
        self.poweroff_asked = True
        log.warning("power: battery nearly empty; powering off cleanly")
        if not self.settings.poweroff or self.bus is None:
            return
        await asyncio.sleep(self.poweroff_delay_s)
        try:
            await self.bus.poweroff()
        except PowerBusError as exc:
            self.stats["poweroff_errors"] += 1
            log.error("power: power-off refused: %s", exc)
