"""One function per parser of outside input. Each must accept any bytes: a documented rejection is fine, anything
else (an uncaught exception, a hang, unbounded memory) is a finding."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

Target = Callable[[bytes], None]


def bthome_advert(data: bytes) -> None:
    """A BLE advert's BTHome service data, plain and encrypted, mapped to capabilities."""
    from drivers.ble import bthome

    for key in (None, "231d39c1d7cc1ab1aee224cd096db932"):
        info = bthome.service_info("A4:C1:38:00:00:01", None, -60, {"0000fcd2-0000-1000-8000-00805f9b34fb": data})
        try:
            advert = bthome.parse(info, key)
        except ValueError:
            continue
        bthome.to_capabilities(advert, "door")


def mibeacon_advert(data: bytes) -> None:
    """A Xiaomi MiBeacon advert (0xFE95 service data), plain and encrypted."""
    from drivers.ble import mibeacon

    mibeacon.header(data)
    mibeacon.real_address(data)
    for key in (None, "b853075158487ca39a5b5ea9"):
        try:
            mibeacon.parse("A4:C1:38:00:00:02", None, -60, data, key)
        except ValueError:
            continue


def zcl_frame(data: bytes) -> None:
    """A ZCL frame from a Zigbee device, on the clusters the driver listens to."""
    from drivers.zigbee import inbound, mapping

    for cluster in (0x0500, 0x0001, 0x0006, 0x0406, 0xEF00, 0x0000):
        try:
            message = inbound.decode(cluster, data)
        except inbound.MalformedFrame:
            continue
        if isinstance(message, inbound.AttributeReport):
            for side in ("server", "client"):
                for attr, value in message.values.items():
                    mapping.attribute_reading((message.cluster, side), attr, value)


def toml_config(data: bytes) -> None:
    """The local config file."""
    from gateway.config import ConfigError, parse_config

    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return
    try:
        parse_config(raw)
    except (ConfigError, ValueError):
        return


def desired_config(data: bytes) -> None:
    """A desired-config document pushed by the platform."""
    from gateway.remote.desired import DesiredDocument
    from gateway.remote.inbound import Rejection, parse_object

    try:
        obj = parse_object(data, 64 * 1024)
        DesiredDocument.model_validate(obj)
    except (Rejection, ValidationError):
        return


def command(data: bytes) -> None:
    """A command from the platform (envelope, then the command's own arguments)."""
    from gateway.remote.actions import COMMANDS
    from gateway.remote.commands import CommandEnvelope
    from gateway.remote.inbound import Rejection, parse_object

    try:
        parse_object(data, 64 * 1024)
        envelope = CommandEnvelope.model_validate_json(data, strict=True)
    except (Rejection, ValidationError):
        return
    spec = COMMANDS.get(envelope.cmd)
    if spec is not None:
        try:
            spec.args.model_validate(envelope.args)
        except ValidationError:
            return


def alarm_ack(data: bytes) -> None:
    """An acknowledgement on ``alarms/ack``, decoded as the alarm service decodes it."""
    from core.jsonin import JsonRejected
    from gateway.alarms.messages import decode_ack

    try:
        decode_ack(data)
    except (JsonRejected, ValidationError):
        return


def sim_readings_body(data: bytes) -> None:
    """The body of ``POST /api/sim/readings`` as the core API reads it (default ``[http]`` caps)."""
    from core import jsonin
    from gateway.config import HttpSection
    from gateway.web.core_api import SimReading

    http = HttpSection()
    try:
        body = jsonin.loads(data, max_bytes=http.max_body_bytes, max_depth=http.max_json_depth)
    except jsonin.JsonRejected:
        return
    for item in body if isinstance(body, list) else [body]:
        try:
            SimReading.model_validate(item)
        except ValidationError:
            continue


def sms_reply(data: bytes) -> None:
    """An SMS from anyone to the gateway's modem: sender and text."""
    from core.phone import same_number
    from gateway.failover.replies import is_ack

    text = data.decode("utf-8", "replace")
    number, _, body = text.partition("\n")
    same_number(number, "+8613800138001")
    is_ack(body)


