"""Xiaomi MiBeacon v4/v5 frames as a device sends them (service data 0xFE95), plain or bindkey-encrypted.

Frame: frame control (2 bytes LE: bit 3 encrypted, bit 4 MAC included, bit 6 objects included, bit 11
auth mode, bits 12-15 version), product id (2 LE), frame counter (1), MAC (6, reversed), objects. An
object is type (2 LE), length (1), data. Encrypted (v4/v5): the objects are AES-CCM sealed with the
bindkey, 4-byte MIC, associated data 0x11, nonce = reversed MAC + product id + frame counter + 3-byte
extended counter; the frame ends with the extended counter and the MIC. Used by the simulator console,
the simulated rig and the tests (checked against the ``xiaomi-ble`` project's published adverts).
"""

from __future__ import annotations

from collections.abc import Mapping

from cryptography.hazmat.primitives.ciphers.aead import AESCCM

#: MiBeacon service data UUID (0xFE95).
MIBEACON_UUID = "0000fe95-0000-1000-8000-00805f9b34fb"

#: Product ids of the models the simulator speaks for (as ``xiaomi-ble`` knows them).
PRODUCT_IDS: Mapping[str, int] = {
    "MCCGQ02HL": 0x098B,  # door/window sensor 2
    "RTCGQ02LM": 0x0A8D,  # motion sensor
    "SJWS01LM": 0x0863,  # flood detector
    "XMWXKG01YL": 0x1949,  # wireless switch, two buttons
    "XMWXKG01LM": 0x2387,  # wireless switch, one button
}


def obj(typecode: int, data: bytes) -> bytes:
    return typecode.to_bytes(2, "little") + bytes([len(data)]) + data


def door(is_open: bool) -> bytes:
    """Object 0x1019: 0 open, 1 closed."""
    return obj(0x1019, bytes([0 if is_open else 1]))


def motion() -> bytes:
    """Object 0x4818: seconds without motion, 0 = motion now."""
    return obj(0x4818, (0).to_bytes(2, "little"))


def moisture(wet: bool) -> bytes:
    """Object 0x1014."""
    return obj(0x1014, bytes([int(wet)]))


def battery(pct: int) -> bytes:
    """Object 0x100A, percent."""
    return obj(0x100A, bytes([pct]))


def switch_press(button: int = 1) -> bytes:
    """Object 0x4E0C of XMWXKG01YL: 1 left, 2 right, 3 both."""
    return obj(0x4E0C, bytes([button]))


def button_press() -> bytes:
    """Object 0x4A0C: a single press (XMWXKG01LM and others)."""
    return obj(0x4A0C, bytes([1]))


def frame(product_id: int, counter: int, *objects: bytes, mac: str, key: str | None = None, version: int = 5) -> bytes:
    """One frame from ``mac``; ``counter`` is the 32-bit count (low byte = frame counter)."""
    frctrl = version << 12 | 0x40 | 0x10 | ((0x0800 | 0x08) if key else 0)
    mac_rev = bytes.fromhex(mac.replace(":", ""))[::-1]
    fc = counter & 0xFF
    head = frctrl.to_bytes(2, "little") + product_id.to_bytes(2, "little") + bytes([fc]) + mac_rev
    payload = b"".join(objects)
    if key is None:
        return head + payload
    ext = ((counter >> 8) & 0xFFFFFF).to_bytes(3, "little")
    nonce = mac_rev + product_id.to_bytes(2, "little") + bytes([fc]) + ext
    sealed = AESCCM(bytes.fromhex(key), tag_length=4).encrypt(nonce, payload, b"\x11")
    return head + sealed[:-4] + ext + sealed[-4:]


class SimXiaomiDevice:
    """A MiBeacon device that counts its frames (a battery change restarts the count: :meth:`restart`)."""

    def __init__(self, mac: str, model: str, key: str | None = None, *, counter: int = 0) -> None:
        self.mac = mac.upper()
        self.model = model
        self.product_id = PRODUCT_IDS[model]
        self.key = key
        self.counter = counter

    def packet_of(self, *objects: bytes) -> bytes:
        self.counter += 1
        return frame(self.product_id, self.counter, *objects, mac=self.mac, key=self.key)

    def restart(self, counter: int = 0) -> None:
        """Battery out and in: the device counts from ``counter`` again."""
        self.counter = counter
