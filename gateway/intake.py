"""Intake: the gateway's side of the driver interface (:class:`drivers.base.DriverSink`).

A reading is looked up in the registry, run through the rules, stamped into events and committed to the
outbox; the driver's ``await`` returns only after that commit.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from core.clock import Clock
from core.events import Event, EventDraft, make_event
from core.signal import Signal
from core.vocabulary import ANY_DEVICE_CAPABILITIES
from drivers.base import PairingUpdate, Reading
from gateway.outbox import Outbox
from gateway.registry import DeviceRegistry
from gateway.rules import RuleEngine
from gateway.rules.immediate import VALUE_CHECKS

log = logging.getLogger(__name__)


class UnknownDevice(LookupError):
    """A reading named a device that is not paired."""


class BadReading(ValueError):
    """A reading's capability or value is not in the vocabulary, or not one this device has."""


@dataclass(slots=True)
class DeviceSeen:
    """What the gateway last heard from a device (kept in memory; shown on pages and in the heartbeat)."""

    last_seen: float
    online: bool = True
    values: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class IntakeStats:
    readings: int = 0
    unknown_device: int = 0
    bad_reading: int = 0
    events: int = 0


class Intake:
    """Implements :class:`drivers.base.DriverSink` for every driver."""

    def __init__(
        self, gateway_id: str, clock: Clock, registry: DeviceRegistry, rules: RuleEngine, outbox: Outbox
    ) -> None:
        self.gateway_id = gateway_id
        self.clock = clock
        self.registry = registry
        self.rules = rules
        self.outbox = outbox
        self.seen: dict[str, DeviceSeen] = {}
        self.stats = IntakeStats()
        #: Live pairing progress from every driver (the technician's page listens).
        self.pairing_updates: Signal[PairingUpdate] = Signal("intake.pairing")

    def check(self, reading: Reading) -> None:
        """Raise :class:`UnknownDevice` / :class:`BadReading` if the reading cannot be taken."""
        device = self.registry.get(reading.device)
        if device is None:
            raise UnknownDevice(f"unknown device {reading.device!r}")
        check = VALUE_CHECKS.get(reading.capability)
        if check is None:
            raise BadReading(f"unknown capability {reading.capability!r}")
        if (
            device.capabilities
            and reading.capability not in device.capabilities
            and reading.capability not in ANY_DEVICE_CAPABILITIES
        ):
            raise BadReading(f"device {device.id!r} has no capability {reading.capability!r}")
        if not check(reading.value):
            raise BadReading(f"bad value {reading.value!r} for capability {reading.capability!r}")

    async def reading(self, reading: Reading) -> list[Event]:
        """Take a reading; returns the events it caused, after they are committed."""
        return await self.commit(self._evaluate(reading))

    async def readings(self, readings: list[Reading]) -> list[Event]:
        """Take several readings in order; their events share one commit."""
        drafts: list[EventDraft] = []
        for reading in readings:
            drafts += self._evaluate(reading)
        return await self.commit(drafts)

    def _evaluate(self, reading: Reading) -> list[EventDraft]:
        self.stats.readings += 1
        try:
            self.check(reading)
        except UnknownDevice:
            self.stats.unknown_device += 1
            log.warning("reading from unknown device %s dropped", reading.device)
            raise
        except BadReading as exc:
            self.stats.bad_reading += 1
            log.warning("bad reading from %s: %s", reading.device, exc)
            raise
        device = self.registry.get(reading.device)
        assert device is not None
        seen = self.seen.get(device.id)
        if seen is None:
            seen = self.seen[device.id] = DeviceSeen(last_seen=time.time())
        seen.last_seen = time.time()
        seen.values[reading.capability] = reading.value
        seen.meta.update(reading.meta)
        return self.rules.on_reading(reading, device)

    async def commit(self, drafts: list[EventDraft]) -> list[Event]:
        """Stamp drafts and store them; returns after the commit."""
        if not drafts:
            return []
        events = [make_event(d, self.gateway_id, self.clock) for d in drafts]
        state = self.rules.take_exact_state()  # the changes behind these events: same transaction
        try:
            await self.outbox.put(events, state)
        except BaseException:
            self.rules.exact_state_not_committed(state)
            raise
        self.stats.events += len(events)
        return events

    async def availability(self, device_id: str, online: bool, reason: str = "") -> None:
        device = self.registry.get(device_id)
        if device is None:
            log.warning("availability for unknown device %s ignored", device_id)
            return
        seen = self.seen.setdefault(device_id, DeviceSeen(last_seen=0.0))
        seen.online = online
        await self.commit(self.rules.on_availability(device, online, reason))

    async def radio(self, transport: str, up: bool, reason: str = "") -> None:
        log.log(logging.INFO if up else logging.ERROR, "radio %s %s %s", transport, "up" if up else "LOST", reason)
        await self.commit(self.rules.on_radio(transport, up, reason))

    def pairing(self, update: PairingUpdate) -> None:
        self.pairing_updates.emit(update)
