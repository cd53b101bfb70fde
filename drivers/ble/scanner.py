"""One bleak scanner shared by every BLE device of the gateway.

Passive scanning (BlueZ advertisement monitor: the adapter only listens, it sends no scan requests,
which saves the batteries of every device in the home) when configured and the adapter/BlueZ support
it, with or-patterns for the BTHome service data and the service UUIDs of the known GATT profiles;
active scanning otherwise.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Literal
from uuid import UUID

from bleak import BleakScanner
from bleak.args.bluez import OrPattern, OrPatternLike
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError

from drivers.ble.adapter import DBUS_ERRORS

log = logging.getLogger(__name__)

AdvertCallback = Callable[[BLEDevice, AdvertisementData], None]

#: Errors starting/stopping a scan can raise when the adapter or BlueZ is gone.
SCAN_ERRORS: tuple[type[BaseException], ...] = (BleakError, *DBUS_ERRORS)

_SIG_BASE = "-0000-1000-8000-00805f9b34fb"


def or_patterns(service_data_uuids: Iterable[str], service_uuids: Iterable[str]) -> list[OrPatternLike]:
    """Advertisement-monitor patterns that match the given service data and advertised services."""
    patterns: list[OrPatternLike] = []
    for uuid in service_data_uuids:
        if uuid.endswith(_SIG_BASE):
            short = int(uuid[4:8], 16).to_bytes(2, "little")
            patterns.append(OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16, short))
        else:
            patterns.append(OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID128, UUID(uuid).bytes_le))
    for uuid in service_uuids:
        if uuid.endswith(_SIG_BASE):
            short = int(uuid[4:8], 16).to_bytes(2, "little")
            patterns += [
                OrPattern(0, AdvertisementDataType.COMPLETE_LIST_SERVICE_UUID16, short),
                OrPattern(0, AdvertisementDataType.INCOMPLETE_LIST_SERVICE_UUID16, short),
            ]
        else:
            raw = UUID(uuid).bytes_le
            patterns += [
                OrPattern(0, AdvertisementDataType.COMPLETE_LIST_SERVICE_UUID128, raw),
                OrPattern(0, AdvertisementDataType.INCOMPLETE_LIST_SERVICE_UUID128, raw),
            ]
    return patterns


class SharedScanner:
    """Starts/stops the one scan and remembers the last :class:`BLEDevice` per address (for connecting).

    Args:
        adapter: BlueZ adapter name.
        passive: try passive scanning first.
        patterns: or-patterns for passive scanning.
        callback: called (synchronously, on the event loop) for every advert.
    """

    def __init__(self, adapter: str, passive: bool, patterns: list[OrPatternLike], callback: AdvertCallback) -> None:
        self.adapter = adapter
        self.passive = passive
        self.patterns = patterns
        self.callback = callback
        self.mode: Literal["passive", "active"] | None = None
        self.passive_unsupported = False
        self.devices: dict[str, BLEDevice] = {}
        self._scanner: BleakScanner | None = None

    def _on_advert(self, device: BLEDevice, adv: AdvertisementData) -> None:
        self.devices[device.address.upper()] = device
        self.callback(device, adv)

    async def start(self) -> None:
        """Start scanning; raises one of :data:`SCAN_ERRORS` if the adapter is not usable."""
        await self.stop()
        if self.passive and not self.passive_unsupported:
            scanner = BleakScanner(
                self._on_advert,
                scanning_mode="passive",
                bluez={"adapter": self.adapter, "or_patterns": self.patterns},
            )
            try:
                await scanner.start()
            except BleakError as exc:
                if "passive scanning" not in str(exc):
                    raise
                self.passive_unsupported = True
                log.warning("ble: passive scanning not supported here (%s); scanning actively", exc)
            else:
                self._scanner, self.mode = scanner, "passive"
                return
        scanner = BleakScanner(self._on_advert, scanning_mode="active", bluez={"adapter": self.adapter})
        await scanner.start()
        self._scanner, self.mode = scanner, "active"

    async def stop(self) -> None:
        """Stop scanning; errors from a vanished adapter are expected and ignored."""
        scanner, self._scanner = self._scanner, None
        self.mode = None
        if scanner is not None:
            with contextlib.suppress(*SCAN_ERRORS):
                await scanner.stop()
