"""BTHome v2 adverts -> capability values, through the ``bthome-ble`` library (no hand parsing).

Each advert is parsed by a *fresh* library parser: the library's own state (cumulative sensor values,
lenient replay window) must not leak between packets; replay and duplicate decisions are made by
:mod:`drivers.ble.replay` on the counter / packet id reported here. The library object -> capability
mapping is one table, :data:`BTHOME_CAPABILITIES`.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bthome_ble import BTHomeBluetoothDeviceData
from bthome_ble.parser import BTHomeData, BTHomeVersion, EncryptionScheme
from habluetooth import BluetoothServiceInfoBleak

from drivers.ble import capabilities
from drivers.ble.capabilities import CAPABILITIES, PRESS_EVENTS, TYPE_OVERRIDES, Mapped

#: BTHome v2 service data UUID (0xFCD2).
BTHOME_UUID = "0000fcd2-0000-1000-8000-00805f9b34fb"

#: "empty": a well-formed frame that carries no readings (a MiBeacon keep-alive): neither taken nor an error.
Status = Literal["ok", "needs_key", "decrypt_failed", "downgrade", "invalid", "empty"]


#: BTHome v1 service data UUIDs (0x181C plain, 0x181E encrypted): recognised only to say they are unsupported.
BTHOME_V1_UUIDS = ("0000181c-0000-1000-8000-00805f9b34fb", "0000181e-0000-1000-8000-00805f9b34fb")

#: Why a BTHome v1 device cannot be adopted (shown on the technician page and in the log).
V1_UNSUPPORTED = "sends BTHome v1 adverts, which are not supported: switch it to BTHome v2 (firmware update)"

#: The shared table, under the name this module always exported.
BTHOME_CAPABILITIES = CAPABILITIES

#: Errors the library may raise on malformed bytes (it indexes and unpacks without checking everywhere).
PARSE_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    OverflowError,
    UnicodeDecodeError,
    AttributeError,
)


@dataclass(frozen=True, slots=True)
class BTHomeAdvert:
    """What one advert said (BTHome, or MiBeacon through :mod:`drivers.ble.mibeacon`), before replay checks.

    ``values`` holds ``(kind, key, value)`` from the library (``("event", "button", "press")``,
    ``("binary", "door", True)``, ``("sensor", "battery", 93)``); ``model`` is the model the advert names
    (MiBeacon product id), ``address`` the device's own MAC when the payload carries it.
    """

    status: Status
    encrypted: bool = False
    counter: int | None = None
    packet_id: int | None = None
    sleepy: bool = False
    values: tuple[tuple[str, str, Any], ...] = ()
    detail: str = ""
    model: str | None = None
    address: str | None = None


def service_info(
    address: str, name: str | None, rssi: int, service_data: Mapping[str, bytes], now: float | None = None
) -> BluetoothServiceInfoBleak:
    """The library's input type, built from what bleak reported."""
    adv = AdvertisementData(name, {}, dict(service_data), [], -127, rssi, ())
    device = BLEDevice(address, name, {})
    return BluetoothServiceInfoBleak.from_scan("ble", device, adv, time.monotonic() if now is None else now, True)


def _bindkey_bytes(bindkey: str | None) -> bytes | None:
    if not bindkey:
        return None
    try:
        key = bytes.fromhex(bindkey)
    except ValueError:
        return None
    return key if len(key) == 16 else None


def valid_bindkey(bindkey: str) -> bool:
    """A BTHome bindkey is 16 bytes written as 32 hex digits."""
    return _bindkey_bytes(bindkey) is not None


def parse(info: BluetoothServiceInfoBleak, bindkey: str | None) -> BTHomeAdvert:
    """Parse one advert carrying BTHome service data. Never raises: bad bytes give status "invalid"."""
    try:
        return _parse(info, _bindkey_bytes(bindkey))
    except PARSE_ERRORS as exc:
        return BTHomeAdvert("invalid", detail=f"{type(exc).__name__}")


def _parse(info: BluetoothServiceInfoBleak, key: bytes | None) -> BTHomeAdvert:
    try:
        frame = BTHomeData(info)
    except ValueError:
        return BTHomeAdvert("invalid", detail="no BTHome service data")
    if frame.get_bthome_version() != BTHomeVersion.V2:
        return BTHomeAdvert("invalid", detail="not BTHome v2")
    encrypted = frame.get_encryption_scheme() == EncryptionScheme.BTHOME_BINDKEY
    sleepy = frame.is_sleepy_device()
    if encrypted and key is None:
        return BTHomeAdvert("needs_key", encrypted=True, sleepy=sleepy)
    if not encrypted and key is not None:
        return BTHomeAdvert("downgrade", detail="plain advert from a device with a bindkey")
    parser = BTHomeBluetoothDeviceData(key)
    update = parser.update(info)
    counter: int | None = None
    if encrypted:
        if not parser.bindkey_verified:
            return BTHomeAdvert("decrypt_failed", encrypted=True, sleepy=sleepy)
        counter = int(parser.encryption_counter)
    values: list[tuple[str, str, Any]] = []
    packet_id: int | None = None
    for dkey, sval in update.entity_values.items():
        if dkey.key == "packet_id":
            packet_id = int(sval.native_value)  # type: ignore[arg-type]
        elif dkey.key != "signal_strength":  # the library adds the RSSI we already have
            values.append(("sensor", dkey.key, sval.native_value))
    for dkey, bval in update.binary_entity_values.items():
        values.append(("binary", dkey.key, bval.native_value))
    for dkey, event in update.events.items():
        values.append(("event", dkey.key, event.event_type))
    if not values and packet_id is None:
        return BTHomeAdvert("invalid", encrypted=encrypted, counter=counter, detail="no objects")
    return BTHomeAdvert("ok", encrypted, counter, packet_id, sleepy, tuple(values))


def to_capabilities(advert: BTHomeAdvert, device_type: str) -> list[Mapped]:
    """Map library values to capability values through :data:`drivers.ble.capabilities.CAPABILITIES`."""
    return capabilities.to_capabilities(advert.values, device_type)


def kind_of(advert: BTHomeAdvert) -> str:
    """A guess of the device type from what it reports (for the pairing list)."""
    return capabilities.kind_of(advert.values) or "bthome"


__all__ = ["BTHOME_CAPABILITIES", "PRESS_EVENTS", "TYPE_OVERRIDES", "BTHomeAdvert", "Mapped", "parse"]