def rf433_serial(data: bytes) -> None:
    """Bytes from a 433 MHz receiver module on the serial line (binary RF-bridge frames and text lines), whole and
    cut in two."""
    from drivers.rf433.frames import Frame, FrameParser, ev1527

    whole, cut = FrameParser(), FrameParser()
    half = len(data) // 2
    for item in [*whole.feed(data), *cut.feed(data[:half]), *cut.feed(data[half:])]:
        if isinstance(item, Frame):
            ev1527(item)
            assert len(item.hex) == (item.bits + 3) // 4


def _json(*objs: object) -> list[bytes]:
    return [json.dumps(o, ensure_ascii=False).encode() for o in objs]


#: Valid inputs to start from (libFuzzer mutates them; random bytes alone seldom parse as JSON or TOML).
SEEDS: dict[str, list[bytes]] = {
    "bthome_advert": [bytes.fromhex("40000102030405"), bytes.fromhex("4400aa3a01"), bytes.fromhex("41a4c1380000011f")],
    "mibeacon_advert": [bytes.fromhex("5020aa01a0010203040506")],
    "zcl_frame": [bytes.fromhex("1901000100000000"), bytes.fromhex("18010a21002001")],
    "toml_config": [b'[gateway]\nid = "gw-1"\n[uplink]\nbroker = "mqtt://127.0.0.1:1883"\n[modem]\nenabled = true\n'],
    "desired_config": _json(
        {"version": 3, "rules": {"inactivity": {"hours": 12}}, "devices": {"btn-1": {"name": "x", "room": "hall"}}},
        {"version": 4, "modem": {"contacts": [{"label": "女儿", "number": "13800138001"}]}},
    ),
    "command": _json(
        {"id": "c-1", "cmd": "alarm_ack", "args": {"alarm": "0190-a", "by": "op"}, "expires_at": 1_900_000_000_000},
        {"id": "c-2", "cmd": "permit_join", "args": {"seconds": 60}, "expires_at": 1_900_000_000_000},
    ),
    "alarm_ack": _json({"alarm": "019a8f6e-2c41-7b3e-9f1a-3c2d4e5f6a7b", "action": "ack", "by": "operator-17"}),
    "sim_readings_body": _json(
        {"device": "btn-1", "capability": "press", "value": True},
        [{"device": "door-1", "capability": "contact", "value": "open", "trace": "t"}],
    ),
    "sms_reply": ["+8613800138001\n收到".encode(), b"13800138001\n1", "+86 138 0013 8001\nＯＫ".encode()],
    "rf433_serial": [
        bytes.fromhex("aaa42328012c03845a5a5555"),  # code 5a5a55, sync 9000 µs, low 300, high 900
        b"Received 5592405 / 24bit Protocol: 1\r\nRX:ABCDEF\n0x00F00D\r\n",
    ],
}

_EXAMPLES = Path(__file__).resolve().parents[1] / "config" / "examples"
if _EXAMPLES.is_dir():  # the documented examples of what the platform sends
    SEEDS["command"] += [p.read_bytes() for p in sorted(_EXAMPLES.glob("cmd-*.json"))]
    SEEDS["desired_config"] += [p.read_bytes() for p in sorted(_EXAMPLES.glob("desired-*.json"))]
    SEEDS["toml_config"] += [p.read_bytes() for p in sorted(_EXAMPLES.parent.glob("*.toml"))]

TARGETS: dict[str, Target] = {
    "bthome_advert": bthome_advert,
    "mibeacon_advert": mibeacon_advert,
    "zcl_frame": zcl_frame,
    "toml_config": toml_config,
    "desired_config": desired_config,
    "command": command,
    "alarm_ack": alarm_ack,
    "sim_readings_body": sim_readings_body,
    "sms_reply": sms_reply,
    "rf433_serial": rf433_serial,
}
