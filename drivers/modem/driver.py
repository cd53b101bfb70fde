"""The modem as a transport driver: configured as ``[drivers.modem]``, its health in ``fbgw status`` and the
heartbeat, a missing modem or unusable SIM reported as a radio fault.

The modem has no devices to pair: it is the gateway's second way out. The driver itself is the
``gateway.ports.Cellular`` port the second alarm path uses (``incoming_sms``, ``sms_blocked``, ``send_sms``, ``call``,
``was_sent``), delegating to :class:`~drivers.modem.modem.ModemManagerModem` (``.modem``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Literal

from pydantic import ValidationError

from core.phone import CallResult, IncomingSms, SmsResult
from core.signal import Signal
from drivers.base import Driver, DriverConfigError, DriverContext, DriverHealth, PairingUpdate, ReadingRefused
from drivers.modem.config import ModemSection
from drivers.modem.modem import ModemManagerModem
from drivers.modem.state import CellularHealth

log = logging.getLogger(__name__)

#: What ``not_ready`` means, for the status page and the radio-fault reason.
REASONS = {
    "no_modem": "no modem (ModemManager sees none)",
    "sim_missing": "SIM card missing",
    "sim_locked": "SIM locked (PIN/PUK required)",
    "sim_error": "SIM card error",
    "not_registered": "not registered on the cellular network",
    "modem_failed": "modem failed",
}


class ModemDriver(Driver):
    """See the module docstring."""

    transport = "modem"
    has_devices = False

    def __init__(self, settings: ModemSection, ctx: DriverContext) -> None:
        super().__init__(ctx)
        self.settings = settings
        self.modem = ModemManagerModem(settings)
        self._unsubscribe = self.modem.changed.connect(self._on_change)
        self._reports: asyncio.Queue[CellularHealth] = asyncio.Queue()
        self._reporter: asyncio.Task[None] | None = None
        self._radio_up: bool | None = None
        self._stopped = False
        self._grace_end = 0.0
        self._grace: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ the Cellular port

    @property
    def incoming_sms(self) -> Signal[IncomingSms]:
        """Every SMS received, from any number (the second path keeps those from its contacts)."""
        return self.modem.incoming_sms

    def sms_blocked(self) -> str | None:
        """None if an SMS can be sent now; else why not (``no_modem``, ``sim_missing``, ``not_registered``...)."""
        return self.modem.sms_blocked()

    async def send_sms(self, number: str, text: str) -> SmsResult:
        """Send one SMS of any length; never raises for a modem problem (see ``ModemManagerModem.send_sms``)."""
        return await self.modem.send_sms(number, text)

    async def call(self, number: str, ring_timeout_s: float) -> CallResult:
        """Dial; returns once answered (hung up after ``hold_s``), rung out, refused or failed."""
        return await self.modem.call(number, ring_timeout_s)

    async def was_sent(self, number: str, text: str) -> bool | None:
        """Whether the modem holds a sent SMS with this number and text (None: it cannot tell)."""
        return await self.modem.was_sent(number, text)

    # ------------------------------------------------------------------ driver

    @classmethod
    def from_section(cls, section: dict[str, Any], ctx: DriverContext) -> ModemDriver:
        try:
            settings = ModemSection.model_validate(section)
        except ValidationError as exc:
            raise DriverConfigError(f"drivers.modem: {exc}") from exc
        return cls(settings, ctx)

    async def start(self) -> None:
        self._grace_end = asyncio.get_running_loop().time() + self.settings.startup_grace_s
        self._reporter = asyncio.create_task(self._report_loop(), name="modem-report")
        await self.modem.start()
        if self.settings.startup_grace_s:
            self._grace = asyncio.get_running_loop().call_later(
                self.settings.startup_grace_s, lambda: self._on_change(self.modem.health())
            )

    async def stop(self) -> None:
        self._stopped = True
        self._unsubscribe()
        if self._grace is not None:
            self._grace.cancel()
        await self.modem.stop()
        if self._reporter is not None:
            self._reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reporter

    def _on_change(self, health: CellularHealth) -> None:
        if not self._stopped:
            self._reports.put_nowait(health)

    async def _report_loop(self) -> None:
        """Report the modem up or down to the gateway (a device fault), in order, once per change."""
        while True:
            health = await self._reports.get()
            if not self.modem.settled:
                continue  # not looked yet: "no modem" would be a false alarm
            up = health.ready
            if up == self._radio_up:
                continue
            if self._radio_up is None and not up and asyncio.get_running_loop().time() < self._grace_end:
                continue  # ModemManager may still be probing the modem: report after the grace period
            self._radio_up = up
            reason = "ready" if up else self._reason(health)
            try:
                await self.ctx.sink.radio("modem", up, reason)
            except (ReadingRefused, LookupError, ValueError) as exc:
                log.error("modem: could not report the modem %s: %s", "up" if up else "down", exc)

    def _reason(self, health: CellularHealth) -> str:
        if self.modem.bus_error:
            return self.modem.bus_error
        return REASONS.get(health.not_ready, health.not_ready)

    def health(self) -> DriverHealth:
        h = self.modem.health()
        state: Literal["up", "degraded", "down"]
        if h.ready:
            state = "up"
        elif h.present:
            state = "degraded"
        else:
            state = "down"
        parts = [h.model or "modem"] if h.present else []
        if not h.ready:
            parts.append(self._reason(h))
        if h.present:
            parts.append(f"sim {h.sim}")
            parts.append(h.registration + (f" {h.operator}" if h.operator else ""))
            if h.technology:
                parts.append(h.technology)
            if h.signal_pct is not None:
                parts.append(f"signal {h.signal_pct}%")
        if h.last_sms is not None:
            parts.append("last SMS " + h.last_sms.detail)
        counters = dict(h.counters)
        if h.signal_pct is not None:
            counters["signal_pct"] = h.signal_pct
        return DriverHealth("modem", "stopped" if self._stopped else state, ", ".join(parts), counters)

    async def start_pairing(self, seconds: int) -> None:
        self.ctx.sink.pairing(PairingUpdate("modem", "failed", detail="the modem has no devices to pair"))
        self.ctx.sink.pairing(PairingUpdate("modem", "closed"))

    async def remove(self, device_id: str) -> None:
        raise DriverConfigError("modem: the modem has no devices")
