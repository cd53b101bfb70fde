"""Doors: left open too long (an alarm), and opened at night (an alert, where configured).

Per door (any device reporting ``contact``): the time it opened is kept on the monotonic clock; once it has
been open ``open_max_s`` the rule raises ``alarm.door_left_open`` for that door, cleared by
``alarm.door_left_open.cleared`` when it closes (and re-armed: the next long opening is a new alarm).
With ``night_alert`` on, an opening inside the night window raises ``alert.door_opened_at_night`` once per
opening; while the clock is not synchronised the night is unknown and no such alert is raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.devices import Device
from core.events import DeviceRef, EventDraft, Priority
from drivers.base import Reading
from gateway.rules.base import ref_of, seconds
from gateway.rules.settings import RulesSettings
from gateway.rules.state import since_after_restart
from gateway.rules.windows import Now


@dataclass(slots=True)
class _Door:
    ref: DeviceRef
    state: str  # "open" / "closed"
    open_since: int | None = None  # monotonic ms
    alarmed: bool = False


class DoorOpenRule:
    name = "door"

    def __init__(self, settings: RulesSettings) -> None:
        self.dirty = False
        self.doors: dict[str, _Door] = {}
        self.reconfigure(settings)

    def reconfigure(self, settings: RulesSettings) -> None:
        self.settings = settings.door
        self.night = settings.night

    def on_reading(self, reading: Reading, device: Device, now: Now) -> list[EventDraft]:
        if reading.capability != "contact":
            return []
        door = self.doors.get(device.id)
        previous = door.state if door else None
        if previous == reading.value:
            return []
        ref = DeviceRef.of(device)
        if door is None:
            door = self.doors[device.id] = _Door(ref, reading.value)
        door.ref, door.state = ref, reading.value
        self.dirty = True
        out: list[EventDraft] = []
        if reading.value == "open":
            door.open_since = now.mono_ms
            if self.settings.night_alert and self.night.contains(now.local):
                data = {
                    "night_window": str(self.night),
                    "local_time": now.local.strftime("%H:%M") if now.local else None,
                }
                out.append(EventDraft("alert.door_opened_at_night", Priority.ALERT, ref, data, reading.trace))
        else:
            open_ms = now.mono_ms - door.open_since if door.open_since is not None else None
            door.open_since = None
            if door.alarmed:
                door.alarmed = False
                cleared = {"open_s": seconds(open_ms) if open_ms is not None else None}
                out.append(EventDraft("alarm.door_left_open.cleared", Priority.ALERT, ref, cleared, reading.trace))
        return out

    def tick(self, now: Now) -> list[EventDraft]:
        limit_ms = self.settings.open_max_s * 1000
        if limit_ms <= 0:
            return []
        out: list[EventDraft] = []
        for door in self.doors.values():
            if door.alarmed or door.open_since is None:
                continue
            open_ms = now.mono_ms - door.open_since
            if open_ms >= limit_ms:
                door.alarmed = True
                self.dirty = True
                data = {"open_s": seconds(open_ms), "threshold_s": self.settings.open_max_s}
                out.append(EventDraft("alarm.door_left_open", Priority.ALARM, door.ref, data))
        return out

    def dump(self) -> dict[str, Any]:
        return {
            dev_id: {"ref": d.ref.as_json(), "state": d.state, "open_since": d.open_since, "alarmed": d.alarmed}
            for dev_id, d in self.doors.items()
        }

    def restore(self, doc: dict[str, Any], saved_boot: str, now: Now) -> None:
        for dev_id, d in doc.items():
            ref = ref_of(d.get("ref")) if isinstance(d, dict) else None
            if ref is None or d.get("state") not in ("open", "closed"):
                continue
            since = since_after_restart(d.get("open_since"), saved_boot, now.mono_ms, now.boot)
            self.doors[dev_id] = _Door(ref, d["state"], since if d["state"] == "open" else None, bool(d.get("alarmed")))
