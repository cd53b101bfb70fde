"""A stored event as the uplink reads it, and the MQTT payload a batch of them makes.

Bodies are kept as the JSON bytes they were committed with, so sending never re-encodes an event and a resent
event is byte for byte the one sent before.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass


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
