"""Bed exit at night: out of bed inside the night window and not back within ``return_within_s``.

Per bed (any device reporting ``in_bed``): getting out of bed while the local time is inside the night window
starts a timer on the monotonic clock; getting back in stops it. If it runs out, ``alarm.bed_exit`` is raised
for that bed and cleared (``alarm.bed_exit.cleared``) when the elder is back in bed; the next night exit
is a new alarm. Getting up outside the night window starts nothing, and neither does getting up while the
clock is not synchronised (the night is unknown then); a timer already running keeps running.
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
class _Bed:
    ref: DeviceRef
    in_bed: bool
    out_since: int | None = None  # monotonic ms of a night exit being timed
    alarmed: bool = False


class BedExitRule:
    name = "bed_exit"

    def __init__(self, settings: RulesSettings) -> None:
        self.dirty = False
        self.beds: dict[str, _Bed] = {}
        self.reconfigure(settings)

    def reconfigure(self, settings: RulesSettings) -> None:
        self.settings = settings.bed_exit
        self.night = settings.night

    def on_reading(self, reading: Reading, device: Device, now: Now) -> list[EventDraft]:
        if reading.capability != "in_bed":
            return []
        bed = self.beds.get(device.id)
        if bed is not None and bed.in_bed == reading.value:
            return []
        ref = DeviceRef.of(device)
        if bed is None:
            bed = self.beds[device.id] = _Bed(ref, reading.value)
        bed.ref, bed.in_bed = ref, reading.value
        self.dirty = True
        if not reading.value:
            at_night = self.settings.enabled and self.night.contains(now.local)
            bed.out_since = now.mono_ms if at_night else None
            return []
        out_ms = now.mono_ms - bed.out_since if bed.out_since is not None else None
        bed.out_since = None
        if not bed.alarmed:
            return []
        bed.alarmed = False
        data = {"out_s": seconds(out_ms) if out_ms is not None else None}
        return [EventDraft("alarm.bed_exit.cleared", Priority.ALERT, ref, data, reading.trace)]

    def tick(self, now: Now) -> list[EventDraft]:
        if not self.settings.enabled:
            return []
        limit_ms = self.settings.return_within_s * 1000
        out: list[EventDraft] = []
        for bed in self.beds.values():
            if bed.alarmed or bed.out_since is None:
                continue
            out_ms = now.mono_ms - bed.out_since
            if out_ms >= limit_ms:
                bed.alarmed = True
                self.dirty = True
                data = {
                    "out_s": seconds(out_ms),
                    "threshold_s": self.settings.return_within_s,
                    "night_window": str(self.night),
                }
                out.append(EventDraft("alarm.bed_exit", Priority.ALARM, bed.ref, data))
        return out

    def dump(self) -> dict[str, Any]:
        return {
            dev_id: {"ref": b.ref.as_json(), "in_bed": b.in_bed, "out_since": b.out_since, "alarmed": b.alarmed}
            for dev_id, b in self.beds.items()
        }

    def restore(self, doc: dict[str, Any], saved_boot: str, now: Now) -> None:
        for dev_id, b in doc.items():
            ref = ref_of(b.get("ref")) if isinstance(b, dict) else None
            if ref is None or not isinstance(b.get("in_bed"), bool):
                continue
            since = since_after_restart(b.get("out_since"), saved_boot, now.mono_ms, now.boot)
            self.beds[dev_id] = _Bed(ref, b["in_bed"], None if b["in_bed"] else since, bool(b.get("alarmed")))
