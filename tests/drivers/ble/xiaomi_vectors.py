"""Xiaomi MiBeacon adverts published with the ``xiaomi-ble`` parser (MIT licence).

Source: github.com/Bluetooth-Devices/xiaomi-ble, ``tests/test_parser.py`` (the functions named per
vector below): service data of UUID 0xFE95, the advertising address and, for encrypted frames, the
bindkey, as published there. Only the bytes are taken; what each should mean is asserted by our tests.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Vector:
    source: str  # the test function in xiaomi-ble's tests/test_parser.py
    model: str
    address: str
    data: bytes
    bindkey: str | None = None


#: test_Xiaomi_MCCGQ02HL: door/window sensor 2, MiBeacon v5 encrypted; "closing timeout" (open, left open).
DOOR_MCCGQ02HL = Vector(
    "test_Xiaomi_MCCGQ02HL",
    "MCCGQ02HL",
    "E4:AA:EC:81:21:AE",
    b"XX\x8b\t\xa3\xae!\x81\xec\xaa\xe4\x0e,U<\x04\x00\x00\xd2\x8aP\x0c",
    "017e52d2684779298709b117c0a75a7b",
)

#: test_Xiaomi_XMWXKG01YL: two-button wireless switch, v5 encrypted, right button pressed.
SWITCH_XMWXKG01YL = Vector(
    "test_Xiaomi_XMWXKG01YL",
    "XMWXKG01YL",
    "DC:ED:83:87:12:73",
    b"XYI\x19Os\x12\x87\x83\xed\xdc\x0b48\n\x02\x00\x00\x8dI\xae(",
    "b93eb3787eabda352edd94b667f5d5a9",
)

#: test_bindkey_wrong: motion sensor RTCGQ02LM, v5 encrypted, with a key that does not decrypt it.
MOTION_RTCGQ02LM_WRONG_KEY = Vector(
    "test_bindkey_wrong",
    "RTCGQ02LM",
    "54:EF:44:E0:C4:0F",
    b"XY\x8d\n\x17\x0f\xc4\xe0D\xefT|\xc2z\\\x03\xa1\x00\x00\x00y\r\xf2X",
    "814aac74c4f17b6c1581e1ab87816b99",
)

#: test_Xiaomi_CGH1: Qingping door/window sensor, plain MiBeacon v4, opened.
DOOR_CGH1 = Vector(
    "test_Xiaomi_CGH1", "CGH1", "A4:C1:38:0A:03:D6", b"P@\xd6\x03\x01\xd6\x03\n8\xc1\xa4\x19\x10\x01\x00"
)

#: test_Xiaomi_MJYD02YL: Yeelight motion night light, plain v4, motion (with light).
MOTION_MJYD02YL = Vector(
    "test_Xiaomi_MJYD02YL", "MJYD02YL", "A4:C1:38:07:F6:01", b"P@\xf6\x07\x01\x01\xf6\x078\xc1\xa4\x0f\x00\x03d\x00\x00"
)

#: test_Xiaomi_MUE4094RT: motion night light 2, plain v3 without MAC, motion as an event.
MOTION_MUE4094RT = Vector("test_Xiaomi_MUE4094RT", "MUE4094RT", "DE:70:E8:B2:39:0C", b"@0\xdd\x03$\x03\x00\x01\x01")

#: test_Xiaomi_SJWS01LM: flood detector, plain v4, its button pressed (not a leak, not a call).
FLOOD_SJWS01LM_BUTTON = Vector(
    "test_Xiaomi_SJWS01LM", "SJWS01LM", "A4:C1:38:08:63:01", b"P@c\x08\x01\x01c\x088\xc1\xa4\x01\x10\x03\x00\x00\x00"
)

#: test_Xiaomi_LYWSDCGQ: thermometer, plain v2: a Xiaomi model the gateway has no use for.
THERMOMETER_LYWSDCGQ = Vector(
    "test_Xiaomi_LYWSDCGQ", "LYWSDCGQ", "58:2D:34:35:93:21", b"P \xaa\x01\xda!\x9354-X\r\x10\x04\xfe\x00H\x02"
)

ALL = (
    DOOR_MCCGQ02HL,
    SWITCH_XMWXKG01YL,
    MOTION_RTCGQ02LM_WRONG_KEY,
    DOOR_CGH1,
    MOTION_MJYD02YL,
    MOTION_MUE4094RT,
    FLOOD_SJWS01LM_BUTTON,
    THERMOMETER_LYWSDCGQ,
)
