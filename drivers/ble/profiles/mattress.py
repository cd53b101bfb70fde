"""Bed sensor (mattress pad) profile: in bed / out of bed, heart rate and breathing rate.

A simple vendor-style layout that mattress makers can implement or be adapted to (one file per vendor):

* Service ``8f3e0001-5a6b-4c1d-9e2f-0b1e2d3c4a50`` (advertised in the 128-bit service UUID list).
* Characteristic *Bed Status* ``8f3e0002-5a6b-4c1d-9e2f-0b1e2d3c4a50`` (notify, read), 6 bytes:

  ====  ==========  =================================================================
  byte  field       meaning
  ====  ==========  =================================================================
  0     version     layout version, 1
  1     flags       bit 0 occupied (in bed), bit 1 heart rate valid, bit 2 breath valid
  2     heart rate  beats per minute, uint8
  3     breath      breaths per minute, uint8
  4-5   sequence    uint16 little-endian, +1 per notification (diagnostics only)
  ====  ==========  =================================================================

Rates are only reported while the occupant is in bed and the pad marks them valid.
"""

from __future__ import annotations

from typing import Any, ClassVar

from drivers.ble.profiles.base import GattProfile, ProfileDecodeError

BED_SERVICE = "8f3e0001-5a6b-4c1d-9e2f-0b1e2d3c4a50"
BED_STATUS = "8f3e0002-5a6b-4c1d-9e2f-0b1e2d3c4a50"

_IN_BED = 0x01
_HR_VALID = 0x02
_BR_VALID = 0x04


def encode_status(in_bed: bool, heart_rate: int | None, breath_rate: int | None, sequence: int = 0) -> bytes:
    """Build a Bed Status value (used by the simulator and tests; a real pad builds it in firmware)."""
    flags = (_IN_BED if in_bed else 0) | (_HR_VALID if heart_rate is not None else 0)
    flags |= _BR_VALID if breath_rate is not None else 0
    return bytes([1, flags, heart_rate or 0, breath_rate or 0]) + (sequence & 0xFFFF).to_bytes(2, "little")


class MattressProfile(GattProfile):
    name: ClassVar[str] = "mattress"
    device_type: ClassVar[str] = "mattress"
    service_uuid: ClassVar[str] = BED_SERVICE
    notify_uuids: ClassVar[tuple[str, ...]] = (BED_STATUS,)
    capabilities: ClassVar[tuple[str, ...]] = ("in_bed", "heart_rate", "breath_rate")

    def decode(self, char_uuid: str, data: bytes) -> list[tuple[str, Any]]:
        if char_uuid != BED_STATUS:
            return []
        if len(data) < 4:
            raise ProfileDecodeError(f"bed status too short ({len(data)} bytes)")
        if data[0] != 1:
            raise ProfileDecodeError(f"bed status layout version {data[0]} unknown")
        flags = data[1]
        in_bed = bool(flags & _IN_BED)
        out: list[tuple[str, Any]] = [("in_bed", in_bed)]
        if in_bed and flags & _HR_VALID and 0 < data[2] <= 250:
            out.append(("heart_rate", data[2]))
        if in_bed and flags & _BR_VALID and 0 < data[3] <= 100:
            out.append(("breath_rate", data[3]))
        return out
