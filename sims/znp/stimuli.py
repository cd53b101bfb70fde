"""Frames a simulated device sends on its own, built from the FRAME forms of :mod:`.descriptor`.

Tuya data points (cluster 0xEF00, command 0x02 "data report"): status, sequence, then per data point its id,
type, a 16-bit big-endian length and the big-endian value. Xiaomi packs battery voltage and more as tag/type/value
records in the string attribute 0xFF01 of its Basic cluster, manufacturer-specific (code 0x115F).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sims.znp import zcl
from sims.znp.descriptor import DescriptorError, num
from sims.znp.wire import u8, u16

if TYPE_CHECKING:
    from sims.znp.devices import SimDevice

TUYA_CLUSTER, TUYA_DATA_REPORT = 0xEF00, 0x02
IAS_ZONE, IAS_ACE = 0x0500, 0x0501
XIAOMI_MANUFACTURER, XIAOMI_ATTR = 0x115F, 0xFF01

#: Tuya data point types: name -> (type id, value size in bytes; 0 = raw/string).
DP_TYPES = {"raw": (0x00, 0), "bool": (0x01, 1), "value": (0x02, 4), "string": (0x03, 0), "enum": (0x04, 1)}
#: IAS ACE commands a keypad/SOS button sends to the CIE.
ACE_COMMANDS = {"emergency": 0x02, "fire": 0x03, "panic": 0x04}
ZONE_BITS = {
    "alarm1": 0x0001,
    "alarm2": 0x0002,
    "tamper": 0x0004,
    "battery_low": 0x0008,
    "trouble": 0x0040,
    "mains_fault": 0x0080,
}


@dataclass(frozen=True)
class Outgoing:
    cluster: int
    endpoint: int
    data: bytes


def tuya_level(percent: int) -> int:
    """Tuya's four-step battery state (0 full, 1 high, 2 medium, 3 low) nearest to ``percent``."""
    return min(3, max(0, round((100 - percent) / 25)))


def fill(value: Any, percent: int | None) -> Any:
    """``value`` with a battery placeholder ("{percent}", "{half}", "{mv}", "{decivolts}", "{tuya_level}") filled in."""
    if not (isinstance(value, str) and value.startswith("{") and value.endswith("}")):
        return value
    if percent is None:
        raise DescriptorError(f"{value} needs a battery percentage")
    table = {
        "{percent}": percent,
        "{half}": percent * 2,
        "{mv}": 2820 + round(percent * 2.8),  # Xiaomi CR2032/CR1632: 2.82 V empty, 3.1 V full
        "{decivolts}": 21 + (percent * 9) // 100,
        "{tuya_level}": tuya_level(percent),
    }
    if value not in table:
        raise DescriptorError(f"unknown placeholder {value}")
    return table[value]


