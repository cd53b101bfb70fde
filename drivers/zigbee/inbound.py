"""Decode the ZCL frames fbgw acts on from a received packet; anything malformed raises.

Only what the driver needs: IAS zone status notifications and enroll requests, attribute reports, and
commands from client clusters (buttons). Everything else is left to zigpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import zigpy.zcl.foundation as foundation

from drivers.zigbee.mapping import IAS_ZONE, ZONE_STATUS


class MalformedFrame(ValueError):
    """A frame that does not parse as the ZCL it claims to be."""


@dataclass(frozen=True)
class ZoneStatus:
    status: int
    zone_id: int | None = None


@dataclass(frozen=True)
class EnrollRequest:
    zone_type: int
    manufacturer: int | None


@dataclass(frozen=True)
class AttributeReport:
    cluster: int
    values: dict[int, Any]


@dataclass(frozen=True)
class ClientCommand:
    cluster: int
    command: int


Message = ZoneStatus | EnrollRequest | AttributeReport | ClientCommand

_REPORT_SCHEMA = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Report_Attributes].schema


def decode(cluster: int, data: bytes) -> Message | None:
    """The message in one ZCL frame, None when it is nothing fbgw acts on."""
    try:
        hdr, payload = foundation.ZCLHeader.deserialize(data)
    except (ValueError, KeyError, IndexError) as exc:
        raise MalformedFrame(f"bad ZCL header: {exc}") from exc
    to_client = hdr.frame_control.direction == foundation.Direction.Server_to_Client
    if hdr.frame_control.frame_type == foundation.FrameType.CLUSTER_COMMAND:
        if cluster == IAS_ZONE and to_client:
            return _ias(hdr.command_id, payload)
        if not to_client:
            return ClientCommand(cluster, hdr.command_id)
        return None
    if hdr.command_id == foundation.GeneralCommand.Report_Attributes:
        problem = _report_problem(payload)
        if problem is not None:  # zigpy's parser takes time growing steeply with such input: refuse it unread
            raise MalformedFrame(problem)
        try:
            report, _ = _REPORT_SCHEMA.deserialize(payload)
            values = {int(rec.attrid): rec.value.value for rec in report.attribute_reports}  # type: ignore[attr-defined]
        except (ValueError, KeyError, IndexError, AttributeError) as exc:
            raise MalformedFrame(f"bad attribute report: {exc}") from exc
        if cluster == IAS_ZONE and ZONE_STATUS in values:
            status = values[ZONE_STATUS]
            if not isinstance(status, int):  # a report may carry any ZCL type, NoData included
                raise MalformedFrame(f"zone status of type {type(status).__name__}")
            return ZoneStatus(int(status))
        return AttributeReport(cluster, values)
    return None


#: ZCL data types of a fixed size (type -> bytes), and the strings with a 1- or 2-byte length prefix.
_FIXED = {
    **{t: t - 0x07 for t in range(0x08, 0x10)},  # data8..data64
    0x10: 1,
    **{t: t - 0x17 for t in range(0x18, 0x20)},  # bitmap8..64
    **{t: t - 0x1F for t in range(0x20, 0x28)},  # uint8..64
    **{t: t - 0x27 for t in range(0x28, 0x30)},  # int8..64
    0x30: 1, 0x31: 2, 0x38: 2, 0x39: 4, 0x3A: 8,
    0xE0: 4, 0xE1: 4, 0xE2: 4, 0xE8: 2, 0xE9: 2, 0xEA: 4, 0xF0: 8, 0xF1: 16, 0xFF: 0,
}  # fmt: skip
_SHORT_STRINGS = (0x41, 0x42)
_LONG_STRINGS = (0x43, 0x44)
_COLLECTIONS = (0x48, 0x4C, 0x50, 0x51)  # array, structure, set, bag


#: More attribute records than any device fbgw reads sends in one report.
MAX_RECORDS = 16


def _report_problem(payload: bytes) -> str | None:
    """Why an attribute report is refused before zigpy parses it: more than :data:`MAX_RECORDS` records, a
    collection (array, structure, set, bag) or a type this walk does not know. Walks the records by their
    declared sizes; None when the report is plain."""
    i = records = 0
    while i < len(payload):
        if i + 3 > len(payload):
            return None  # truncated: zigpy says so
        kind = payload[i + 2]
        i += 3
        records += 1
        if records > MAX_RECORDS:
            return f"more than {MAX_RECORDS} attribute records"
        if kind in _COLLECTIONS:
            return f"attribute of collection type 0x{kind:02x} (not read)"
        if kind in _FIXED and kind != 0xFF:
            i += _FIXED[kind]
        elif kind in _SHORT_STRINGS and i < len(payload):
            i += 1 + (payload[i] if payload[i] != 0xFF else 0)
        elif kind in _LONG_STRINGS and i + 1 < len(payload):
            size = int.from_bytes(payload[i : i + 2], "little")
            i += 2 + (size if size != 0xFFFF else 0)
        elif kind not in _SHORT_STRINGS + _LONG_STRINGS:
            return f"attribute of unknown type 0x{kind:02x}"
    return None


def _ias(command: int, payload: bytes) -> Message | None:
    if command == 0x00:  # zone status change notification: status, extended status, zone id, delay
        if len(payload) < 4:
            raise MalformedFrame(f"zone status notification of {len(payload)} bytes")
        return ZoneStatus(int.from_bytes(payload[0:2], "little"), payload[3])
    if command == 0x01:  # zone enroll request: zone type, manufacturer code
        if len(payload) < 2:
            raise MalformedFrame(f"zone enroll request of {len(payload)} bytes")
        manuf = int.from_bytes(payload[2:4], "little") if len(payload) >= 4 else None
        return EnrollRequest(int.from_bytes(payload[0:2], "little"), manuf)
    return None
