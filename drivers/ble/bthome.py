"""BTHome v2 adverts -> capability values, through the ``bthome-ble`` library (no hand parsing).

Each advert is parsed by a *fresh* library parser: the library's own state (cumulative sensor values,
lenient replay window) must not leak between packets; replay and duplicate decisions are made by
:mod:`drivers.ble.replay` on the counter / packet id reported here. The library object -> capability
mapping is one table, :data:`BTHOME_CAPABILITIES`.
"""

from __future__ import annotations

import re
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bthome_ble import BTHomeBluetoothDeviceData
from bthome_ble.parser import BTHomeData, BTHomeVersion, EncryptionScheme
from habluetooth import BluetoothServiceInfoBleak

#: BTHome v2 service data UUID (0xFCD2).
BTHOME_UUID = "0000fcd2-0000-1000-8000-00805f9b34fb"

Status = Literal["ok", "needs_key", "decrypt_failed", "downgrade", "invalid"]


def _open_closed(value: Any) -> str:
    return "open" if value else "closed"


def _true_only(value: Any) -> bool | None:
    # motion/press are momentary: "no motion" is not a reading (the vocabulary has only True).
    return True if value else None


def _percent(value: Any) -> int | None:
    # a uint8 on air: values above 100 are garbage, not "full"
    return round(value) if 0 <= value <= 100 else None


#: (kind, library key) -> (capability, value converter). ``kind`` is "sensor", "binary" or "event";
#: a converter returning None means "nothing to report". Keys not listed are ignored.
BTHOME_CAPABILITIES: Mapping[tuple[str, str], tuple[str, Callable[[Any], Any]]] = {
    ("event", "button"): ("press", _true_only),
    ("binary", "motion"): ("motion", _true_only),
    ("binary", "occupancy"): ("motion", _true_only),
    ("binary", "presence"): ("motion", _true_only),
    ("binary", "door"): ("contact", _open_closed),
    ("binary", "window"): ("contact", _open_closed),
    ("binary", "opening"): ("contact", _open_closed),
    ("binary", "garage_door"): ("contact", _open_closed),
    ("binary", "moisture"): ("leak", bool),
    ("binary", "smoke"): ("smoke", bool),
    ("binary", "gas"): ("gas", bool),
    ("binary", "carbon_monoxide"): ("gas", bool),
    ("binary", "tamper"): ("tamper", bool),
    ("binary", "battery"): ("battery_low", bool),
    ("binary", "problem"): ("trouble", bool),
    ("sensor", "battery"): ("battery", _percent),
}

#: Per device type, a different capability for the same library key (a bed pad reports occupancy).
TYPE_OVERRIDES: Mapping[tuple[str, str], tuple[str, Callable[[Any], Any]]] = {
    ("mattress", "occupancy"): ("in_bed", bool),
}

#: Button events that are a press of the call button; the library's name goes to ``meta["event"]``.
PRESS_EVENTS = frozenset(
    {
        "press",
        "double_press",
        "triple_press",
        "long_press",
        "long_double_press",
        "long_triple_press",
        "hold_press",
    }
)

#: Errors the library may raise on malformed bytes (it indexes and unpacks without checking everywhere).
PARSE_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    OverflowError,
    UnicodeDecodeError,
    AttributeError,
)


@dataclass(frozen=True, slots=True)
class BTHomeAdvert:
    """What one BTHome advert said, before replay checks.

    ``values`` holds ``(kind, key, value)`` from the library (``("event", "button", "press")``,
    ``("binary", "door", True)``, ``("sensor", "battery", 93)``).
    """

    status: Status
    encrypted: bool = False
    counter: int | None = None
    packet_id: int | None = None
    sleepy: bool = False
    values: tuple[tuple[str, str, Any], ...] = ()
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Mapped:
    capability: str
    value: Any
    meta: dict[str, Any] = field(default_factory=dict)


def service_info(
    address: str, name: str | None, rssi: int, service_data: Mapping[str, bytes], now: float | None = None
) -> BluetoothServiceInfoBleak:
    """The library's input type, built from what bleak reported."""
    adv = AdvertisementData(name, {}, dict(service_data), [], -127, rssi, ())
    device = BLEDevice(address, name, {})
    return BluetoothServiceInfoBleak.from_scan("ble", device, adv, time.monotonic() if now is None else now, True)


