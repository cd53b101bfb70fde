"""``[modem]``: the second alarm path over SMS and voice calls (docs/alarm-lifecycle.md, "Second path").

The modem itself is a driver (``[drivers.modem]``); this section says whom to tell and when.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from core.phone import normalise_number


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contact(_Strict):
    """Someone the gateway tells about an alarm when the platform cannot be reached (or always, for guardians)."""

    #: How the contact is named in events and logs (never the number), e.g. "女儿" or "county call centre".
    label: Annotated[str, StringConstraints(min_length=1, max_length=32, strip_whitespace=True)]
    #: E.164 (+8613800138000) or an 11-digit Chinese mobile number (stored as E.164).
    number: Annotated[str, Field(repr=False)]
    #: ``call_centre``: called first; ``guardian``: SMS, then called in order; ``technician``: test-mode only.
    role: Literal["guardian", "call_centre", "technician"] = "guardian"

    @field_validator("number")
    @classmethod
    def _number(cls, value: str) -> str:
        return normalise_number(value)


class ModemSettings(_Strict):
    """When the second path sends SMS and places calls, to whom, and how much it may send."""

    enabled: bool = False
    #: The elder's name as the SMS says it ("王奶奶").
    elder_name: Annotated[str, StringConstraints(max_length=32)] = ""
    contacts: Annotated[list[Contact], Field(max_length=10)] = []
    #: ``fallback``: SMS only when the platform did not take the alarm in time; ``always``: guardians get every
    #: alarm by SMS at once (counties whose platform has no guardian app).
    sms: Literal["fallback", "always"] = "fallback"
    #: No PUBACK from the broker this long after the alarm was raised: SMS every contact.
    sms_after_s: float = Field(default=20.0, ge=1, le=600)
    #: No acknowledgement of any kind this long after the alarm was raised (and SMS went out): start calling.
    call_after_s: float = Field(default=120.0, ge=10, le=3600)
    #: How long a call may ring before the next contact is tried.
    ring_timeout_s: float = Field(default=40.0, ge=5, le=120)
    #: SMS to one contact per hour (alarm SMS are always sent; this limits "resolved" notices and the like).
    sms_per_contact_per_hour: int = Field(default=10, ge=1, le=100)
    #: SMS per calendar month (alarm SMS are always sent and counted).
    sms_budget_per_month: int = Field(default=300, ge=0, le=100_000)
    #: Language of the SMS.
    language: Literal["zh", "en"] = "zh"

    @model_validator(mode="after")
    def _distinct(self) -> ModemSettings:
        numbers = [c.number for c in self.contacts]
        labels = [c.label for c in self.contacts]
        if len(set(numbers)) != len(numbers) or len(set(labels)) != len(labels):
            raise ValueError("contacts: each label and each number may appear once")
        return self
