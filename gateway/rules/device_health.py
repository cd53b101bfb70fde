"""Device health: offline and back online, as alerts (low battery is in :mod:`gateway.rules.immediate`).

Drivers say when a device goes offline or comes back (``sink.availability``); this rule reports only changes,
so a driver repeating "offline" raises one ``device.offline``. With ``silent_after_s`` set it also reports a
device offline (``reason: silent``) when nothing at all has been heard from it for that long, and online again
(``reason: heard``) at its next reading.
"""

from __future__ import annotations

from typing import Any

from core.devices import Device
from core.events import DeviceRef, EventDraft, Priority
from drivers.base import Reading
from gateway.rules.base import ref_of, seconds
from gateway.rules.settings import RulesSettings
from gateway.rules.state import since_after_restart
from gateway.rules.windows import Now


class DeviceHealthRule:
    name = "device_health"

    def __init__(self, settings: RulesSettings) -> None:
        self.dirty = False
        self.online: dict[str, bool] = {}
        self.silent: set[str] = set()  # offline because silent (not because a driver said so)
        self.heard: dict[str, int] = {}  # device id -> monotonic ms of its last reading
        self.refs: dict[str, DeviceRef] = {}
        self.reconfigure(settings)

    def reconfigure(self, settings: RulesSettings) -> None:
        self.settings = settings.device_health

    def availability(self, device: Device, online: bool, reason: str) -> list[EventDraft]:
        """A driver's availability report: an event when it changes the known state."""
        self.silent.discard(device.id)
        if self.online.get(device.id) == online:
            return []
        self.online[device.id] = online
        self.refs[device.id] = DeviceRef.of(device)
        self.dirty = True
        kind = "device.online" if online else "device.offline"
        prio = Priority.STATE if online else Priority.ALERT
        return [EventDraft(kind, prio, DeviceRef.of(device), {"reason": reason} if reason else {})]

    def on_reading(self, reading: Reading, device: Device, now: Now) -> list[EventDraft]:
        self.heard[device.id] = now.mono_ms
        self.refs[device.id] = DeviceRef.of(device)
        if device.id not in self.silent:
            return []
        self.silent.discard(device.id)
        self.online[device.id] = True
        self.dirty = True
        return [EventDraft("device.online", Priority.STATE, DeviceRef.of(device), {"reason": "heard"}, reading.trace)]

    def tick(self, now: Now) -> list[EventDraft]:
        limit_ms = self.settings.silent_after_s * 1000
        if limit_ms <= 0:
            return []
        out: list[EventDraft] = []
        for dev_id, heard in self.heard.items():
            if self.online.get(dev_id) is False or now.mono_ms - heard < limit_ms:
                continue
            self.online[dev_id] = False
            self.silent.add(dev_id)
            self.dirty = True
            data = {"reason": "silent", "silent_s": seconds(now.mono_ms - heard)}
            out.append(EventDraft("device.offline", Priority.ALERT, self.refs[dev_id], data))
        return out

    def dump(self) -> dict[str, Any]:
        return {
            "online": self.online,
            "silent": sorted(self.silent),
            "heard": self.heard,
            "refs": {k: r.as_json() for k, r in self.refs.items()},
        }

    def restore(self, doc: dict[str, Any], saved_boot: str, now: Now) -> None:
        refs = doc.get("refs", {}) if isinstance(doc.get("refs"), dict) else {}
        for dev_id, raw in refs.items():
            ref = ref_of(raw)
            if ref is not None:
                self.refs[dev_id] = ref
        online = doc.get("online", {})
        if isinstance(online, dict):
            self.online = {k: v for k, v in online.items() if isinstance(v, bool)}
        self.silent = {d for d in doc.get("silent", []) if isinstance(d, str)}
        heard = doc.get("heard", {})
        if isinstance(heard, dict):
            for dev_id, ms in heard.items():
                t = since_after_restart(ms if isinstance(ms, int) else None, saved_boot, now.mono_ms, now.boot)
                if t is not None and dev_id in self.refs:
                    self.heard[dev_id] = t