def _bindkey_bytes(bindkey: str | None) -> bytes | None:
    if not bindkey:
        return None
    try:
        key = bytes.fromhex(bindkey)
    except ValueError:
        return None
    return key if len(key) == 16 else None


def valid_bindkey(bindkey: str) -> bool:
    """A BTHome bindkey is 16 bytes written as 32 hex digits."""
    return _bindkey_bytes(bindkey) is not None


def parse(info: BluetoothServiceInfoBleak, bindkey: str | None) -> BTHomeAdvert:
    """Parse one advert carrying BTHome service data. Never raises: bad bytes give status "invalid"."""
    try:
        return _parse(info, _bindkey_bytes(bindkey))
    except PARSE_ERRORS as exc:
        return BTHomeAdvert("invalid", detail=f"{type(exc).__name__}")


def _parse(info: BluetoothServiceInfoBleak, key: bytes | None) -> BTHomeAdvert:
    try:
        frame = BTHomeData(info)
    except ValueError:
        return BTHomeAdvert("invalid", detail="no BTHome service data")
    if frame.get_bthome_version() != BTHomeVersion.V2:
        return BTHomeAdvert("invalid", detail="not BTHome v2")
    encrypted = frame.get_encryption_scheme() == EncryptionScheme.BTHOME_BINDKEY
    sleepy = frame.is_sleepy_device()
    if encrypted and key is None:
        return BTHomeAdvert("needs_key", encrypted=True, sleepy=sleepy)
    if not encrypted and key is not None:
        return BTHomeAdvert("downgrade", detail="plain advert from a device with a bindkey")
    parser = BTHomeBluetoothDeviceData(key)
    update = parser.update(info)
    counter: int | None = None
    if encrypted:
        if not parser.bindkey_verified:
            return BTHomeAdvert("decrypt_failed", encrypted=True, sleepy=sleepy)
        counter = int(parser.encryption_counter)
    values: list[tuple[str, str, Any]] = []
    packet_id: int | None = None
    for dkey, sval in update.entity_values.items():
        if dkey.key == "packet_id":
            packet_id = int(sval.native_value)  # type: ignore[arg-type]
        elif dkey.key != "signal_strength":  # the library adds the RSSI we already have
            values.append(("sensor", dkey.key, sval.native_value))
    for dkey, bval in update.binary_entity_values.items():
        values.append(("binary", dkey.key, bval.native_value))
    for dkey, event in update.events.items():
        values.append(("event", dkey.key, event.event_type))
    if not values and packet_id is None:
        return BTHomeAdvert("invalid", encrypted=encrypted, counter=counter, detail="no objects")
    return BTHomeAdvert("ok", encrypted, counter, packet_id, sleepy, tuple(values))


_POSTFIX = re.compile(r"^(?P<base>.+?)_(?P<index>[0-9]+)$")


def to_capabilities(advert: BTHomeAdvert, device_type: str) -> list[Mapped]:
    """Map library values to capability values through the tables; unknown keys are skipped."""
    out: list[Mapped] = []
    for kind, key, value in advert.values:
        meta: dict[str, Any] = {}
        base = key
        m = _POSTFIX.match(key)
        if m and (kind, m["base"]) in BTHOME_CAPABILITIES:  # "button_2": second button of a multi-button remote
            base = m["base"]
            meta["index"] = int(m["index"])
        entry = TYPE_OVERRIDES.get((device_type, base)) or BTHOME_CAPABILITIES.get((kind, base))
        if entry is None or value is None:
            continue
        if kind == "event":
            if value not in PRESS_EVENTS:
                continue
            meta["event"] = value
        capability, convert = entry
        converted = convert(value)
        if converted is not None:
            out.append(Mapped(capability, converted, meta))
    return out


def kind_of(advert: BTHomeAdvert) -> str:
    """A guess of the device type from what it reports (for the pairing list)."""
    for kind, key, _value in advert.values:
        guess = _KIND_GUESS.get((kind, _POSTFIX.sub(r"\g<base>", key)))
        if guess:
            return guess
    return "bthome"


_KIND_GUESS: Mapping[tuple[str, str], str] = {
    ("event", "button"): "call_button",
    ("binary", "door"): "door",
    ("binary", "window"): "door",
    ("binary", "opening"): "door",
    ("binary", "motion"): "motion",
    ("binary", "occupancy"): "motion",
    ("binary", "moisture"): "leak",
    ("binary", "smoke"): "smoke",
    ("binary", "gas"): "gas",
}