def build(dev: SimDevice, frame: dict[str, Any], percent: int | None = None) -> list[Outgoing]:
    """The frames ``dev`` sends for one FRAME form (see :mod:`.descriptor`); raises DescriptorError."""
    if not isinstance(frame, dict) or len(frame) != 1:
        raise DescriptorError(f"a frame is an object with one key, not {frame!r}")
    ((form, body),) = frame.items()
    spec = dev.spec
    if form == "zcl":
        cluster = num(body["cluster"], "cluster")
        client = body.get("from", "server") == "client"
        fc = (zcl.FC_CLUSTER if body.get("specific", True) else 0) | zcl.FC_NO_DEFAULT_RSP
        if not client:
            fc |= zcl.FC_TO_CLIENT
        manuf = body.get("manufacturer")
        if manuf is not None:
            fc |= zcl.FC_MANUF
        payload = bytes.fromhex(str(body.get("payload", "")))
        frame_out = zcl.ZclFrame(
            fc, dev.next_tsn(), num(body["command"], "command"), payload, num(manuf) if manuf is not None else None
        )
        return [Outgoing(cluster, spec.endpoint_of(cluster, client=client), frame_out.encode())]
    if form == "report":
        cluster = num(body["cluster"], "cluster")
        payload = b""
        for attr, dtype, value in body["attributes"]:
            attr, dtype, value = num(attr), num(dtype), fill(value, percent)
            dev.attrs[(cluster, attr)] = (dtype, value)
            payload += u16(attr) + u8(dtype) + zcl.encode_value(dtype, value)
        manuf = body.get("manufacturer")
        fc = zcl.FC_TO_CLIENT | zcl.FC_NO_DEFAULT_RSP | (zcl.FC_MANUF if manuf is not None else 0)
        report = zcl.ZclFrame(fc, dev.next_tsn(), zcl.REPORT_ATTRS, payload, num(manuf) if manuf is not None else None)
        return [Outgoing(cluster, spec.endpoint_of(cluster), report.encode())]
    if form == "dp":
        return [Outgoing(TUYA_CLUSTER, spec.endpoint_of(TUYA_CLUSTER), tuya_dp(dev, body, percent))]
    if form == "zone":
        for bit in body.get("set", []):
            dev.zone_status |= ZONE_BITS[bit]
        for bit in body.get("clear", []):
            dev.zone_status &= ~ZONE_BITS[bit]
        cluster, data = dev.zone_status_notification()
        return [Outgoing(cluster, spec.endpoint_of(cluster), data)]
    if form == "ace":
        command = ACE_COMMANDS.get(str(body))
        if command is None:
            raise DescriptorError(f"ace: one of {', '.join(ACE_COMMANDS)}, not {body!r}")
        data = zcl.from_client(dev.next_tsn(), command, b"", cluster_specific=True)
        return [Outgoing(IAS_ACE, spec.endpoint_of(IAS_ACE, client=True), data)]
    if form == "xiaomi":
        return [Outgoing(0x0000, spec.endpoint_of(0x0000), xiaomi_report(dev, body, percent))]
    raise DescriptorError(f"unknown frame form {form!r} (zcl, report, dp, zone, ace, xiaomi)")


def tuya_dp(dev: SimDevice, body: dict[str, Any], percent: int | None) -> bytes:
    kind = str(body.get("type", "value"))
    if kind not in DP_TYPES:
        raise DescriptorError(f"dp type: one of {', '.join(DP_TYPES)}, not {kind!r}")
    type_id, size = DP_TYPES[kind]
    value = fill(body["value"], percent)
    if size:
        raw = int(num(value) if not isinstance(value, bool) else value).to_bytes(size, "big", signed=size == 4)
    elif kind == "string":
        raw = str(value).encode()
    else:
        raw = bytes.fromhex(str(value))
    seq = dev.next_tsn()
    payload = u8(0) + u8(seq) + u8(num(body["dp"], "dp")) + u8(type_id) + struct.pack(">H", len(raw)) + raw
    return zcl.ZclFrame(
        zcl.FC_CLUSTER | zcl.FC_TO_CLIENT | zcl.FC_NO_DEFAULT_RSP, seq, TUYA_DATA_REPORT, payload
    ).encode()


def xiaomi_report(dev: SimDevice, body: dict[str, Any], percent: int | None) -> bytes:
    """Attribute report of 0xFF01 (tag 0x01 battery mV as uint16, tag 0x03 temperature as int8)."""
    mv = num(fill(body.get("battery_mv", "{mv}"), percent), "battery_mv")
    tlv = bytes([0x01, zcl.T_UINT16]) + struct.pack("<H", mv) + bytes([0x03, 0x28]) + struct.pack("<b", 25)
    payload = u16(XIAOMI_ATTR) + u8(zcl.T_CHAR_STR) + u8(len(tlv)) + tlv
    fc = zcl.FC_TO_CLIENT | zcl.FC_NO_DEFAULT_RSP | zcl.FC_MANUF
    return zcl.ZclFrame(fc, dev.next_tsn(), zcl.REPORT_ATTRS, payload, XIAOMI_MANUFACTURER).encode()
