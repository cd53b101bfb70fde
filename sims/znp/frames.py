"""MT transport framing, as in TI's Z-Stack Monitor and Test (MT) API over UART.

A frame is ``SOF(0xFE) | LEN | CMD0 | CMD1 | DATA[LEN] | FCS`` where ``CMD0`` packs the command type
(bits 5-7: POLL/SREQ/AREQ/SRSP) and the subsystem (bits 0-4), ``CMD1`` is the command id and ``FCS`` is
the XOR of every byte from ``LEN`` to the end of ``DATA``. This module only knows bytes; what a command
means lives in :mod:`.commands`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from functools import reduce

SOF = 0xFE
MAX_DATA = 250


class CmdType(IntEnum):
    POLL = 0
    SREQ = 1
    AREQ = 2
    SRSP = 3


class Subsystem(IntEnum):
    RPC_ERROR = 0x00
    SYS = 0x01
    MAC = 0x02
    NWK = 0x03
    AF = 0x04
    ZDO = 0x05
    SAPI = 0x06
    UTIL = 0x07
    DEBUG = 0x08
    APP = 0x09
    APP_CNF = 0x0F
    ZGP = 0x15


@dataclass(frozen=True, slots=True)
class Frame:
    """One MT command: type, subsystem, command id and its payload."""

    type: CmdType
    subsystem: int
    cmd_id: int
    data: bytes = b""

    @property
    def cmd0(self) -> int:
        return (int(self.type) << 5) | (self.subsystem & 0x1F)

    def encode(self) -> bytes:
        if len(self.data) > MAX_DATA:
            raise ValueError(f"MT payload too long: {len(self.data)} bytes")
        body = bytes([len(self.data), self.cmd0, self.cmd_id]) + self.data
        return bytes([SOF]) + body + bytes([fcs(body)])


def fcs(body: bytes) -> int:
    """Frame check sequence: XOR of LEN, CMD0, CMD1 and DATA."""
    return reduce(lambda a, b: a ^ b, body, 0)


class FrameReader:
    """Turns a byte stream into frames; skips noise up to the next SOF and counts what it dropped."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.bytes_dropped = 0
        self.bad_fcs = 0

    def feed(self, chunk: bytes) -> Iterator[Frame]:
        self._buf += chunk
        while True:
            start = self._buf.find(SOF)
            if start < 0:
                self.bytes_dropped += len(self._buf)
                self._buf.clear()
                return
            if start:
                self.bytes_dropped += start
                del self._buf[:start]
            if len(self._buf) < 5:
                return
            length = self._buf[1]
            if length > MAX_DATA:
                self.bytes_dropped += 1
                del self._buf[:1]
                continue
            if len(self._buf) < length + 5:
                return
            body = bytes(self._buf[1 : length + 4])
            if fcs(body) != self._buf[length + 4]:
                self.bad_fcs += 1
                self.bytes_dropped += 1
                del self._buf[:1]
                continue
            del self._buf[: length + 5]
            cmd0 = body[1]
            if cmd0 >> 5 > CmdType.SRSP:
                self.bytes_dropped += length + 5
                continue
            yield Frame(CmdType(cmd0 >> 5), cmd0 & 0x1F, body[2], body[3:])
