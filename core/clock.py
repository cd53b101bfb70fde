"""Time as the gateway knows it.

The Pi has no RTC: until NTP has set the clock, wall time may be decades off. Every event therefore carries
whether the clock was synchronised, plus the boot id and monotonic milliseconds, so the platform can place
events made before sync relative to ones made after.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

_TIME_ERROR = 5  # adjtimex(2): clock not synchronised
_SYNC_FLAG_FILE = Path("/run/systemd/timesync/synchronized")
_EARLIEST_PLAUSIBLE_MS = 1_735_689_600_000  # 2025-01-01: anything earlier is an unset clock


def _read_boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return str(uuid.uuid4())


def _kernel_says_synced() -> bool:
    """Ask the kernel (adjtimex with no changes) whether NTP discipline is in effect."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    buf = ctypes.create_string_buffer(512)  # struct timex, zeroed: modes=0 means read-only
    try:
        state = libc.adjtimex(buf)
    except AttributeError:
        return False
    return state not in (-1, _TIME_ERROR)


def monotonic_ms() -> int:
    """Milliseconds on the monotonic clock (durations; never jumps when the wall clock is set)."""
    return time.monotonic_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class ClockStamp:
    """When something happened, with how much to trust it."""

    wall_ms: int
    mono_ms: int
    synced: bool
    boot: str

    def as_json(self) -> dict[str, object]:
        return {"synced": self.synced, "boot": self.boot, "mono_ms": self.mono_ms}


class Clock:
    """Wall and monotonic time plus synchronisation state; injectable for tests."""

    def __init__(self, assume_synced: bool = False, recheck_s: float = 30.0) -> None:
        self.boot_id = _read_boot_id()
        self._assume_synced = assume_synced
        self._recheck_ns = int(recheck_s * 1e9)
        self._synced = False
        self._checked_ns: int | None = None

    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def mono_ms(self) -> int:
        return time.monotonic_ns() // 1_000_000

    def synced(self) -> bool:
        """True once the wall clock can be trusted (re-checked every ``recheck_s``; cheap on the hot path)."""
        if self._assume_synced:
            return True
        now = time.monotonic_ns()
        if self._checked_ns is None or now - self._checked_ns >= self._recheck_ns:
            self._checked_ns = now
            self._synced = self.wall_ms() >= _EARLIEST_PLAUSIBLE_MS and (
                _SYNC_FLAG_FILE.exists() or _kernel_says_synced()
            )
        return self._synced

    def stamp(self) -> ClockStamp:
        return ClockStamp(self.wall_ms(), self.mono_ms(), self.synced(), self.boot_id)
