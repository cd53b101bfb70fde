"""What the page knows about each transport's pairing session, kept from the drivers' PairingUpdates.

A page that reloads mid-pairing gets the whole picture back: is it open and for how long, the progress log
(joined / interview / enrolled / ready / failed), and the nearby candidates sorted by signal strength.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from drivers.base import PairingUpdate

LOG_LEN = 50
MAX_CANDIDATES = 64
CANDIDATE_TTL_S = 60.0


def update_json(u: PairingUpdate) -> dict[str, Any]:
    return {
        "transport": u.transport,
        "stage": u.stage,
        "device": u.device,
        "detail": u.detail,
        "remaining_s": u.remaining_s,
        "info": _plain(dict(u.info)),
    }


def _plain(info: dict[str, Any]) -> dict[str, Any]:
    """Keep only JSON-able scalars from driver-provided info (it is shown to a browser)."""
    out: dict[str, Any] = {}
    for key, value in list(info.items())[:32]:
        if isinstance(value, bool | int | float | str) or value is None:
            out[str(key)[:64]] = value[:256] if isinstance(value, str) else value
    return out


@dataclass(slots=True)
class PairingState:
    transport: str
    open_until: float | None = None  # monotonic
    log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=LOG_LEN))
    candidates: dict[str, dict[str, Any]] = field(default_factory=dict)
    ready: list[str] = field(default_factory=list)

    def remaining_s(self) -> int:
        if self.open_until is None:
            return 0
        return max(0, round(self.open_until - time.monotonic()))

    def apply(self, u: PairingUpdate) -> None:
        now = time.monotonic()
        if u.stage == "open":  # a new pairing session: forget the last one's progress
            self.open_until = now + (u.remaining_s or 0)
            self.log.clear()
            self.candidates.clear()
            self.ready.clear()
        elif u.stage == "closed":
            self.open_until = None
        if u.stage == "candidate":
            address = str(u.info.get("address") or u.device or "")[:64]
            if not address:
                return
            if address not in self.candidates and len(self.candidates) >= MAX_CANDIDATES:
                return
            entry = _plain(dict(u.info))
            entry["address"] = address
            entry["seen"] = now
            self.candidates[address] = entry
            return
        if u.stage == "ready" and u.device and u.device not in self.ready:
            self.ready.append(u.device)
        if u.stage == "ready":  # an adopted candidate is not on offer any more
            self.candidates.pop(str(u.info.get("address") or ""), None)
        entry = update_json(u)
        entry["at"] = time.time()
        self.log.append(entry)

    def as_json(self) -> dict[str, Any]:
        now = time.monotonic()
        cands = [
            {k: v for k, v in c.items() if k != "seen"}
            for c in self.candidates.values()
            if now - c["seen"] < CANDIDATE_TTL_S
        ]
        cands.sort(key=lambda c: -(c["rssi"] if isinstance(c.get("rssi"), int | float) else -999))
        return {
            "transport": self.transport,
            "open": self.remaining_s() > 0,
            "remaining_s": self.remaining_s(),
            "log": list(self.log),
            "candidates": cands,
            "ready": list(self.ready),
        }
