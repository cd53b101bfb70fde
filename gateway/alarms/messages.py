"""The platform's alarm acknowledgement message (``fbgw/v1/{gateway}/alarms/ack``), validated at the edge.

Example::

    {"alarm": "019a8f6e-2c41-7b3e-9f1a-3c2d4e5f6a7b", "action": "ack", "by": "operator-17", "note": "calling"}

``alarm`` is the event id of the alarm (or of one of its ``alarm.escalated`` re-sends). ``action`` is ``ack``
(someone is on it: escalation stops) or ``close`` (the case is closed: the alarm is resolved). Unknown extra
keys are ignored so the platform can add fields; a message that does not parse is logged and counted.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from core import jsonin

#: Larger payloads are refused unread.
MAX_ACK_BYTES = 4096
#: Deeper payloads are refused before they are decoded (a real ack is a flat object).
ACK_DEPTH = 8


class AckMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    alarm: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_.:-]+$")]
    action: Literal["ack", "close"] = "ack"
    by: Annotated[str, StringConstraints(max_length=64)] = "platform"
    note: Annotated[str, StringConstraints(max_length=500)] = ""
    ts: Annotated[int, Field(ge=0)] | None = None  # when the platform acted (UTC ms); informational


def decode_ack(raw: bytes) -> AckMessage:
    """Payload -> :class:`AckMessage` through the one JSON decoding path (size and depth capped).

    Raises :class:`core.jsonin.JsonRejected` or :class:`pydantic.ValidationError`.
    """
    return AckMessage.model_validate(jsonin.loads_object(raw, max_bytes=MAX_ACK_BYTES, max_depth=ACK_DEPTH))
