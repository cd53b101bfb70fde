"""The ``[care]`` section: daily care routines (also pushable by the platform as ``care`` in the desired config).

Example::

    [care]
    enabled = true
    care_buttons = ["care-btn"]          # the elder's "I'm fine" button (capability checkin), not the call button
    badges = { "badge-1" = "Wang Fang" } # caregivers' BLE badges (capability beacon), by device id
    summary_at = "21:00"

    [[care.reminders]]
    name = "morning pills"
    at = "08:00"
    ack_within_min = 30
    ack_devices = ["pillbox"]            # a press of a care button, or the pill box opening (contact "open")

    [care.checkin]                       # 报平安: a care-button press between these hours, else care.checkin_missed
    start = "07:00"
    end = "10:00"

Times are local (``[gateway] timezone``, Asia/Shanghai by default).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

HHMM = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
DeviceId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[^\x00-\x1f]+$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reminder(_Model):
    name: Name
    at: HHMM  # local time, every day
    ack_within_min: int = Field(default=30, ge=1, le=240)  # not acknowledged by then: care.reminder_missed
    #: What acknowledges it besides a care button: devices whose press, or contact "open" (a pill box), counts.
    ack_devices: list[DeviceId] = Field(default_factory=list, max_length=16)


class Checkin(_Model):
    start: HHMM = "07:00"
    end: HHMM = "10:00"

    @model_validator(mode="after")
    def _order(self) -> Checkin:
        if self.end <= self.start:
            raise ValueError("checkin end must be after start (same day)")
        return self


class CareSettings(_Model):
    enabled: bool = True
    reminders: list[Reminder] = Field(default_factory=list, max_length=24)
    checkin: Checkin | None = None  # None: no daily check-in
    #: The elder's care buttons (capability ``checkin``): check-in, reminder acknowledgement, visit sequence.
    care_buttons: list[DeviceId] = Field(default_factory=list, max_length=8)
    #: Caregivers' badges (capability ``beacon``) by device id -> caregiver name.
    badges: dict[DeviceId, Name] = Field(default_factory=dict, max_length=64)
    #: A visit ends this many seconds after its badge was last seen.
    visit_gone_s: int = Field(default=600, ge=10, le=14_400)
    #: A caregiver without a badge: this many care-button presses within ``sequence_s`` starts / ends a visit.
    visit_presses: int = Field(default=3, ge=2, le=6)
    sequence_s: float = Field(default=5.0, gt=0, le=30)
    summary_at: HHMM | None = "21:00"  # care.activity_summary every day at this time; None: never

    @model_validator(mode="after")
    def _unique(self) -> CareSettings:
        names = [r.name for r in self.reminders]
        if len(set(names)) != len(names):
            raise ValueError("reminder names must be unique")
        return self
