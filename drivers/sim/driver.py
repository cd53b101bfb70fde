"""Simulated devices: registered like real ones, reporting through the same sink as every driver."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Any

from pydantic import ValidationError

from core.devices import Device
from drivers.base import (
    Driver,
    DriverConfigError,
    DriverContext,
    DriverHealth,
    PairingUpdate,
    Reading,
    ReadingRefused,
)
from drivers.sim.config import TYPE_CAPABILITIES, SimDevice, SimSection, SimStep
from drivers.sim.scenario import DEMO_STEPS

log = logging.getLogger(__name__)

#: Least seconds between two log lines about vital signs the outbox refused (a read-only card refuses them all).
VITALS_LOG_INTERVAL_S = 60.0


class SimDriver(Driver):
    """A whole home of simulated devices, plus an optional scenario player."""

    transport = "sim"

    def __init__(self, settings: SimSection, ctx: DriverContext) -> None:
        super().__init__(ctx)
        self.settings = settings
        self._tasks: list[asyncio.Task[None]] = []
        self._health = DriverHealth("sim", "starting")
        self._pair_counter = 0

    @classmethod
    def from_section(cls, section: dict[str, Any], ctx: DriverContext) -> SimDriver:
        try:
            return cls(SimSection.model_validate(section), ctx)
        except ValidationError as exc:
            raise DriverConfigError(f"drivers.sim: {exc}") from exc

    async def start(self) -> None:
        for dev in self.settings.devices:
            await self._register(dev)
        steps = DEMO_STEPS if self.settings.play == "demo" else self.settings.steps
        if self.settings.play != "none" and steps:
            self._tasks.append(asyncio.create_task(self._play(steps), name="sim-scenario"))
        if self.settings.vitals_every_s:
            self._tasks.append(asyncio.create_task(self._vitals(), name="sim-vitals"))
        self._health.state = "up"

    async def _register(self, dev: SimDevice) -> Device:
        existing = self.ctx.registry.get(dev.id)
        if existing is not None and existing.transport == "sim":
            return existing
        device = Device(
            id=dev.id,
            type=dev.type,
            transport="sim",
            name=dev.name or dev.id,
            room=dev.room,
            capabilities=list(TYPE_CAPABILITIES[dev.type]),
            address=dev.id,
        )
        await self.ctx.registry.upsert(device, must_persist=False)  # from config: usable even on a read-only card
        return device

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._health.state = "stopped"

    async def inject(self, device: str, capability: str, value: Any, trace: str | None = None) -> None:
        """Make a simulated device report something (scenario, tests, the rig)."""
        await self.ctx.sink.reading(Reading(device, capability, value, trace=trace))

    async def _play(self, steps: list[SimStep]) -> None:
        while True:
            elapsed = 0.0
            for step in sorted(steps, key=lambda s: s.at_s):
                await asyncio.sleep(max(0.0, step.at_s - elapsed))
                elapsed = step.at_s
                if step.note:
                    log.info("sim: %s", step.note)
                try:
                    await self.inject(step.device, step.capability, step.value, trace=f"scenario:{step.at_s:g}")
                except (LookupError, ValueError) as exc:
                    self._health.counters["scenario_errors"] = self._health.counters.get("scenario_errors", 0) + 1
                    log.warning("sim: scenario step %s skipped: %s", step, exc)
            if not self.settings.loop:
                return
            await asyncio.sleep(5)

    async def _vitals(self) -> None:
        """Background heart and breathing rate from every simulated mattress.

        Readings the outbox refuses (telemetry, while the disk is full or the card read-only) are counted
        (``vitals_not_stored``) and logged at most once a minute; the next round tries again."""
        rng = random.Random(7)
        logged_at: float | None = None
        while True:
            await asyncio.sleep(self.settings.vitals_every_s)
            for dev in self.settings.devices:
                if dev.type == "mattress":
                    try:
                        await self.inject(dev.id, "heart_rate", rng.randint(62, 78))
                        await self.inject(dev.id, "breath_rate", rng.randint(13, 18))
                    except (LookupError, ValueError):
                        pass  # a reading the intake does not take (device removed): skipped, as ever
                    except ReadingRefused as exc:
                        counters = self._health.counters
                        counters["vitals_not_stored"] = counters.get("vitals_not_stored", 0) + 1
                        now = time.monotonic()
                        if logged_at is None or now - logged_at >= VITALS_LOG_INTERVAL_S:
                            logged_at = now
                            log.warning(
                                "sim: vital signs of %s not stored (%d so far; logged at most once a minute): %s",
                                dev.id,
                                counters["vitals_not_stored"],
                                exc,
                            )

    async def start_pairing(self, seconds: int) -> None:
        """A simulated device 'joins' a moment after pairing opens, so pages can be exercised end to end."""
        self.ctx.sink.pairing(PairingUpdate("sim", "open", remaining_s=seconds))
        self._pair_counter += 1
        dev_id = f"sim-new-{self._pair_counter}"

        async def join() -> None:
            await asyncio.sleep(0.2)
            self.ctx.sink.pairing(PairingUpdate("sim", "joined", dev_id))
            await self._register(SimDevice(id=dev_id, type="call_button"))
            self.ctx.sink.pairing(PairingUpdate("sim", "ready", dev_id, info={"type": "call_button"}))

        self._tasks.append(asyncio.create_task(join(), name="sim-pairing"))

    async def remove(self, device_id: str) -> None:
        await self.ctx.registry.remove(device_id)

    def health(self) -> DriverHealth:
        return self._health
