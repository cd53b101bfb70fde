"""Last-seen bookkeeping and offline detection per device, with a timeout per power class.

Battery devices sleep and check in rarely, so they get a much longer timeout than mains devices.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Entry:
    last_seen: float
    mains: bool
    online: bool = True


class Availability:
    """``seen()`` on every frame from a device; ``expired()`` lists devices that just went offline."""

    def __init__(self, mains_s: float, battery_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.mains_s = mains_s
        self.battery_s = battery_s
        self._clock = clock
        self._devices: dict[str, _Entry] = {}

    def track(self, device_id: str, *, mains: bool) -> None:
        """Start watching a device as if just heard (at gateway start, or when it is paired)."""
        self._devices[device_id] = _Entry(self._clock(), mains)

    def forget(self, device_id: str) -> None:
        self._devices.pop(device_id, None)

    def seen(self, device_id: str) -> bool:
        """Record a frame; True when the device was offline and is now back."""
        entry = self._devices.get(device_id)
        if entry is None:
            return False
        entry.last_seen = self._clock()
        back = not entry.online
        entry.online = True
        return back

    def rebase(self) -> None:
        """Restart every online device's clock (after a radio outage, during which nothing could be heard)."""
        now = self._clock()
        for entry in self._devices.values():
            if entry.online:
                entry.last_seen = now

    def timeout_of(self, device_id: str) -> float:
        entry = self._devices[device_id]
        return self.mains_s if entry.mains else self.battery_s

    def expired(self) -> list[str]:
        """Devices silent for longer than their timeout, each returned once until heard again."""
        now = self._clock()
        gone = []
        for device_id, entry in self._devices.items():
            limit = self.mains_s if entry.mains else self.battery_s
            if entry.online and now - entry.last_seen > limit:
                entry.online = False
                gone.append(device_id)
        return gone

    def is_online(self, device_id: str) -> bool | None:
        entry = self._devices.get(device_id)
        return None if entry is None else entry.online

    def last_seen(self, device_id: str) -> float | None:
        entry = self._devices.get(device_id)
        return None if entry is None else entry.last_seen
