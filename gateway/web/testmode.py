"""Test mode: which device was tested during this install window, and how fast its events travelled.

Fed by the gateway's committed and delivered listeners. For each event it records the latency from stamping
to the outbox commit and, once the broker acknowledges it (QoS 1 PUBACK), to the broker. "Uplink verified"
means at least one event of this window reached the broker.

A device counts as *tested* only for an event the technician's hands cause: a press, smoke or gas from a
test spray, a door opened, a bed lain on, a motion, an enclosure opened (:data:`ACTION_KINDS`). What a device
says by itself — periodic battery and vital-sign telemetry, online/offline, the state a line has when the
gateway starts — proves nothing about the device being wired and placed right, so it is shown live but never
ticks the checklist. A device that can only measure (a heart-rate monitor) is tested by a vital-sign
reading, since that is the only thing it can be made to say.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.events import Event
from gateway.outbox import Row

PENDING_MAX = 2048
RECENT_MAX = 100

#: Events a technician's action at the device causes (the immediate rules' table, minus telemetry and health;
#: the alarm book's repeat/cancel of a press, and the install button's long press).
ACTION_KINDS = frozenset(
    {
        "alarm.emergency_call",
        "alarm.repeated",
        "alarm.cancel_requested",
        "alarm.smoke",
        "alarm.smoke.cleared",
        "alarm.gas",
        "alarm.gas.cleared",
        "alarm.leak",
        "alarm.leak.cleared",
        "alert.wet",
        "alert.wet.cleared",
        "state.door",
        "state.bed",
        "state.motion",
        "device.tamper",
        "device.tamper.cleared",
        "install.window_requested",
    }
)
#: Device types that can only measure: their vital-sign reading is the test.
MEASURING_TYPES: dict[str, frozenset[str]] = {"heart_rate": frozenset({"telemetry.vitals"})}
#: ``data.event`` of readings a driver makes at start (the level a line already had), not from an action.
AT_START_EVENTS = frozenset({"at_start", "loop_open_at_start", "stuck_at_start"})


def is_test_action(ev: Event) -> bool:
    """Whether ``ev`` shows a technician's action at its device (see the module docstring)."""
    if ev.device is None or ev.data.get("event") in AT_START_EVENTS:
        return False
    return ev.kind in ACTION_KINDS or ev.kind in MEASURING_TYPES.get(ev.device.type, frozenset())


def _mono_ms() -> int:
    return time.monotonic_ns() // 1_000_000


@dataclass(slots=True)
class TestRecord:
    event_id: str
    seq: int | None
    kind: str
    device: str | None
    at: float  # wall time
    stamp_mono_ms: int
    to_outbox_ms: int
    to_broker_ms: int | None = None
    action: bool = False  # a technician's action at the device: it counts as tested

    def as_json(self) -> dict[str, Any]:
        return {
            "event": self.event_id,
            "seq": self.seq,
            "kind": self.kind,
            "device": self.device,
            "at": self.at,
            "to_outbox_ms": self.to_outbox_ms,
            "to_broker_ms": self.to_broker_ms,
            "action": self.action,
        }


class TestTracker:
    def __init__(self) -> None:
        self.tested: dict[str, TestRecord] = {}  # device id -> latest record this window
        self.recent: OrderedDict[int, TestRecord] = OrderedDict()  # seq -> record, waiting for PUBACK
        self.log: list[TestRecord] = []
        self.uplink_verified_at: float | None = None

    def reset(self) -> None:
        self.tested.clear()
        self.recent.clear()
        self.log.clear()
        self.uplink_verified_at = None

    def committed(self, events: Sequence[Event]) -> list[TestRecord]:
        now = _mono_ms()
        out = []
        for ev in events:
            stamp = ev.clock.get("mono_ms") if isinstance(ev.clock, dict) else None
            stamp_ms = stamp if isinstance(stamp, int) else now
            rec = TestRecord(
                ev.id,
                ev.seq,
                ev.kind,
                ev.device.id if ev.device else None,
                time.time(),
                stamp_ms,
                max(0, now - stamp_ms),
                action=is_test_action(ev),
            )
            if rec.device is not None and rec.action:
                self.tested[rec.device] = rec
            if ev.seq is not None:
                self.recent[ev.seq] = rec
                while len(self.recent) > PENDING_MAX:
                    self.recent.popitem(last=False)
            self.log.append(rec)
            del self.log[:-RECENT_MAX]
            out.append(rec)
        return out

    def delivered(self, rows: Sequence[Row]) -> list[TestRecord]:
        now = _mono_ms()
        out = []
        for row in rows:
            rec = self.recent.pop(row.seq, None)
            if rec is None:
                continue
            rec.to_broker_ms = max(0, now - rec.stamp_mono_ms)
            self.uplink_verified_at = time.time()
            out.append(rec)
        return out
