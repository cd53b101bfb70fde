"""BTHome v2 packets as a device sends them, built per the BTHome specification (bthome.io).

Service data (after UUID 0xFCD2) = device information byte + objects in ascending id order. Device info:
bit 0 encrypted, bit 2 trigger based, bits 5-7 version 2. Encryption: AES-CCM, 4-byte MIC, nonce =
MAC (6 bytes as written) + d2 fc + device info byte + 4-byte little-endian counter; the packet is
device info + ciphertext + counter + MIC. Used by the simulator console, the demo and the tests.
"""

from __future__ import annotations

from collections.abc import Mapping

from cryptography.hazmat.primitives.ciphers.aead import AESCCM

PLAIN = 0x40
ENCRYPTED = 0x41
TRIGGER_BASED = 0x04

#: Button event codes (object 0x3A).
BUTTON_EVENTS: Mapping[str, int] = {
    "none": 0x00,
    "press": 0x01,
    "double": 0x02,
    "triple": 0x03,
    "long": 0x04,
    "long_double": 0x05,
    "long_triple": 0x06,
    "hold": 0x80,
}


def obj(object_id: int, *data: int) -> bytes:
    """One BTHome object: id then its little-endian data bytes."""
    return bytes([object_id, *data])


def packet_id(n: int) -> bytes:
    return obj(0x00, n & 0xFF)


def battery(pct: int) -> bytes:
    return obj(0x01, pct)


def opening(is_open: bool) -> bytes:
    return obj(0x11, int(is_open))


def battery_low(low: bool) -> bytes:
    return obj(0x15, int(low))


def carbon_monoxide(detected: bool) -> bytes:
    return obj(0x17, int(detected))


def door(is_open: bool) -> bytes:
    return obj(0x1A, int(is_open))


def garage_door(is_open: bool) -> bytes:
    return obj(0x1B, int(is_open))


def gas(detected: bool) -> bytes:
    return obj(0x1C, int(detected))


def moisture(wet: bool) -> bytes:
    return obj(0x20, int(wet))


def motion(moving: bool) -> bytes:
    return obj(0x21, int(moving))


def occupancy(occupied: bool) -> bytes:
    return obj(0x23, int(occupied))


def presence(present: bool) -> bytes:
    return obj(0x25, int(present))


def problem(has_problem: bool) -> bytes:
    return obj(0x26, int(has_problem))


def smoke(detected: bool) -> bytes:
    return obj(0x29, int(detected))


def tamper(tampered: bool) -> bytes:
    return obj(0x2B, int(tampered))


def window(is_open: bool) -> bytes:
    return obj(0x2D, int(is_open))


def button(event: int) -> bytes:
    return obj(0x3A, event)


def buttons(*events: int) -> bytes:
    """A multi-button device: one 0x3A object per button, in button order (0x00 = that button idle)."""
    return b"".join(button(event) for event in events)


def plain(*objects: bytes, info: int = PLAIN) -> bytes:
    return bytes([info]) + b"".join(objects)


def encrypted(*objects: bytes, mac: str, key: str, counter: int, info: int = ENCRYPTED) -> bytes:
    """Encrypt ``objects`` for the device at ``mac`` with bindkey ``key`` (32 hex digits)."""
    count = counter.to_bytes(4, "little")
    nonce = bytes.fromhex(mac.replace(":", "")) + b"\xd2\xfc" + bytes([info]) + count
    sealed = AESCCM(bytes.fromhex(key), tag_length=4).encrypt(nonce, b"".join(objects), None)
    return bytes([info]) + sealed[:-4] + count + sealed[-4:]


class SimBTHomeDevice:
    """A BTHome device that numbers its packets (packet id; encryption counter when it has a key)."""

    def __init__(self, mac: str, key: str | None = None, *, trigger_based: bool = True, counter: int = 1) -> None:
        self.mac = mac.upper()
        self.key = key
        self.trigger_based = trigger_based
        self.counter = counter
        self.packet = 0

    def packet_of(self, *objects: bytes) -> bytes:
        """The next packet carrying ``objects`` (a fresh packet id, and counter if encrypted)."""
        self.packet = (self.packet + 1) & 0xFF
        body = (packet_id(self.packet), *objects)
        flags = TRIGGER_BASED if self.trigger_based else 0
        if self.key is None:
            return plain(*body, info=PLAIN | flags)
        self.counter += 1
        return encrypted(*body, mac=self.mac, key=self.key, counter=self.counter, info=ENCRYPTED | flags)
