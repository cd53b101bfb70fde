"""The permit-join window, the live progress of devices joining through it, and per-device deadlines."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from drivers.base import PairingStage, PairingUpdate

MAX_PERMIT_S = 254  # Zigbee's Mgmt_Permit_Joining_req duration; 255 would mean "forever"
DEFAULT_PERMIT_S = 120


def clamp_seconds(seconds: int | None) -> int:
    if not seconds or seconds <= 0:
        return DEFAULT_PERMIT_S
    return min(int(seconds), MAX_PERMIT_S)


class PairingWindow:
    """Tracks whether pairing is open and posts :class:`PairingUpdate`s (never blocks)."""

    def __init__(self, post: Callable[[PairingUpdate], None], clock: Callable[[], float] = time.monotonic) -> None:
        self._post = post
        self._clock = clock
        self._until = 0.0
        self._closer: asyncio.Task[None] | None = None

    @property
    def remaining_s(self) -> int:
        return max(0, round(self._until - self._clock()))

    @property
    def is_open(self) -> bool:
        return self._clock() < self._until

    def opened(self, seconds: int) -> None:
        self._until = self._clock() + seconds
        if self._closer is not None:
            self._closer.cancel()
        self._closer = asyncio.create_task(self._close_later(seconds), name="zigbee-pairing-close")
        self.post("open", detail=f"permit join for {seconds} s")

    async def _close_later(self, seconds: int) -> None:
        await asyncio.sleep(seconds)
        self._until = 0.0
        self.post("closed", detail="pairing window over")

    def closed(self, detail: str = "pairing stopped") -> None:
        if self._closer is not None:
            self._closer.cancel()
            self._closer = None
        was_open = self.is_open
        self._until = 0.0
        if was_open:
            self.post("closed", detail=detail)

    async def aclose(self) -> None:
        if self._closer is not None:
            self._closer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._closer
            self._closer = None

    def post(
        self,
        stage: PairingStage,
        device: str | None = None,
        detail: str = "",
        info: dict[str, Any] | None = None,
    ) -> None:
        self._post(PairingUpdate("zigbee", stage, device, detail, self.remaining_s, info or {}))


class Deadlines:
    """One timer per key (a device in the middle of pairing); the callback runs once unless disarmed first."""

    def __init__(self) -> None:
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def arm(self, key: str, seconds: float, expired: Callable[[], None]) -> None:
        """(Re)start ``key``'s timer: ``expired()`` runs in ``seconds`` unless :meth:`disarm` comes first."""
        self.disarm(key)
        self._timers[key] = asyncio.get_running_loop().call_later(seconds, self._fire, key, expired)

    def _fire(self, key: str, expired: Callable[[], None]) -> None:
        self._timers.pop(key, None)
        expired()

    def disarm(self, key: str) -> bool:
        """Cancel ``key``'s timer; True when one was running."""
        handle = self._timers.pop(key, None)
        if handle is None:
            return False
        handle.cancel()
        return True

    def __contains__(self, key: str) -> bool:
        return key in self._timers

    def clear(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
