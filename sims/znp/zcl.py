"""Just enough of the Zigbee Cluster Library for simulated end devices to talk to a real coordinator host.

Frame: ``frame control | [manufacturer code] | TSN | command id | payload``. Frame control bits: 0-1 frame
type (0 = global/profile-wide, 1 = cluster specific), 2 manufacturer specific, 3 direction (1 = server to
client), 4 disable default response.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from sims.znp.wire import Reader

FC_CLUSTER = 0x01
FC_MANUF = 0x04
FC_TO_CLIENT = 0x08
FC_NO_DEFAULT_RSP = 0x10

# Global commands.
READ_ATTRS = 0x00
READ_ATTRS_RSP = 0x01
WRITE_ATTRS = 0x02
WRITE_ATTRS_UNDIVIDED = 0x03
WRITE_ATTRS_RSP = 0x04
WRITE_ATTRS_NO_RSP = 0x05
CONFIGURE_REPORTING = 0x06
CONFIGURE_REPORTING_RSP = 0x07
REPORT_ATTRS = 0x0A
DEFAULT_RSP = 0x0B

SUCCESS = 0x00
UNSUP_CLUSTER_COMMAND = 0x81
UNSUP_GENERAL_COMMAND = 0x82
UNSUPPORTED_ATTRIBUTE = 0x86

# Data types: id -> struct format (or None for length-prefixed strings).
T_BOOL, T_BITMAP8, T_BITMAP16, T_UINT8, T_UINT16, T_UINT32 = 0x10, 0x18, 0x19, 0x20, 0x21, 0x23
T_ENUM8, T_ENUM16, T_CHAR_STR, T_EUI64 = 0x30, 0x31, 0x42, 0xF0
_FORMATS: dict[int, str] = {
    T_BOOL: "B",
    T_BITMAP8: "B",
    T_BITMAP16: "H",
    T_UINT8: "B",
    T_UINT16: "H",
    T_UINT32: "I",
    T_ENUM8: "B",
    T_ENUM16: "H",
    T_EUI64: "Q",
    0x28: "b",
    0x29: "h",
}


def encode_value(dtype: int, value: Any) -> bytes:
    if dtype == T_CHAR_STR:
        raw = str(value).encode()
        return bytes([len(raw)]) + raw
    return struct.pack("<" + _FORMATS[dtype], value)


def decode_value(dtype: int, r: Reader) -> Any:
    if dtype == T_CHAR_STR:
        return r.short_bytes().decode(errors="replace")
    fmt = _FORMATS.get(dtype)
    if fmt is None:
        raise ValueError(f"unsupported ZCL type 0x{dtype:02x}")
    return struct.unpack("<" + fmt, r.take(struct.calcsize("<" + fmt)))[0]


@dataclass(frozen=True, slots=True)
class ZclFrame:
    frame_control: int
    tsn: int
    command: int
    payload: bytes
    manufacturer: int | None = None

    @property
    def cluster_specific(self) -> bool:
        return bool(self.frame_control & FC_CLUSTER)

    @property
    def wants_default_rsp(self) -> bool:
        return not self.frame_control & FC_NO_DEFAULT_RSP

    @classmethod
    def parse(cls, data: bytes) -> ZclFrame:
        r = Reader(data)
        fc = r.u8()
        manuf = r.u16() if fc & FC_MANUF else None
        tsn = r.u8()
        cmd = r.u8()
        return cls(fc, tsn, cmd, r.rest(), manuf)

    def encode(self) -> bytes:
        out = bytes([self.frame_control])
        if self.manufacturer is not None:
            out += struct.pack("<H", self.manufacturer)
        return out + bytes([self.tsn, self.command]) + self.payload


def from_server(tsn: int, command: int, payload: bytes, *, cluster_specific: bool = False) -> bytes:
    """A frame a device (cluster server) sends to the coordinator (client side)."""
    fc = FC_TO_CLIENT | FC_NO_DEFAULT_RSP | (FC_CLUSTER if cluster_specific else 0)
    return ZclFrame(fc, tsn, command, payload).encode()


def from_client(tsn: int, command: int, payload: bytes, *, cluster_specific: bool = False) -> bytes:
    """A frame a device's client cluster (e.g. a remote's On/Off client) sends to the coordinator."""
    fc = FC_NO_DEFAULT_RSP | (FC_CLUSTER if cluster_specific else 0)
    return ZclFrame(fc, tsn, command, payload).encode()
