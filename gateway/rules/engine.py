"""The rule engine the gateway calls for every reading and availability change."""

from __future__ import annotations

from drivers.base import Reading
from gateway.events import DeviceRef, EventDraft, Priority
from gateway.registry import Device
from gateway.rules.immediate import ImmediateRules


class RuleEngine:
    """Runs the configured rules. Pure: no I/O, no clocks of its own."""

    def __init__(self, battery_low_pct: int = 20) -> None:
        self.immediate = ImmediateRules(battery_low_pct)

    def on_reading(self, reading: Reading, device: Device) -> list[EventDraft]:
        return self.immediate.on_reading(reading, device)

    def on_availability(self, device: Device, online: bool, reason: str) -> list[EventDraft]:
        kind = "device.online" if online else "device.offline"
        prio = Priority.STATE if online else Priority.ALERT
        return [EventDraft(kind, prio, DeviceRef.of(device), {"reason": reason} if reason else {})]

    def on_radio(self, transport: str, up: bool, reason: str) -> list[EventDraft]:
        kind = "gateway.radio_restored" if up else "gateway.radio_lost"
        return [EventDraft(kind, Priority.ALERT, None, {"transport": transport, "reason": reason})]
