"""The ``[rules]`` section: thresholds and schedules of every rule (local, and pushed by the platform).

Every duration is in seconds (``*_s``, fractions allowed so tests and demos can run fast); every window is
``"HH:MM-HH:MM"`` in local time (see :mod:`gateway.rules.windows`). The defaults, and why, are in
``config/rules.md``. A duration of 0 turns that rule (or that part of it) off where the field says so.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.rules.windows import Window, zone


def _window(text: str) -> str:
    Window.parse(text)  # raises ValueError with the reason
    return text


WindowText = Annotated[str, Field(max_length=11), AfterValidator(_window)]
Seconds = Annotated[float, Field(gt=0, le=7 * 24 * 3600)]
SecondsOrOff = Annotated[float, Field(ge=0, le=7 * 24 * 3600)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InactivitySettings(_Section):
    """No activity (motion, door, bed changes) for ``after_s`` of time spent inside the day windows."""

    enabled: bool = True
    after_s: Seconds = 4 * 3600
    #: Only time inside these windows counts; at least one, usually two or more (morning, afternoon...).
    day_windows: Annotated[list[WindowText], Field(min_length=1, max_length=12)] = ["06:00-12:00", "13:00-21:00"]
    #: The elder is taken to be out once the last activity was a door and nothing moved for this long;
    #: the rule is suspended until activity is seen again. 0: never assume the elder is out.
    away_after_s: SecondsOrOff = 600

    @property
    def windows(self) -> tuple[Window, ...]:
        return tuple(Window.parse(w) for w in self.day_windows)


class DoorSettings(_Section):
    """A door left open, and (where configured) a door opened at night."""

    #: Alarm when a door stays open this long; 0 = off.
    open_max_s: SecondsOrOff = 600
    #: Alert (not alarm) when a door opens inside the night window.
    night_alert: bool = False


class BedExitSettings(_Section):
    """Out of bed inside the night window and not back within ``return_within_s``."""

    enabled: bool = True
    return_within_s: Seconds = 1800


class VitalsSettings(_Section):
    """Heart and breathing rate out of range for ``for_s`` while in bed; no breathing for ``no_breath_s``."""

    enabled: bool = True
    heart_min: Annotated[int, Field(ge=0, le=300)] = 40
    heart_max: Annotated[int, Field(ge=1, le=300)] = 120
    breath_min: Annotated[int, Field(ge=1, le=120)] = 8
    breath_max: Annotated[int, Field(ge=1, le=120)] = 30
    for_s: Seconds = 60
    #: Breathing rate 0 (no breathing detected) while in bed this long; 0 = off.
    no_breath_s: SecondsOrOff = 20

    @model_validator(mode="after")
    def _ranges(self) -> VitalsSettings:
        if self.heart_min >= self.heart_max:
            raise ValueError("heart_min must be below heart_max")
        if self.breath_min >= self.breath_max:
            raise ValueError("breath_min must be below breath_max")
        return self


class DeviceHealthSettings(_Section):
    """Offline and low battery are alerts. Drivers report offline; this adds "not heard from for too long"."""

    #: A device that sent nothing for this long is reported offline (``reason: silent``); 0 = off (drivers
    #: that know their devices' check-in interval report availability themselves).
    silent_after_s: SecondsOrOff = 0


def _not_long_press(gesture: str) -> str:
    if gesture == "long_press":
        raise ValueError("a long press is an elder holding the button: it never cancels")
    return gesture


class AlarmSettings(_Section):
    """The alarm lifecycle: escalation, cancel by second press, closing calls."""

    #: No platform acknowledgement this long after an alarm: re-send it marked escalated, then again every
    #: interval until acknowledged or resolved.
    escalate_after_s: Seconds = 300
    #: Stop after this many escalations of one alarm; 0 = no limit.
    escalate_max: Annotated[int, Field(ge=0, le=10_000)] = 0
    #: A second press of the same button within this window after a call asks to cancel it
    #: (``alarm.cancel_requested``); the call itself was already sent. 0 = off.
    cancel_window_s: SecondsOrOff = 10
    #: Gestures of a multi-function button that ask to cancel the open call at any time ("I'm OK"), e.g.
    #: ``["double"]``; never a long press (that is an elder holding the button in distress).
    cancel_gestures: list[Annotated[str, Field(pattern=r"^[a-z_]{1,20}$"), AfterValidator(_not_long_press)]] = Field(
        default_factory=list, max_length=4
    )
    #: A call (a press has no "cleared" state) acknowledged by the platform is closed this long after the
    #: acknowledgement if the platform does not close it first, so the next press is a new call. 0 = never.
    call_close_after_ack_s: SecondsOrOff = 1800


class RulesSettings(_Section):
    battery_low_pct: int = Field(default=20, ge=1, le=99)
    #: Zone of the day/night windows; unset: the ``[gateway] timezone`` (default Asia/Shanghai).
    timezone: Annotated[str, Field(max_length=64)] | None = None
    #: When "night" is, for bed exit and door-at-night.
    night_window: WindowText = "22:00-06:00"
    inactivity: InactivitySettings = InactivitySettings()
    door: DoorSettings = DoorSettings()
    bed_exit: BedExitSettings = BedExitSettings()
    vitals: VitalsSettings = VitalsSettings()
    device_health: DeviceHealthSettings = DeviceHealthSettings()
    alarms: AlarmSettings = AlarmSettings()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            zone(value)
        return value

    @property
    def night(self) -> Window:
        return Window.parse(self.night_window)
