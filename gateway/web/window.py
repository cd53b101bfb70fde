"""The install window: the only time the technician's page accepts a sign-in.

It opens on first boot, by a platform command, or by a long press of the install button, and closes by
itself after a set time. Closing it ends every session. First boot is remembered by a marker file in the
state directory, so a reboot does not reopen the page.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from core.atomic import write_atomic

log = logging.getLogger(__name__)

FIRST_BOOT_MARKER = Path("web") / "commissioned"


class WindowLimit(ValueError):
    """A technician asked to keep the window open past the most it may be kept open; says until when."""


class InstallWindow:
    """Open/closed state with a self-closing timer. ``on_change(open)`` is called on every transition.

    :meth:`open` is for whoever may grant the window (first boot, the platform, the install button on the box);
    each grant allows ``max_s`` from that moment. :meth:`extend` is for a signed-in technician: it never keeps
    the window open past that allowance, so asking again and again cannot keep the page open for ever.
    ``now`` (monotonic seconds) is injectable for tests.
    """

    def __init__(
        self, max_s: int, on_change: Callable[[bool], None], now: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_s = max_s
        self.now = now
        self._on_change = on_change
        self._until: float | None = None  # monotonic deadline while open, else None
        self._limit: float | None = None  # latest deadline a technician may extend to (set by each grant)
        self._timer: asyncio.TimerHandle | None = None
        self.opened_by = ""
        self.opened_at: float | None = None  # wall time, for the acceptance report
        self.generation = 0  # bumps on each opening: "tested during this session" is per window

    @property
    def is_open(self) -> bool:
        return self._until is not None and self.now() < self._until

    def remaining_s(self) -> int:
        if self._until is None:
            return 0
        return max(0, round(self._until - self.now()))

    def extendable_s(self) -> int:
        """The most seconds from now a technician may still ask for (0 when closed)."""
        if not self.is_open or self._limit is None:
            return 0
        return max(0, int(self._limit - self.now()))

    def open(self, seconds: float, by: str) -> int:
        """Open (or extend/shorten) the window for ``seconds`` (capped). Returns the seconds granted."""
        if not seconds > 0:
            raise ValueError("an install window must last more than 0 seconds")
        seconds = min(float(seconds), float(self.max_s))
        self._limit = self.now() + self.max_s
        return self._set(seconds, by)

    def extend(self, seconds: float, by: str) -> int:
        """Keep the open window open ``seconds`` from now, but never past the last grant's allowance.

        Returns the seconds granted (less than asked when capped). Raises :class:`WindowLimit` when the window
        is closed or already open as long as it may be (asking would gain nothing)."""
        if not seconds > 0:
            raise ValueError("an install window must last more than 0 seconds")
        if not self.is_open or self._until is None or self._limit is None:
            raise WindowLimit("the install window is closed")
        now = self.now()
        until = min(now + float(seconds), self._limit)
        if until < now + seconds and until <= self._until:
            raise WindowLimit(
                f"the install window may stay open at most {self.max_s // 60} minutes after it was opened; "
                f"it closes in {self.remaining_s()} s. Ask the platform, or hold the install button, to reopen it"
            )
        log.info("install window extended by %s", by)
        return self._set(until - now, self.opened_by)

    def _set(self, seconds: float, by: str) -> int:
        was_open = self._until is not None
        self._until = self.now() + seconds
        if not was_open:
            self.generation += 1
            self.opened_at = time.time()
        self.opened_by = by
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(seconds, self.close, "timed out")
        log.warning("install window open for %d s (by %s)", seconds, by)
        if not was_open:
            self._on_change(True)
        return int(seconds)

    def close(self, why: str = "closed") -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._until is None:
            return
        self._until = None
        self._limit = None
        log.warning("install window %s", why)
        self._on_change(False)


def first_boot(state_dir: Path) -> bool:
    """True the first time it is called for a state directory (blocking: call it in a thread)."""
    marker = state_dir / FIRST_BOOT_MARKER
    if marker.exists():
        return False
    try:
        write_atomic(marker, f"{time.time():.0f}\n".encode(), mode=0o600)
    except OSError as exc:  # a card that is read-only from the start: still a first boot, just not remembered
        log.error("install window: first-boot marker not saved (%s); the window opens again at the next boot", exc)
    return True
