"""Xiaomi MiBeacon adverts (service data 0xFE95) -> what they said, through the ``xiaomi-ble`` parser.

The library decodes and decrypts (bindkey, MiBeacon v4/v5 AES-CCM) and names the model from the product
id. Two things it keeps to itself are read here from the frame header, as the MiBeacon format defines it:

* the frame's own MAC (frame control bit 4; 6 bytes, reversed, after product id and frame counter).
  Devices that advertise from a random address carry their real MAC there; it is the device's identity.
  On encrypted frames it is part of the AES-CCM nonce, so a frame that decrypts proves it.
* the counter: frame counter (1 byte) + the 3-byte extended counter before the MIC on encrypted v4/v5
  frames (authenticated: both are in the nonce), or the frame counter alone as a packet id on plain frames.

Like BTHome, each advert gets a *fresh* parser so no library state leaks between packets; freshness is
decided by :mod:`drivers.ble.replay`. MiBeacon v2/v3 encryption has no authentication tag (a wrong key
"decrypts" to garbage), so it is refused rather than half trusted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from xiaomi_ble import XiaomiBluetoothDeviceData

from drivers.ble.bthome import PARSE_ERRORS, BTHomeAdvert, service_info
from drivers.ble.capabilities import capabilities_of
from drivers.ble.config import type_problem

#: MiBeacon service data UUID (0xFE95).
MIBEACON_UUID = "0000fe95-0000-1000-8000-00805f9b34fb"

# The library logs every undecryptable or unknown frame at warning/info level: a neighbour's devices
# would flood the journal. The driver counts them and logs at most once a minute instead.
logging.getLogger("xiaomi_ble").setLevel(logging.ERROR)

_BINARY = "binary"
_EVENT = "event"
_SENSOR = "sensor"


@dataclass(frozen=True, slots=True)
class XiaomiModel:
    """A Xiaomi model the gateway supports: its device type and the library keys it reports."""

    vendor: str
    name: str
    device_type: str
    keys: tuple[tuple[str, str], ...]


#: The Xiaomi models the gateway takes (names as ``xiaomi-ble`` reports them). What each reports is
#: mapped through :data:`drivers.ble.capabilities.CAPABILITIES`; other Xiaomi models (thermometers,
#: scales, toothbrushes...) are refused at adoption with a message naming the model.
XIAOMI_MODELS: Mapping[str, XiaomiModel] = {
    "MCCGQ02HL": XiaomiModel(
        "Xiaomi", "Door and Window Sensor 2", "door", ((_BINARY, "opening"), (_SENSOR, "battery"))
    ),
    "CGH1": XiaomiModel("Qingping", "Door/Window Sensor", "door", ((_BINARY, "opening"), (_SENSOR, "battery"))),
    "RTCGQ02LM": XiaomiModel("Xiaomi", "Motion Sensor 2", "motion", ((_BINARY, "motion"), (_SENSOR, "battery"))),
    "XMPIRO2SXS": XiaomiModel("Xiaomi", "Human Motion Sensor 2S", "motion", ((_BINARY, "motion"),)),
    "MJYD02YL": XiaomiModel("Yeelight", "Motion-activated Night Light", "motion", ((_BINARY, "motion"),)),
    "MUE4094RT": XiaomiModel("Xiaomi", "Motion-activated Night Light 2", "motion", ((_EVENT, "motion"),)),
    "CGPR1": XiaomiModel("Qingping", "Motion and Light Sensor", "motion", ((_BINARY, "motion"), (_SENSOR, "battery"))),
    "SJWS01LM": XiaomiModel("Xiaomi", "Flood Detector", "leak", ((_BINARY, "moisture"), (_SENSOR, "battery"))),
    "JTYJGD03MI": XiaomiModel("Xiaomi", "Honeywell Smoke Detector", "smoke", ((_BINARY, "smoke"),)),
    "XMWXKG01YL": XiaomiModel("Xiaomi", "Wireless Switch (double button)", "call_button", ((_EVENT, "button"),)),
    "XMWXKG01LM": XiaomiModel(
        "Xiaomi", "Wireless Switch (single button)", "call_button", ((_EVENT, "button"), (_SENSOR, "battery"))
    ),
    "YLAI003": XiaomiModel("Yeelight", "Wireless Switch", "call_button", ((_EVENT, "button"), (_SENSOR, "battery"))),
    "K9B-1BTN": XiaomiModel("Linptech", "Wireless Switch K9B (1 button)", "call_button", ((_EVENT, "button"),)),
    "K9B-2BTN": XiaomiModel("Linptech", "Wireless Switch K9B (2 buttons)", "call_button", ((_EVENT, "button"),)),
}


@dataclass(frozen=True, slots=True)
class Header:
    """The MiBeacon frame header fields the driver needs."""

    version: int
    encrypted: bool
    has_objects: bool
    mac: str | None
    frame_counter: int
    product_id: int


def _mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02X}" for b in raw)


def header(data: bytes) -> Header | None:
    """Read the frame control, product id, frame counter and the optional MAC; None if too short."""
    if len(data) < 5:
        return None
    frctrl = int.from_bytes(data[0:2], "little")
    has_mac = bool(frctrl & 0x10)
    if has_mac and len(data) < 11:
        return None
    return Header(
        version=(frctrl >> 12) & 0x0F,
        encrypted=bool(frctrl & 0x08),
        has_objects=bool(frctrl & 0x40),
        mac=_mac_text(data[5:11][::-1]) if has_mac else None,
        frame_counter=data[4],
        product_id=int.from_bytes(data[2:4], "little"),
    )


def real_address(data: bytes) -> str | None:
    """The MAC the frame carries (the device's own, even when it advertises from a random address)."""
    head = header(data)
    return head.mac if head else None


def parse(address: str, name: str | None, rssi: int, data: bytes, bindkey: str | None) -> BTHomeAdvert:
    """Parse one MiBeacon service-data payload. Never raises: bad bytes give status "invalid"."""
    try:
        return _parse(address, name, rssi, data, bindkey)
    except PARSE_ERRORS as exc:
        return BTHomeAdvert("invalid", detail=f"{type(exc).__name__}")


def _parse(address: str, name: str | None, rssi: int, data: bytes, bindkey: str | None) -> BTHomeAdvert:
    head = header(data)
    if head is None:
        return BTHomeAdvert("invalid", detail="MiBeacon frame too short")
    own = head.mac or address
    if not head.has_objects:  # a keep-alive: it names the model, says nothing else and is not authenticated
        model = _model(head, own, name, rssi, data)
        if model is None:
            return BTHomeAdvert("invalid", detail=f"unknown Xiaomi product id 0x{head.product_id:04x}", address=own)
        return BTHomeAdvert("empty", encrypted=head.encrypted, model=model, address=own)
    if head.encrypted and head.version < 4:
        return BTHomeAdvert("invalid", detail="MiBeacon v2/v3 encryption is not supported", address=own)
    key = bytes.fromhex(bindkey) if bindkey else None
    if head.encrypted and key is None:
        return BTHomeAdvert("needs_key", encrypted=True, address=own, model=_model(head, own, name, rssi, data))
    if not head.encrypted and key is not None:
        return BTHomeAdvert("downgrade", detail="plain advert from a device with a bindkey", address=own)
    parser = XiaomiBluetoothDeviceData(key)
    update = parser.update(service_info(own, name, rssi, {MIBEACON_UUID: data}))
    model = update.devices[None].model if None in update.devices else None
    if model is None:
        return BTHomeAdvert("invalid", detail=f"unknown Xiaomi product id 0x{head.product_id:04x}", address=own)
    counter: int | None = None
    packet_id: int | None = None
    if head.encrypted:
        if not parser.bindkey_verified:
            return BTHomeAdvert("decrypt_failed", encrypted=True, address=own, model=model)
        counter = head.frame_counter | int.from_bytes(data[-7:-4], "little") << 8
    else:
        packet_id = head.frame_counter
    values: list[tuple[str, str, object]] = []
    for dkey, sval in update.entity_values.items():
        if str(dkey.key) != "signal_strength":  # the library adds the RSSI we already have
            values.append((_SENSOR, str(dkey.key), sval.native_value))
    for dkey, bval in update.binary_entity_values.items():
        values.append((_BINARY, str(dkey.key), bval.native_value))
    for dkey, event in update.events.items():
        values.append((_EVENT, str(dkey.key), event.event_type))
    return BTHomeAdvert(
        "ok", head.encrypted, counter, packet_id, parser.sleepy_device, tuple(values), model=model, address=own
    )


def _model(head: Header, address: str, name: str | None, rssi: int, data: bytes) -> str | None:
    """The model of an encrypted frame we cannot decrypt (the header names it in the clear)."""
    update = XiaomiBluetoothDeviceData(None).update(service_info(address, name, rssi, {MIBEACON_UUID: data}))
    return update.devices[None].model if None in update.devices else None


def model_problem(model: str | None, device_type: str | None) -> str | None:
    """Why a Xiaomi device of ``model`` cannot be adopted as ``device_type`` (None: it can)."""
    entry = XIAOMI_MODELS.get(model or "")
    if entry is None:
        return f"Xiaomi model {model or 'unknown'} is not supported (see docs/devices.md)"
    return type_problem(device_type or entry.device_type, capabilities_of(entry.keys), model or "")
