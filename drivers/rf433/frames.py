"""The serial output of 433 MHz receiver/decoder modules, parsed into code frames.

Cheap 433 MHz pendants, pull cords, door and smoke sensors send a fixed code (EV1527: 20-bit address + 4 data bits;
PT2262: 12 tri-state bits, 24 bits on air) repeated many times per press. A decoder module on the gateway's UART
turns each received repetition into one frame. Two formats are supported, mixed freely on one line:

**Binary (RF-bridge)**, 12 bytes, the format of the EFM8BB1-based 433 MHz bridges (Sonoff RF Bridge and the many
UART decoder boards that copy it)::

    AA A4 Ts Ts Tl Tl Th Th D2 D1 D0 55
    |  |  sync     low      high   code (24 bits, big-endian)     end
    |  "code received"     (each a 16-bit big-endian time in microseconds)

**Text lines** (Arduino/ESP receivers running RCSwitch, and modules that print the code in hex), ended by LF or
CR LF::

    Received 5592405 / 24bit Protocol: 1      (RCSwitch: decimal code, bit length, protocol number)
    RX:5A5A55                                 (hex code, optional "RX:" prefix, 6 hex digits = 24 bits)

Anything else is garbage: counted, never fatal. A byte 0xAA always starts a binary frame (it cannot occur in a
text line); a binary frame with a wrong end byte is dropped and scanning resumes after its first byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

START, RECEIVED, END = 0xAA, 0xA4, 0x55
BINARY_LEN = 12
#: A text line longer than this is noise (a baud-rate mismatch), not a frame.
MAX_LINE = 64
#: Codes we accept: 12 to 32 bits (PT2262 24, EV1527 24, some 12/28/32-bit remotes).
MIN_BITS, MAX_BITS = 12, 32

_RCSWITCH = re.compile(r"Received (\d{1,10}) / (\d{1,2})bit Protocol: (\d{1,2})")
_HEX = re.compile(r"(?:RX:\s*)?(?:0x)?([0-9A-Fa-f]{3,8})")


@dataclass(frozen=True, slots=True)
class Frame:
    """One received repetition of a code."""

    code: int
    bits: int = 24
    source: Literal["binary", "rcswitch", "hex"] = "binary"
    protocol: int = 0  # RCSwitch protocol number (pulse timing family), 0 when unknown
    sync_us: int = 0  # binary frames: measured sync / low / high pulse widths
    low_us: int = 0
    high_us: int = 0

    @property
    def hex(self) -> str:
        """The code in hex, zero-padded to its bit length (the key of a device)."""
        return f"{self.code:0{(self.bits + 3) // 4}x}"


@dataclass(frozen=True, slots=True)
class Garbage:
    """Bytes that were not a frame; ``why`` is short and safe to log."""

    data: bytes
    why: str


def parse_line(line: bytes) -> Frame | Garbage:
    """One text line (without its end of line) as a frame, or garbage."""
    try:
        text = line.decode("ascii").strip()
    except UnicodeDecodeError:
        return Garbage(line, "non-ASCII text")
    if m := _RCSWITCH.fullmatch(text):
        code, bits, proto = int(m[1]), int(m[2]), int(m[3])
        if not MIN_BITS <= bits <= MAX_BITS or code >= 1 << bits:
            return Garbage(line, "code outside its bit length")
        return Frame(code, bits, "rcswitch", proto)
    if m := _HEX.fullmatch(text):
        digits = m[1]
        bits = len(digits) * 4
        if not MIN_BITS <= bits <= MAX_BITS:
            return Garbage(line, "hex code of unsupported length")
        return Frame(int(digits, 16), bits, "hex")
    return Garbage(line, "unknown text line")


def parse_binary(frame: bytes) -> Frame | Garbage:
    """One 12-byte binary frame."""
    if len(frame) != BINARY_LEN or frame[0] != START or frame[-1] != END:
        return Garbage(frame, "bad binary frame")
    if frame[1] != RECEIVED:
        return Garbage(frame, f"binary command 0x{frame[1]:02x} is not a received code")
    sync, low, high = (int.from_bytes(frame[i : i + 2], "big") for i in (2, 4, 6))
    return Frame(int.from_bytes(frame[8:11], "big"), 24, "binary", 0, sync, low, high)


class FrameParser:
    """Turns a byte stream (any chunking) into frames and garbage, in order."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Frame | Garbage]:
        self._buf += data
        out: list[Frame | Garbage] = []
        buf = self._buf
        while buf:
            if buf[0] == START:
                if len(buf) < BINARY_LEN:
                    break
                if buf[BINARY_LEN - 1] != END:
                    out.append(Garbage(bytes(buf[:1]), "binary frame without its end byte"))
                    del buf[:1]
                    continue
                out.append(parse_binary(bytes(buf[:BINARY_LEN])))
                del buf[:BINARY_LEN]
                continue
            if buf[0] in b"\r\n":
                del buf[:1]
                continue
            end = next((i for i, b in enumerate(buf) if b in b"\r\n" or b == START), -1)
            if end < 0:
                if len(buf) > MAX_LINE:
                    out.append(Garbage(bytes(buf), "line too long"))
                    buf.clear()
                break
            line = bytes(buf[:end])
            del buf[:end]
            if len(line) > MAX_LINE:
                out.append(Garbage(line[:MAX_LINE], "line too long"))
            elif buf[:1] == bytes([START]):
                out.append(Garbage(line, "line cut by a binary frame"))
            else:
                out.append(parse_line(line))
        return out

    def reset(self) -> None:
        """Forget a partial frame (the port was reopened)."""
        self._buf.clear()


def ev1527(frame: Frame) -> tuple[int, int]:
    """(20-bit address, 4 data bits) of a 24-bit EV1527 code."""
    return frame.code >> 4, frame.code & 0xF


def encode_binary(code: int, sync_us: int = 9000, low_us: int = 300, high_us: int = 900) -> bytes:
    """A binary frame for ``code`` (what the simulator and the tests send)."""
    return (
        bytes([START, RECEIVED])
        + b"".join(v.to_bytes(2, "big") for v in (sync_us, low_us, high_us))
        + code.to_bytes(3, "big")
        + bytes([END])
    )


def encode_rcswitch(code: int, bits: int = 24, protocol: int = 1) -> bytes:
    """An RCSwitch text line for ``code``."""
    return f"Received {code} / {bits}bit Protocol: {protocol}\r\n".encode()
