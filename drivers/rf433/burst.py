"""One press is many frames: a 433 MHz transmitter repeats its code for about a second. :class:`BurstFilter`
lets the first frame of a burst through and swallows the repeats."""

from __future__ import annotations


class BurstFilter:
    """Per code, a frame is new when the same code was not heard for ``gap_ms``.

    The gap is measured from the *last* frame heard, so a button held down (repeating for seconds) stays one press.
    """

    def __init__(self, gap_ms: int) -> None:
        self.gap_ms = gap_ms
        self._last: dict[str, int] = {}
        self._frames: dict[str, int] = {}

    def new(self, key: str, now_ms: int) -> bool:
        """Record a frame of ``key`` at ``now_ms``; True when it starts a new burst."""
        last = self._last.get(key)
        self._last[key] = now_ms
        if last is not None and now_ms - last < self.gap_ms:
            self._frames[key] = self._frames.get(key, 1) + 1
            return False
        self._frames[key] = 1
        return True

    def frames(self, key: str) -> int:
        """Frames of ``key``'s current (or last) burst."""
        return self._frames.get(key, 0)

    def prune(self, now_ms: int) -> None:
        """Forget codes silent for a long time (random neighbours' remotes would otherwise pile up)."""
        old = [k for k, t in self._last.items() if now_ms - t > 60 * self.gap_ms]
        for key in old:
            self._last.pop(key, None)
            self._frames.pop(key, None)
