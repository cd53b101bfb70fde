"""Day and night windows in local time, and "now" as every rule sees it.

Windows are ``"HH:MM-HH:MM"`` in the configured zone (default Asia/Shanghai, which has no daylight saving).
The end is exclusive; a window whose end is not after its start wraps past midnight (``"22:00-06:00"``);
``"24:00"`` is allowed as an end so ``"00:00-24:00"`` means the whole day.

Local time is only known once the wall clock is synchronised: the Pi has no RTC, and before NTP it may think
it is 1970. :class:`Now` therefore carries ``local=None`` while the clock is not synchronised, and every
window answers "not inside" then, so rules that depend on windows pause instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.clock import ClockStamp

DEFAULT_TIMEZONE = "Asia/Shanghai"
_WINDOW_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class Window:
    """A daily window, in minutes after local midnight: ``start <= t < end`` (wrapping when end <= start)."""

    start: int
    end: int

    @classmethod
    def parse(cls, text: str) -> Window:
        """Parse ``"HH:MM-HH:MM"``; raises ValueError with the reason."""
        m = _WINDOW_RE.match(text.strip())
        if not m:
            raise ValueError(f"window {text!r} is not HH:MM-HH:MM (e.g. 22:00-06:00)")
        start = int(m[1]) * 60 + int(m[2])
        end = int(m[3]) * 60 + int(m[4])
        if end > 24 * 60:
            raise ValueError(f"window {text!r} ends after 24:00")
        if start == end:
            raise ValueError(f"window {text!r} is empty (start equals end; use 00:00-24:00 for the whole day)")
        return cls(start, end)

    def contains(self, local: datetime | None) -> bool:
        """True when local time ``local`` is inside the window; False when the time is unknown (None)."""
        if local is None:
            return False
        return self.contains_minute(local.hour * 60 + local.minute)

    def contains_minute(self, t: int) -> bool:
        """True when minute ``t`` of the day (0..1439) is inside the window."""
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


def in_any(windows: tuple[Window, ...], local: datetime | None) -> bool:
    return any(w.contains(local) for w in windows)


def inside_ms(windows: tuple[Window, ...], end: datetime | None, span_ms: int) -> int:
    """How many of the ``span_ms`` milliseconds up to local time ``end`` lie inside any of ``windows``.

    Exact to the millisecond across window edges and midnight, however long the span (ticks may be late),
    since windows change only on whole minutes. 0 when the local time is unknown.
    """
    if end is None or span_ms <= 0:
        return 0
    minute_ms = 60_000
    day_ms = 1440 * minute_ms
    t1 = ((end.hour * 60 + end.minute) * 60 + end.second) * 1000 + end.microsecond // 1000
    t = t1 - span_ms
    total = 0
    while t < t1:
        piece_end = min(t1, (t // minute_ms + 1) * minute_ms)
        minute = (t % day_ms) // minute_ms
        if any(w.contains_minute(minute) for w in windows):
            total += piece_end - t
        t = piece_end
    return total


def zone(name: str | None) -> tzinfo:
    """The zone called ``name`` (default Asia/Shanghai); raises ValueError for an unknown name."""
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


@dataclass(frozen=True, slots=True)
class Now:
    """One instant as the rules see it: monotonic ms for durations, local time (or None) for windows."""

    mono_ms: int
    wall_ms: int
    synced: bool
    boot: str
    local: datetime | None

    @classmethod
    def of(cls, clock: ClockLike, tz: tzinfo) -> Now:
        stamp = clock.stamp()
        local = datetime.fromtimestamp(stamp.wall_ms / 1000, tz) if stamp.synced else None
        return cls(stamp.mono_ms, stamp.wall_ms, stamp.synced, stamp.boot, local)


class ClockLike(Protocol):
    """What rules need from a clock: :class:`core.clock.Clock`, or a fake in tests."""

    def stamp(self) -> ClockStamp: ...
