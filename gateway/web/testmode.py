"""Test mode: which device said something during this install window, and how fast it travelled.

Fed by the gateway's committed and delivered listeners. For each event about a device it records the
latency from stamping to the outbox commit and, once the broker acknowledges it (QoS 1 PUBACK), to the
broker. "Uplink verified" means at least one event of this window reached the broker.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.events import Event
from gateway.outbox import Row

PENDING_MAX = 2048
RECENT_MAX = 100


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

    def as_json(self) -> dict[str, Any]:
        return {
            "event": self.event_id,
            "seq": self.seq,
            "kind": self.kind,
            "device": self.device,
            "at": self.at,
            "to_outbox_ms": self.to_outbox_ms,
            "to_broker_ms": self.to_broker_ms,
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
            )
            if rec.device is not None:
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
