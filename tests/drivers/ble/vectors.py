"""BTHome v2 test vectors, built the way the BTHome specification (bthome.io) documents packets.

Service data (after the 0xFCD2 UUID) = device information byte + objects in id order. Device info:
bit 0 encrypted, bit 2 trigger based (sleepy), bits 5-7 version (2) -> 0x40 plain, 0x41 encrypted,
0x44 plain trigger based (e.g. Shelly BLU Button1). Objects used here, as the spec lists them:
0x00 packet id (uint8), 0x01 battery % (uint8), 0x1A door, 0x20 moisture, 0x21 motion, 0x23 occupancy,
0x2D window (binary, uint8), 0x3A button event (0x01 press, 0x02 double press, 0x04 long press).

Encryption (spec, "Encryption" section): AES-CCM with a 4-byte MIC; nonce = MAC (6 bytes, as written) +
UUID 0xFCD2 little-endian (d2 fc) + device info byte + 4-byte counter (little-endian); the packet is
device info + ciphertext + counter + MIC.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers.aead import AESCCM

# The specification's encryption example.
SPEC_KEY = "231d39c1d7cc1ab1aee224cd096db932"
SPEC_MAC = "54:48:E6:8F:80:A5"
SPEC_PLAIN = bytes.fromhex("02ca0903bf13")  # temperature 25.06 °C, humidity 50.55 %
SPEC_COUNTER = 0x33221100  # bytes 00 11 22 33 on air
SPEC_ENCRYPTED = bytes.fromhex("41a47266c95f730011223378237214")

PLAIN = 0x40
PLAIN_SLEEPY = 0x44
ENCRYPTED = 0x41

PRESS, DOUBLE_PRESS, LONG_PRESS = 0x01, 0x02, 0x04


def packet_id(n: int) -> bytes:
    return bytes([0x00, n & 0xFF])


def battery(pct: int) -> bytes:
    return bytes([0x01, pct])


def button(event: int) -> bytes:
    return bytes([0x3A, event])


def door(is_open: bool) -> bytes:
    return bytes([0x1A, int(is_open)])


def moisture(wet: bool) -> bytes:
    return bytes([0x20, int(wet)])


def motion(moving: bool) -> bytes:
    return bytes([0x21, int(moving)])


def occupancy(occupied: bool) -> bytes:
    return bytes([0x23, int(occupied)])


def window(is_open: bool) -> bytes:
    return bytes([0x2D, int(is_open)])


def plain(*objects: bytes, info: int = PLAIN) -> bytes:
    return bytes([info]) + b"".join(objects)


def encrypted(*objects: bytes, mac: str, key: str, counter: int, info: int = ENCRYPTED) -> bytes:
    """Encrypt ``objects`` as the spec describes (for a device at ``mac`` with bindkey ``key``)."""
    mac_bytes = bytes.fromhex(mac.replace(":", ""))
    count = counter.to_bytes(4, "little")
    nonce = mac_bytes + b"\xd2\xfc" + bytes([info]) + count
    sealed = AESCCM(bytes.fromhex(key), tag_length=4).encrypt(nonce, b"".join(objects), None)
    return bytes([info]) + sealed[:-4] + count + sealed[-4:]
