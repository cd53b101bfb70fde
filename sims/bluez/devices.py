"""Simulated GATT devices on the mocked BlueZ: a heart-rate strap and a bed sensor pad."""

from __future__ import annotations

from dataclasses import dataclass

from drivers.ble.profiles.heart_rate import HEART_RATE_MEASUREMENT, HEART_RATE_SERVICE
from drivers.ble.profiles.mattress import BED_SERVICE, BED_STATUS, encode_status
from sims.bluez.control import BluezControl


@dataclass(frozen=True, slots=True)
class SimGattDevice:
    """Object paths of a simulated GATT device: the device and the characteristic it notifies on."""

    address: str
    path: str
    characteristic: str


async def add_heart_rate_sensor(ctl: BluezControl, address: str, name: str = "HR Strap") -> SimGattDevice:
    """A device advertising the Heart Rate Service with a notifying Heart Rate Measurement."""
    path = await ctl.advertise(address, name=name, uuids=[HEART_RATE_SERVICE])
    service = await ctl.add_gatt_service(path, 0x000A, HEART_RATE_SERVICE)
    char = await ctl.add_gatt_characteristic(service, 0x000B, HEART_RATE_MEASUREMENT, ["notify"])
    return SimGattDevice(address, path, char)


async def add_bed_sensor(ctl: BluezControl, address: str, name: str = "Bed Pad") -> SimGattDevice:
    """A mattress pad with the Bed Status characteristic (see drivers/ble/profiles/mattress.py)."""
    path = await ctl.advertise(address, name=name, uuids=[BED_SERVICE])
    service = await ctl.add_gatt_service(path, 0x0010, BED_SERVICE)
    char = await ctl.add_gatt_characteristic(
        service, 0x0011, BED_STATUS, ["read", "notify"], encode_status(False, None, None)
    )
    return SimGattDevice(address, path, char)


def heart_rate_measurement(bpm: int, *, wide: bool = False, contact: bool | None = None) -> bytes:
    """A Heart Rate Measurement value: 8-bit rate, or 16-bit with ``wide``; optional contact status."""
    flags = 0x01 if wide else 0x00
    if contact is not None:
        flags |= 0x04 | (0x02 if contact else 0)
    rate = bpm.to_bytes(2, "little") if wide else bytes([bpm])
    return bytes([flags]) + rate
