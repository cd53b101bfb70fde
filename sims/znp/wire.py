"""Little-endian field packing shared by MT commands, ZDO and ZCL payloads in the simulator."""

from __future__ import annotations

import struct


class Truncated(ValueError):
    """A payload ended before all of its fields were read."""


class Reader:
    """Reads little-endian fields from a payload, raising :class:`Truncated` when it runs short."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise Truncated(f"need {n} bytes at {self.pos}, have {len(self.data) - self.pos}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(struct.unpack("<H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack("<Q", self.take(8))[0])

    def short_bytes(self) -> bytes:
        """A byte string prefixed by an 8-bit length."""
        return self.take(self.u8())

    def long_bytes(self) -> bytes:
        """A byte string prefixed by a 16-bit length."""
        return self.take(self.u16())

    def rest(self) -> bytes:
        out = self.data[self.pos :]
        self.pos = len(self.data)
        return out

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos


def u8(v: int) -> bytes:
    return struct.pack("<B", v & 0xFF)


def u16(v: int) -> bytes:
    return struct.pack("<H", v & 0xFFFF)


def u32(v: int) -> bytes:
    return struct.pack("<I", v & 0xFFFFFFFF)


def u64(v: int) -> bytes:
    return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


def short_bytes(b: bytes) -> bytes:
    return u8(len(b)) + b


def channels_of(mask: int) -> list[int]:
    """Channel numbers (11-26) set in a 32-bit channel mask."""
    return [ch for ch in range(11, 27) if mask & (1 << ch)]
