"""Vital signs: heart or breathing rate out of range for a while, or no breathing, while in bed.

Per device and measure, an unbroken run of out-of-range readings is timed on the monotonic clock from its
first reading; a reading that comes ``for_s`` or more after the start of the run, still out of range, raises
the alarm (``alarm.heart_rate_abnormal`` / ``alarm.breath_rate_abnormal``). An in-range reading ends the run
and clears the alarm (``<kind>.cleared``). A breathing rate of 0 is "no breathing detected": it has its own
run and alarm (``alarm.no_breathing``, after ``no_breath_s``) and is not judged against the range.

Judged on readings only (sensors report every few seconds): a sensor that falls silent raises nothing here;
that is device health's business. A device's vitals count only while it is in bed: readings from a mattress
that said ``in_bed = false`` are ignored, and getting out of bed clears its vitals alarms. A device that never
reported ``in_bed`` (a wearable, or a mattress before its first report) is taken to be in bed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.devices import Device
from core.events import DeviceRef, EventDraft, Priority
from drivers.base import Reading
from gateway.rules.base import ref_of, seconds
from gateway.rules.settings import RulesSettings, VitalsSettings
from gateway.rules.state import since_after_restart
from gateway.rules.windows import Now


@dataclass(frozen=True, slots=True)
class Measure:
    kind: str
    bounds: Callable[[VitalsSettings], tuple[int, int]]


MEASURES: Mapping[str, Measure] = {
    "heart_rate": Measure("alarm.heart_rate_abnormal", lambda s: (s.heart_min, s.heart_max)),
    "breath_rate": Measure("alarm.breath_rate_abnormal", lambda s: (s.breath_min, s.breath_max)),
}
NO_BREATH = "alarm.no_breathing"


@dataclass(slots=True)
class _Device:
    ref: DeviceRef
    in_bed: bool | None = None
    since: dict[str, int] = field(default_factory=dict)  # alarm kind -> monotonic ms the run started
    alarmed: set[str] = field(default_factory=set)  # alarm kinds raised and not cleared


class VitalsRule:
    name = "vitals"

    def __init__(self, settings: RulesSettings) -> None:
        self.dirty = False
        self.devices: dict[str, _Device] = {}
        self.reconfigure(settings)

    def reconfigure(self, settings: RulesSettings) -> None:
        self.settings = settings.vitals

    def tick(self, now: Now) -> list[EventDraft]:
        return []

    def on_reading(self, reading: Reading, device: Device, now: Now) -> list[EventDraft]:
        cap = reading.capability
        if cap != "in_bed" and cap not in MEASURES:
            return []
        dev = self.devices.get(device.id)
        if dev is None:
            dev = self.devices[device.id] = _Device(DeviceRef.of(device))
        dev.ref = DeviceRef.of(device)
        if cap == "in_bed":
            return self._bed(dev, reading)
        if dev.in_bed is False or not self.settings.enabled:
            return []
        value = reading.value
        if cap == "breath_rate" and value == 0:
            return self._run(dev, NO_BREATH, True, self.settings.no_breath_s, reading, now, {})
        out: list[EventDraft] = []
        if cap == "breath_rate":
            out += self._run(dev, NO_BREATH, False, self.settings.no_breath_s, reading, now, {})
        low, high = MEASURES[cap].bounds(self.settings)
        limits = {"min": low, "max": high}
        out += self._run(dev, MEASURES[cap].kind, not low <= value <= high, self.settings.for_s, reading, now, limits)
        return out

    def _bed(self, dev: _Device, reading: Reading) -> list[EventDraft]:
        if dev.in_bed == reading.value:
            return []
        dev.in_bed = reading.value
        self.dirty = True
        if reading.value:
            return []
        dev.since.clear()
        cleared = sorted(dev.alarmed)
        dev.alarmed.clear()
        return [
            EventDraft(f"{kind}.cleared", Priority.ALERT, dev.ref, {"reason": "out_of_bed"}, reading.trace)
            for kind in cleared
        ]

    def _run(
        self,
        dev: _Device,
        kind: str,
        bad: bool,
        limit_s: float,
        reading: Reading,
        now: Now,
        limits: dict[str, int],
    ) -> list[EventDraft]:
        """Advance one run: ``bad`` readings extend it (and raise once it is long enough), a good one ends it."""
        data: dict[str, Any] = {"measure": reading.capability, "value": reading.value, **limits}
        if not bad:
            changed = dev.since.pop(kind, None) is not None
            if kind not in dev.alarmed:
                self.dirty |= changed
                return []
            dev.alarmed.discard(kind)
            self.dirty = True
            return [EventDraft(f"{kind}.cleared", Priority.ALERT, dev.ref, data, reading.trace)]
        if kind not in dev.since:
            dev.since[kind] = now.mono_ms
            self.dirty = True
        run_ms = now.mono_ms - dev.since[kind]
        if kind in dev.alarmed or limit_s <= 0 or run_ms < limit_s * 1000:
            return []
        dev.alarmed.add(kind)
        self.dirty = True
        data.update(for_s=seconds(run_ms), threshold_s=limit_s)
        return [EventDraft(kind, Priority.ALARM, dev.ref, data, reading.trace)]

    def dump(self) -> dict[str, Any]:
        return {
            dev_id: {"ref": d.ref.as_json(), "in_bed": d.in_bed, "since": d.since, "alarmed": sorted(d.alarmed)}
            for dev_id, d in self.devices.items()
        }

    def restore(self, doc: dict[str, Any], saved_boot: str, now: Now) -> None:
        for dev_id, d in doc.items():
            ref = ref_of(d.get("ref")) if isinstance(d, dict) else None
            if ref is None:
                continue
            in_bed = d.get("in_bed")
            since_doc = d.get("since") if isinstance(d.get("since"), dict) else {}
            since = {
                k: t
                for k, v in since_doc.items()
                if (t := since_after_restart(v if isinstance(v, int) else None, saved_boot, now.mono_ms, now.boot))
                is not None
            }
            alarmed = {k for k in d.get("alarmed", []) if isinstance(k, str)}
            self.devices[dev_id] = _Device(ref, in_bed if isinstance(in_bed, bool) else None, since, alarmed)
