"""The rule engine the gateway calls for every reading and availability change."""

from __future__ import annotations

from pathlib import Path

from drivers.base import Reading
from gateway.clock import Clock
from gateway.events import DeviceRef, EventDraft, Priority
from gateway.registry import Device
from gateway.rules.immediate import ImmediateRules
from gateway.rules.settings import RulesSettings


class RuleEngine:
    """Runs the configured rules. Time comes from the injected clock; state lives under ``state_dir``."""

    def __init__(self, settings: RulesSettings, clock: Clock, state_dir: Path) -> None:
        self.settings = settings
        self.clock = clock
        self.state_dir = state_dir
        self.immediate = ImmediateRules(settings.battery_low_pct)

    def reconfigure(self, settings: RulesSettings) -> None:
        self.settings = settings
        self.immediate.battery_low_pct = settings.battery_low_pct

    def tick(self) -> list[EventDraft]:
        """Evaluate timed rules; called about once a second."""
        return []

    def on_reading(self, reading: Reading, device: Device) -> list[EventDraft]:
        return self.immediate.on_reading(reading, device)

    def on_availability(self, device: Device, online: bool, reason: str) -> list[EventDraft]:
        kind = "device.online" if online else "device.offline"
        prio = Priority.STATE if online else Priority.ALERT
        return [EventDraft(kind, prio, DeviceRef.of(device), {"reason": reason} if reason else {})]

    def on_radio(self, transport: str, up: bool, reason: str) -> list[EventDraft]:
        kind = "gateway.radio_restored" if up else "gateway.radio_lost"
        return [EventDraft(kind, Priority.ALERT, None, {"transport": transport, "reason": reason})]
