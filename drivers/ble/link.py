"""A kept-alive GATT connection to one device, decoded by its profile.

Connect (with a timeout), subscribe to the profile's characteristics, hand decoded values over, and
when the link drops reconnect with exponential backoff. A device that stays unreachable longer than the
grace period is reported offline once, and online again when a connection succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from drivers.ble.adapter import DBUS_ERRORS
from drivers.ble.backoff import Backoff
from drivers.ble.config import BleSettings
from drivers.ble.profiles import GattProfile, ProfileDecodeError

log = logging.getLogger(__name__)

CONNECT_ERRORS: tuple[type[BaseException], ...] = (BleakError, *DBUS_ERRORS)

_FAILURE_LOG_EVERY_S = 60.0

ValuesHandler = Callable[[list[tuple[str, Any]]], Awaitable[None]]
AvailabilityHandler = Callable[[bool, str], Awaitable[None]]


class GattLink:
    """Keeps one GATT device connected for as long as :meth:`run` runs.

    Args:
        device_id: registry id (for logs and reports).
        address: BLE MAC address.
        profile: decodes notifications.
        settings: timeouts, backoff bounds and the offline grace.
        find_device: the last :class:`BLEDevice` the shared scanner saw for an address, or None.
        on_values: receives decoded ``(capability, value)`` pairs.
        on_availability: ``(online, reason)`` when the device goes offline / comes back.
        count: increments a named health counter.
    """

    def __init__(
        self,
        device_id: str,
        address: str,
        profile: GattProfile,
        settings: BleSettings,
        *,
        find_device: Callable[[str], BLEDevice | None],
        on_values: ValuesHandler,
        on_availability: AvailabilityHandler,
        count: Callable[[str], None],
    ) -> None:
        self.device_id = device_id
        self.address = address.upper()
        self.profile = profile
        self.settings = settings
        self._find = find_device
        self._on_values = on_values
        self._on_availability = on_availability
        self._count = count
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(maxsize=256)
        self._advert = asyncio.Event()
        self.connected = False
        self.reported_offline = False
        self.connections = 0
        self._failure_logged = -_FAILURE_LOG_EVERY_S

    def advert_seen(self) -> None:
        """The scanner heard the device: a good moment to retry a connection."""
        self._advert.set()

    async def run(self) -> None:
        consumer = asyncio.create_task(self._consume(), name=f"ble-gatt-{self.device_id}-rx")
        backoff = Backoff(self.settings.reconnect_min_s, self.settings.reconnect_max_s)
        loop = asyncio.get_running_loop()
        grace = self.settings.gatt_offline_grace_s
        # Never connected since start: as patient as with a silent advertiser; after a drop: the grace.
        offline_at = loop.time() + max(grace, self.settings.offline_min_s)
        try:
            while True:
                ble_device = self._find(self.address)
                if ble_device is not None:
                    try:
                        await self._session(ble_device)
                    except CONNECT_ERRORS as exc:
                        self._count("gatt_connect_failed")
                        log.info("ble: %s connect failed: %s", self.device_id, exc)
                    else:
                        backoff.reset()
                        offline_at = loop.time() + grace
                        log.warning("ble: %s connection lost", self.device_id)
                remaining = offline_at - loop.time()
                if not self.reported_offline and remaining <= 0:
                    self.reported_offline = True
                    reason = "connection lost, not re-established" if self.connections else "never connected"
                    await self._on_availability(False, reason)
                delay = backoff.next()
                if not self.reported_offline:
                    delay = min(delay, max(remaining, 0.05))
                if ble_device is None:  # never heard yet: its first advert ends the wait
                    self._advert.clear()
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._advert.wait(), delay)
                else:
                    await asyncio.sleep(delay)
        finally:
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer

    async def _session(self, ble_device: BLEDevice) -> None:
        """One connection, from connect to disconnect. Raises on failure to connect/subscribe."""
        gone = asyncio.Event()
        client = BleakClient(
            ble_device, disconnected_callback=lambda _c: gone.set(), timeout=self.settings.connect_timeout_s
        )
        await client.connect()
        try:
            await self.profile.on_connect(client)
            for uuid in self.profile.notify_uuids:
                await client.start_notify(uuid, self._notified(uuid))
            self.connected = True
            self.connections += 1
            log.info("ble: %s connected (%s)", self.device_id, self.profile.name)
            if self.reported_offline:
                self.reported_offline = False
                await self._on_availability(True, "reconnected")
            await gone.wait()
        finally:
            self.connected = False
            with contextlib.suppress(*CONNECT_ERRORS):
                await client.disconnect()

    def _notified(self, uuid: str) -> Callable[[BleakGATTCharacteristic, bytearray], None]:
        def handler(_char: BleakGATTCharacteristic, data: bytearray) -> None:
            try:
                self._queue.put_nowait((uuid, bytes(data)))
            except asyncio.QueueFull:
                self._count("gatt_notifications_dropped")

        return handler

    async def _consume(self) -> None:
        while True:
            uuid, data = await self._queue.get()
            try:
                values = self.profile.decode(uuid, data)
            except ProfileDecodeError as exc:
                self._count("gatt_frames_bad")
                log.warning("ble: %s bad %s notification %s: %s", self.device_id, self.profile.name, data.hex(), exc)
                continue
            except Exception:  # deliberately broad: a profile bug on one notification must not end this intake
                self._count("gatt_decode_failed")
                now = asyncio.get_running_loop().time()
                if now - self._failure_logged >= _FAILURE_LOG_EVERY_S:  # vitals notify every second
                    self._failure_logged = now
                    log.exception(
                        "ble: %s (%s) %s notification %s not decoded", self.device_id, self.address, uuid, data.hex()
                    )
                continue
            if values:
                await self._on_values(values)
