"""A stored event as the uplink reads it, and the MQTT payload a batch of them makes.

Bodies are kept as the JSON bytes they were committed with, so sending never re-encodes an event and a resent
event is byte for byte the one sent before.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

#: Wall-clock ms at process start, less the monotonic clock then (see :func:`row_clock_ms`).
_BASE_MS = time.time_ns() // 1_000_000 - time.monotonic_ns() // 1_000_000


def row_clock_ms() -> int:
    """The clock rows are aged by (``created_ms``, TTLs, the backlog's age): the wall clock as it read when the
    process started, advanced by the monotonic clock. NTP stepping the wall clock while the gateway runs (a box
    without RTC) neither expires waiting events early nor keeps them too long; events' own ``ts`` are real
    wall time as always."""
    return _BASE_MS + time.monotonic_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Row:
    """A stored event as the uplink reads it."""

    seq: int
    prio: int
    body: bytes


def bodies_to_payload(rows: Sequence[Row]) -> bytes:
    """One MQTT payload: a JSON array of the stored event bodies (already JSON; joined, not re-encoded)."""
    return b"[" + b",".join(r.body for r in rows) + b"]"


def decode_payload(payload: bytes) -> list[dict[str, object]]:
    """Inverse of :func:`bodies_to_payload` (tests, tools, the console platform view)."""
    data = json.loads(payload)
    if not isinstance(data, list):
        raise ValueError("payload is not a JSON array of events")
    return data
