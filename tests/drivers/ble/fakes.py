"""A recording DriverSink: the unit boundary of the BLE driver tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from drivers.base import PairingUpdate, Reading


@dataclass
class FakeSink:
    """Records what the driver hands over.

    ``reading_errors`` / ``availability_errors``: exceptions raised, in order, by the next calls (an
    intake that fails); the call that raised is kept in ``failed`` and not recorded as delivered.
    """

    readings: list[Reading] = field(default_factory=list)
    availability_calls: list[tuple[str, bool, str]] = field(default_factory=list)
    radio_calls: list[tuple[str, bool, str]] = field(default_factory=list)
    pairing_updates: list[PairingUpdate] = field(default_factory=list)
    reading_errors: list[BaseException] = field(default_factory=list)
    availability_errors: list[BaseException] = field(default_factory=list)
    failed: list[Any] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def _fail(self, errors: list[BaseException], call: object) -> None:
        if errors:
            self.failed.append(call)
            self._changed.set()
            raise errors.pop(0)

    async def reading(self, reading: Reading) -> None:
        self._fail(self.reading_errors, reading)
        self.readings.append(reading)
        self._changed.set()

    async def availability(self, device_id: str, online: bool, reason: str = "") -> None:
        self._fail(self.availability_errors, (device_id, online, reason))
        self.availability_calls.append((device_id, online, reason))
        self._changed.set()

    async def radio(self, transport: str, up: bool, reason: str = "") -> None:
        self.radio_calls.append((transport, up, reason))
        self._changed.set()

    def pairing(self, update: PairingUpdate) -> None:
        self.pairing_updates.append(update)
        self._changed.set()

    def values(self, device: str, capability: str) -> list[Any]:
        return [r.value for r in self.readings if r.device == device and r.capability == capability]

    async def wait_for(self, predicate: Callable[[FakeSink], bool], within: float = 5.0) -> None:
        """Wait until ``predicate(self)`` holds; AssertionError on timeout."""

        async def loop() -> None:
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(loop(), within)
        except TimeoutError:
            raise AssertionError(
                f"timed out; readings={self.readings} availability={self.availability_calls} "
                f"radio={self.radio_calls} failed={self.failed}"
            ) from None


async def poll_until(check: Callable[[], Awaitable[bool]], within: float = 5.0, every: float = 0.02) -> None:
    """Poll ``check`` (state held by another process, e.g. the mock) until it is true."""

    async def loop() -> None:
        while not await check():
            await asyncio.sleep(every)

    await asyncio.wait_for(loop(), within)
