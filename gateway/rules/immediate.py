"""Immediate mapping of readings to events: one table, no timers.

A change of ``contact``, ``in_bed`` or an alarm capability always yields an event; repeats of a steady value
(the same contact state reported twice) do not. Every press is a new press.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.devices import Device
from core.events import DeviceRef, EventDraft, Priority
from core.vocabulary import VALUE_CHECKS as VALUE_CHECKS
from drivers.base import Reading
from gateway.rules.exact import ExactState, StateEntry
from gateway.rules.settings import RulesSettings
from gateway.rules.windows import Now


@dataclass(frozen=True, slots=True)
class EventSpec:
    """How one capability becomes an event: kind and priority when true/active, and when cleared."""

    kind: str
    priority: Priority
    cleared_kind: str | None = None
    cleared_priority: Priority = Priority.ALERT
    every_report: bool = False  # True: each reading is an event (presses, telemetry); False: changes only


#: capability -> event mapping. The rules engine adds timed rules on top of this.
READING_EVENTS: Mapping[str, EventSpec] = {
    "press": EventSpec("alarm.emergency_call", Priority.ALARM, every_report=True),
    "release": EventSpec("state.button_released", Priority.STATE, every_report=True),
    "smoke": EventSpec("alarm.smoke", Priority.ALARM, "alarm.smoke.cleared"),
    "gas": EventSpec("alarm.gas", Priority.ALARM, "alarm.gas.cleared"),
    "leak": EventSpec("alarm.leak", Priority.ALARM, "alarm.leak.cleared"),
    "wet": EventSpec("alert.wet", Priority.ALERT, "alert.wet.cleared", Priority.STATE),
    "tamper": EventSpec("device.tamper", Priority.ALERT, "device.tamper.cleared"),
    "trouble": EventSpec("device.trouble", Priority.ALERT, "device.trouble.cleared", Priority.STATE),
    "mains_fault": EventSpec("device.mains_fault", Priority.ALERT, "device.mains_fault.cleared", Priority.STATE),
    "mains_lost": EventSpec("power.mains_lost", Priority.ALERT, "power.mains_restored", Priority.ALERT),
    "battery_low": EventSpec("device.battery_low", Priority.ALERT, "device.battery_ok", Priority.STATE),
    "checkin": EventSpec("state.care_button", Priority.STATE, every_report=True),
    "beacon": EventSpec("state.badge_seen", Priority.STATE, every_report=True),
    "contact": EventSpec("state.door", Priority.STATE),
    "in_bed": EventSpec("state.bed", Priority.STATE),
    "motion": EventSpec("state.motion", Priority.STATE, every_report=True),
    "heart_rate": EventSpec("telemetry.vitals", Priority.TELEMETRY, every_report=True),
    "breath_rate": EventSpec("telemetry.vitals", Priority.TELEMETRY, every_report=True),
    "battery": EventSpec("telemetry.battery", Priority.TELEMETRY, every_report=True),
    # Only a long press counts (a brush against the button must not open the page); see on_reading.
    "install": EventSpec("install.window_requested", Priority.ALERT, every_report=True),
    # The driver sends it once, when it finds out: a device whose presses are refused must be seen at once.
    "needs_readoption": EventSpec("device.needs_readoption", Priority.ALERT, every_report=True),
}

#: Reading meta copied into the event's data: signal, the gesture (``event``; Zigbee also names it ``gesture``:
#: single/double/long/emergency) and which button of a multi-button device (``index``: the button number or
#: Zigbee endpoint; ``button``: a name such as left/middle/right), battery, hold time, why.
_META_KEYS = frozenset({"rssi", "lqi", "event", "gesture", "index", "button", "battery", "held_ms", "reason"})

#: Capabilities whose value is a state carried in ``data`` rather than an on/off condition.
_VALUE_KEYS: Mapping[str, str] = {
    "contact": "contact",
    "in_bed": "in_bed",
    "heart_rate": "heart_rate",
    "breath_rate": "breath_rate",
    "battery": "battery",
}


class ImmediateRules:
    """Turns each reading into zero or more drafts, remembering the last value to detect changes.

    The remembered values of on/off conditions (smoke on, tamper open...) and states (door, bed) decide whether a
    reading is a change, so they must be exactly as durable as the events that report the change: every change
    is queued as an exact-state entry (:class:`gateway.rules.exact.ExactState`), which the intake commits in the
    same outbox transaction as the reading's events. After a restart a repeated "smoke" is then not a new alarm,
    a "smoke cleared" still clears the old one, and the first "door closed" after a crash is never taken for a
    repeat of a state that was never reported.
    """

    name = "immediate"

    def __init__(self, battery_low_pct: int = 20) -> None:
        self.battery_low_pct = battery_low_pct
        self.dirty = False
        self._last: dict[tuple[str, str], Any] = {}
        self.exact = ExactState()

    def reconfigure(self, settings: RulesSettings) -> None:
        self.battery_low_pct = settings.battery_low_pct

    def tick(self, now: Now) -> list[EventDraft]:
        return []

    def on_reading(self, reading: Reading, device: Device, now: Now | None = None) -> list[EventDraft]:
        spec = READING_EVENTS.get(reading.capability)
        if spec is None or (reading.capability == "install" and reading.meta.get("event") != "long_press"):
            return []
        key = (device.id, reading.capability)
        previous = self._last.get(key)
        self._last[key] = reading.value
        if not spec.every_report and previous != reading.value:
            self.dirty = True
            self.exact.changed(_state_key(key), reading.value)
        ref = DeviceRef.of(device)
        data: dict[str, Any] = {"capability": reading.capability, "value": reading.value}
        data.update({k: v for k, v in reading.meta.items() if k in _META_KEYS})
        out: list[EventDraft] = []
        if spec.every_report or reading.capability in _VALUE_KEYS:
            if spec.every_report or previous != reading.value:
                out.append(EventDraft(spec.kind, spec.priority, ref, data, reading.trace))
        elif reading.value is True:
            if previous is not True:
                out.append(EventDraft(spec.kind, spec.priority, ref, data, reading.trace))
        elif previous is True and spec.cleared_kind:
            out.append(EventDraft(spec.cleared_kind, spec.cleared_priority, ref, data, reading.trace))
        if reading.capability == "battery":
            low = reading.value < self.battery_low_pct
            was_low = self._last.get((device.id, "battery_low<"), False)
            self._last[(device.id, "battery_low<")] = low
            if low != was_low:
                self.dirty = True
                self.exact.changed(_state_key((device.id, "battery_low<")), low)
            if low and not was_low:
                out.append(
                    EventDraft(
                        "device.battery_low",
                        Priority.ALERT,
                        ref,
                        {"battery": reading.value, "threshold": self.battery_low_pct},
                        reading.trace,
                    )
                )
        return out

    def dump(self) -> dict[str, Any]:
        """The remembered values worth keeping (conditions and states, not presses or telemetry)."""
        return {
            f"{dev}|{cap}": value
            for (dev, cap), value in self._last.items()
            if cap == "battery_low<" or not READING_EVENTS[cap].every_report
        }

    def restore(self, doc: dict[str, Any], saved_boot: str = "", now: Now | None = None) -> None:
        """From the rule state file (written a moment after a change, so it may lag the events)."""
        for key, value in doc.items():
            dev, sep, cap = key.rpartition("|")
            if sep and (cap == "battery_low<" or cap in READING_EVENTS):
                self._last[(dev, cap)] = value

    def restore_exact(self, entries: Iterable[StateEntry]) -> None:
        """From the outbox's committed state: it replaces what the state file said.

        No entries (first start with an outbox that had none): what the file gave is queued, so it goes into
        the next commit and the outbox holds the whole state from then on."""
        saved = self.exact.load(entries)
        if not saved:
            for (dev, cap), value in self._last.items():
                if _tracked(cap):
                    self.exact.changed(_state_key((dev, cap)), value)
            return
        self._last = {k: v for k, v in self._last.items() if not _tracked(k[1])}
        for key, value in saved.items():
            dev, sep, cap = key.rpartition("|")
            if sep and _tracked(cap):
                self._last[(dev, cap)] = value

    def condition(self, device_id: str, capability: str) -> Any:
        """The remembered value of a capability of a device (None if never heard)."""
        return self._last.get((device_id, capability))


def _tracked(cap: str) -> bool:
    """A remembered value that decides whether a later reading is a change."""
    return cap == "battery_low<" or (cap in READING_EVENTS and not READING_EVENTS[cap].every_report)


def _state_key(key: tuple[str, str]) -> str:
    return f"{key[0]}|{key[1]}"


#: Alarm kind -> the condition capability that raises and clears it (smoke, gas, leak).
CONDITION_ALARMS: Mapping[str, str] = {
    spec.kind: cap
    for cap, spec in READING_EVENTS.items()
    if spec.priority == Priority.ALARM and spec.cleared_kind and not spec.every_report
}
