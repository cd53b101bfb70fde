"""The event: what the gateway tells the platform. Its JSON shape is a contract (config/schema/event.schema.json).

An :class:`Event` is made by :func:`make_event` from an :class:`EventDraft` (what the rules decided) and gets
its ``seq`` from the outbox at commit time, so a sequence number is assigned exactly once and never reused.
"""

from __future__ import annotations

import enum
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.devices import DeviceRef as DeviceRef

if TYPE_CHECKING:
    from core.clock import Clock


class Priority(enum.IntEnum):
    """Lower value = more urgent. Alarms are never dropped and always sent first."""

    ALARM = 0
    ALERT = 1
    STATE = 2
    TELEMETRY = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> Priority:
        return cls[label.upper()]


_uuid_lock = threading.Lock()
_uuid_last_ms = 0
_uuid_counter = 0


def uuid7() -> str:
    """A UUIDv7 (RFC 9562): 48-bit Unix ms, then a 12-bit counter so ids made in one ms still sort."""
    global _uuid_last_ms, _uuid_counter
    with _uuid_lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _uuid_last_ms:
            _uuid_counter += 1
            if _uuid_counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                _uuid_last_ms += 1
                _uuid_counter = 0
            ms = _uuid_last_ms
        else:
            _uuid_last_ms = ms
            _uuid_counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
        counter = _uuid_counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
    return str(uuid.UUID(int=value))


@dataclass(frozen=True, slots=True)
class EventDraft:
    """What a rule decided to report; becomes an :class:`Event` once stamped."""

    kind: str
    priority: Priority
    device: DeviceRef | None = None
    data: dict[str, Any] = field(default_factory=dict)
    trace: str | None = None


@dataclass(slots=True)
class Event:
    """One event on its way to the platform."""

    id: str
    gateway: str
    ts: int
    clock: dict[str, Any]
    kind: str
    priority: Priority
    device: DeviceRef | None
    data: dict[str, Any]
    trace: str | None = None
    seq: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "gateway": self.gateway,
            "ts": self.ts,
            "clock": self.clock,
            "kind": self.kind,
            "priority": self.priority.label,
            "device": self.device.as_json() if self.device else None,
            "data": self.data,
            "trace": self.trace,
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.as_json(), ensure_ascii=False, separators=(",", ":")).encode()


def make_event(draft: EventDraft, gateway_id: str, clock: Clock) -> Event:
    """Stamp a draft with identity and time."""
    stamp = clock.stamp()
    return Event(
        id=uuid7(),
        gateway=gateway_id,
        ts=stamp.wall_ms,
        clock=stamp.as_json(),
        kind=draft.kind,
        priority=draft.priority,
        device=draft.device,
        data=draft.data,
        trace=draft.trace,
    )
