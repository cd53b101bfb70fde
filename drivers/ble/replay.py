"""Per-device freshness of BTHome adverts: replays are rejected, repeats are not alarms twice.

* Encrypted adverts carry a 32-bit counter that is authenticated by the AES-CCM MIC: a counter equal to
  the last accepted one is the device repeating itself (BTHome devices send each packet several times);
  a lower one is a replay (or a device whose counter restarted: re-adopt it to accept the new counter).
* Plain adverts carry an (unauthenticated) packet id: the same id as last time is a duplicate.

Only adverts that decrypted (or plain ones from devices without a key) reach this check, so a forged
packet can never move a device's counter forward and lock out the genuine device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Verdict = Literal["fresh", "duplicate", "replay"]


@dataclass(slots=True)
class _Last:
    counter: int | None = None
    packet_id: int | None = None


class ReplayGuard:
    """Remembers, per device, the last accepted encryption counter and packet id (in memory)."""

    def __init__(self) -> None:
        self._last: dict[str, _Last] = {}

    def check(self, device_id: str, *, counter: int | None, packet_id: int | None) -> Verdict:
        """Classify an authenticated advert; does not record it (see :meth:`accept`)."""
        last = self._last.get(device_id)
        if last is None:
            return "fresh"
        if counter is not None and last.counter is not None:
            if counter == last.counter:
                return "duplicate"
            if counter < last.counter:
                return "replay"
            return "fresh"
        if packet_id is not None and packet_id == last.packet_id:
            return "duplicate"
        return "fresh"

    def accept(self, device_id: str, *, counter: int | None, packet_id: int | None) -> None:
        """Record an advert that was taken."""
        last = self._last.setdefault(device_id, _Last())
        if counter is not None:
            last.counter = counter
        last.packet_id = packet_id

    def forget(self, device_id: str) -> None:
        """Start afresh (device removed or re-adopted)."""
        self._last.pop(device_id, None)
