"""Availability of advertising devices from their own rhythm.

A door sensor may advertise every 10 s, a button only every few minutes: a fixed timeout either flaps
the slow ones or misses the fast ones. Each device's advert interval is learned (median of recent gaps,
bursts of repeats ignored) and it is offline after ``multiple`` intervals, never sooner than ``floor_s``.
Until an interval is learned the device gets ``unlearned_s``.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Track:
    last_seen: float
    anchor: float  # first advert of the current burst: intervals are measured between bursts
    gaps: deque[float] = field(default_factory=lambda: deque(maxlen=16))
    online: bool = True


class IntervalTracker:
    """Learns advert intervals and says who went silent.

    Args:
        multiple: offline after this many median intervals.
        floor_s: but never before this long.
        unlearned_s: timeout while fewer than ``min_samples`` gaps are known.
        min_gap_s: gaps shorter than this are one burst (a device repeating a packet), not an interval.
        min_samples: gaps needed before the median is trusted.
    """

    def __init__(
        self,
        multiple: float,
        floor_s: float,
        unlearned_s: float,
        *,
        min_gap_s: float = 0.5,
        min_samples: int = 3,
    ) -> None:
        self.multiple = multiple
        self.floor_s = floor_s
        self.unlearned_s = unlearned_s
        self.min_gap_s = min_gap_s
        self.min_samples = min_samples
        self._tracks: dict[str, _Track] = {}

    def watch(self, device_id: str, now: float) -> None:
        """Start watching a device (as if just heard) without learning anything."""
        self._tracks.setdefault(device_id, _Track(last_seen=now, anchor=now))

    def seen(self, device_id: str, now: float) -> bool:
        """Note an advert. Returns True if the device had been offline (it is back)."""
        track = self._tracks.get(device_id)
        if track is None:
            self._tracks[device_id] = _Track(last_seen=now, anchor=now)
            return False
        gap = now - track.anchor
        if gap >= self.min_gap_s:
            track.gaps.append(gap)
            track.anchor = now
        track.last_seen = now
        back = not track.online
        track.online = True
        return back

    def interval(self, device_id: str) -> float | None:
        """The learned advert interval, or None while still learning."""
        track = self._tracks.get(device_id)
        if track is None or len(track.gaps) < self.min_samples:
            return None
        return statistics.median(track.gaps)

    def timeout(self, device_id: str) -> float:
        """Silence after which the device counts as offline."""
        interval = self.interval(device_id)
        if interval is None:
            return max(self.floor_s, self.unlearned_s)
        return max(self.floor_s, self.multiple * interval)

    def due(self, now: float) -> list[tuple[str, float]]:
        """Devices that just went offline, with how long they have been silent."""
        out: list[tuple[str, float]] = []
        for device_id, track in self._tracks.items():
            silent = now - track.last_seen
            if track.online and silent >= self.timeout(device_id):
                track.online = False
                out.append((device_id, silent))
        return out

    def forget(self, device_id: str) -> None:
        self._tracks.pop(device_id, None)
