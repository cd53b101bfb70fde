"""Bluetooth SIG Heart Rate Service (0x180D): Heart Rate Measurement notifications (0x2A37).

Measurement layout: a flags byte, then the rate as uint8 (flags bit 0 clear) or uint16 little-endian
(bit 0 set). Bits 1-2 are sensor contact: "supported but not detected" means the strap is off the body,
and the rate is then not reported. Energy expended and RR intervals (bits 3, 4) follow and are ignored.
"""

from __future__ import annotations

from typing import Any, ClassVar

from drivers.ble.profiles.base import GattProfile, ProfileDecodeError, uuid16

HEART_RATE_SERVICE = uuid16(0x180D)
HEART_RATE_MEASUREMENT = uuid16(0x2A37)

_RATE_16BIT = 0x01
_CONTACT_DETECTED = 0x02
_CONTACT_SUPPORTED = 0x04


class HeartRateProfile(GattProfile):
    name: ClassVar[str] = "heart_rate"
    device_type: ClassVar[str] = "heart_rate"
    service_uuid: ClassVar[str] = HEART_RATE_SERVICE
    notify_uuids: ClassVar[tuple[str, ...]] = (HEART_RATE_MEASUREMENT,)
    capabilities: ClassVar[tuple[str, ...]] = ("heart_rate",)

    def decode(self, char_uuid: str, data: bytes) -> list[tuple[str, Any]]:
        if char_uuid != HEART_RATE_MEASUREMENT:
            return []
        if len(data) < 2:
            raise ProfileDecodeError(f"heart rate measurement too short ({len(data)} bytes)")
        flags = data[0]
        if flags & _RATE_16BIT:
            if len(data) < 3:
                raise ProfileDecodeError("16-bit heart rate measurement too short")
            rate = int.from_bytes(data[1:3], "little")
        else:
            rate = data[1]
        if flags & _CONTACT_SUPPORTED and not flags & _CONTACT_DETECTED:
            return []  # sensor not on the body: no meaningful rate
        if not 0 < rate <= 300:
            raise ProfileDecodeError(f"heart rate {rate} out of range")
        return [("heart_rate", rate)]
