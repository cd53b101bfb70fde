"""Inactivity: no activity sensed for too long inside the day windows (lying too long, a fall).

Activity is motion, a door opening or closing, or getting into or out of bed. Only time spent inside a day
window counts towards the threshold, so a night's sleep does not raise an alarm at breakfast; the count goes
on across windows (an elder not seen all afternoon and all morning has been still for a long time), and any
activity resets it. The rule arms itself on the first activity ever sensed: a home without motion, door or
bed sensors never raises it.

While the elder is out (the last activity was a door, then nothing moved for ``away_after_s``) the rule is
suspended and ``state.presence`` says so; any activity resumes it. With the clock not synchronised the day
windows are unknown, so they are set aside: the rule keeps counting around the clock, except while a mattress
says the elder is in bed (the night's sleep cannot be told from the clock then). A fall must not go unnoticed
because the box booted without network time.

Events: ``alarm.inactivity`` (no device: the whole home), cleared by the next activity with
``alarm.inactivity.cleared``; ``state.presence`` ``{"present": false|true}`` when the elder goes out or is back.
"""

from __future__ import annotations

from typing import Any

from core.devices import Device
from core.events import EventDraft, Priority
from drivers.base import Reading
from gateway.rules.base import seconds
from gateway.rules.settings import InactivitySettings, RulesSettings
from gateway.rules.state import since_after_restart
from gateway.rules.windows import Now, inside_ms

#: Capabilities that are activity, and whether only a change of value counts (a door re-reporting "closed"
#: is not someone moving).
ACTIVITY: dict[str, bool] = {"motion": False, "contact": True, "in_bed": True}
#: Save the running count at most this often (a write per tick would wear out the SD card).
SAVE_EVERY_MS = 60_000


class InactivityRule:
    name = "inactivity"

    def __init__(self, settings: RulesSettings) -> None:
        self.dirty = False
        self.armed = False
        self.accum_ms = 0
        self.alarmed = False
        self.away = False
        self.last_device: str | None = None
        self.last_capability: str | None = None
        self.last_mono: int | None = None
        self.values: dict[str, Any] = {}  # "device|capability" -> last value (change detection)
        self._last_tick: int | None = None
        self._saved_accum = 0
        self.reconfigure(settings)

    def reconfigure(self, settings: RulesSettings) -> None:
        self.settings: InactivitySettings = settings.inactivity
        self.windows = self.settings.windows

    # ------------------------------------------------------------------ inputs

    def on_reading(self, reading: Reading, device: Device, now: Now) -> list[EventDraft]:
        changes_only = ACTIVITY.get(reading.capability)
        if changes_only is None:
            return []
        if changes_only:
            key = f"{device.id}|{reading.capability}"
            if self.values.get(key, object()) == reading.value:
                return []
            self.values[key] = reading.value
        elif reading.value is not True:
            return []
        return self._activity(device.id, reading.capability, now, reading.trace)

    def _activity(self, device_id: str, capability: str, now: Now, trace: str | None) -> list[EventDraft]:
        out: list[EventDraft] = []
        # Save only what a restart would get wrong: routine motion every few seconds must not wear the SD card.
        self.dirty |= not self.armed or self._saved_accum > 0 or capability != self.last_capability
        self.armed = True
        self.accum_ms = 0
        self._saved_accum = 0
        self.last_device, self.last_capability, self.last_mono = device_id, capability, now.mono_ms
        self._last_tick = now.mono_ms  # count from the activity, not from the tick before it
        cause = {"device": device_id, "capability": capability}
        if self.alarmed:
            self.alarmed = False
            self.dirty = True
            out.append(EventDraft("alarm.inactivity.cleared", Priority.ALERT, None, {"activity": cause}, trace))
        if self.away:
            self.away = False
            self.dirty = True
            out.append(EventDraft("state.presence", Priority.STATE, None, {"present": True, "activity": cause}, trace))
        return out

    def tick(self, now: Now) -> list[EventDraft]:
        dt = 0 if self._last_tick is None else max(0, now.mono_ms - self._last_tick)
        self._last_tick = now.mono_ms
        if not self.settings.enabled or not self.armed or self.alarmed:
            return []
        out: list[EventDraft] = []
        if not self.away and self._went_out(now):
            self.away = True
            self.accum_ms = 0
            self.dirty = True
            out.append(
                EventDraft(
                    "state.presence",
                    Priority.STATE,
                    None,
                    {
                        "present": False,
                        "door": self.last_device,
                        "quiet_s": seconds(now.mono_ms - (self.last_mono or 0)),
                    },
                )
            )
        if self.away:
            return out
        if now.local is None:  # clock unknown: no windows (see the module docstring)
            counted = 0 if self._in_bed() else dt
        else:
            counted = inside_ms(self.windows, now.local, dt)
        if counted:
            self.accum_ms += counted
            if self.accum_ms - self._saved_accum >= SAVE_EVERY_MS:
                self._saved_accum = self.accum_ms
                self.dirty = True
        if self.accum_ms >= self.settings.after_s * 1000:
            self.alarmed = True
            self.dirty = True
            data = {
                "inactive_s": seconds(self.accum_ms),
                "threshold_s": self.settings.after_s,
                "day_windows": [str(w) for w in self.windows] if now.local is not None else [],
                "clock_synced": now.local is not None,
                "last_activity": {"device": self.last_device, "capability": self.last_capability},
            }
            out.append(EventDraft("alarm.inactivity", Priority.ALARM, None, data))
        return out

    def _in_bed(self) -> bool:
        return any(value is True for key, value in self.values.items() if key.endswith("|in_bed"))

    def _went_out(self, now: Now) -> bool:
        return (
            self.settings.away_after_s > 0
            and self.last_capability == "contact"
            and self.last_mono is not None
            and now.mono_ms - self.last_mono >= self.settings.away_after_s * 1000
        )

    # ------------------------------------------------------------------ persistence

    def dump(self) -> dict[str, Any]:
        return {
            "armed": self.armed,
            "accum_ms": self.accum_ms,
            "alarmed": self.alarmed,
            "away": self.away,
            "last_device": self.last_device,
            "last_capability": self.last_capability,
            "last_mono": self.last_mono,
            "values": self.values,
        }

    def restore(self, doc: dict[str, Any], saved_boot: str, now: Now) -> None:
        self.armed = bool(doc.get("armed", False))
        self.accum_ms = int(doc.get("accum_ms", 0))
        self._saved_accum = self.accum_ms
        self._last_tick = now.mono_ms  # the time the gateway was down is not counted (it is unknown)
        self.alarmed = bool(doc.get("alarmed", False))
        self.away = bool(doc.get("away", False))
        self.last_device = doc.get("last_device")
        self.last_capability = doc.get("last_capability")
        self.last_mono = since_after_restart(doc.get("last_mono"), saved_boot, now.mono_ms, now.boot)
        values = doc.get("values", {})
        self.values = dict(values) if isinstance(values, dict) else {}
