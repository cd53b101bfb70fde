"""The profiles' pure parts: ThingsBoard names and alarm statuses, RPC parsing, config checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.devices import Device
from gateway.config import ConfigError, ThingsBoardSection, parse_config
from gateway.outbox import Row
from gateway.remote import tb_rpc
from gateway.remote.inbound import Rejection
from gateway.uplink_profiles.thingsboard import Namer, alarm_attribute, messages
from tests.support.gateway import config_dict


class Devices:
    def __init__(self, *devices: Device) -> None:
        self.by_id = {d.id: d for d in devices}

    def get(self, device_id: str) -> Device | None:
        return self.by_id.get(device_id)


def device(dev_id: str, name: str, room: str, dtype: str = "call_button") -> Device:
    d = Device(dev_id, dtype, "sim")
    d.name, d.room = name, room
    return d


def row(seq: int, kind: str, dev: str | None, prio: str = "state", **data: Any) -> Row:
    ref = {"id": dev, "type": "call_button", "room": "r", "transport": "sim"} if dev else None
    body = {"id": f"e{seq}", "seq": seq, "ts": 1000 + seq, "kind": kind, "priority": prio, "device": ref, "data": data}
    return Row(seq, 0, json.dumps(body).encode())


def test_names_come_from_room_and_name_and_a_clash_gets_the_id() -> None:
    devices = Devices(device("a", "呼叫按钮", "卧室"), device("b", "呼叫按钮", "卧室"), device("c", "", "厨房"))
    namer = Namer(ThingsBoardSection(), "gw-1", devices)
    assert namer.name({"id": "a"}, {}) == "gw-1 卧室 呼叫按钮"
    assert namer.name({"id": "b"}, {}) == "gw-1 卧室 呼叫按钮 #b"
    assert namer.name({"id": "c"}, {}) == "gw-1 厨房 c", "no name: the id"
    assert namer.name({"id": "gone", "room": "hall"}, {"name": "old door"}) == "gw-1 hall old door"


def test_alarm_statuses_follow_the_lifecycle() -> None:
    raised = {"kind": "alarm.smoke", "priority": "alarm", "id": "A", "ts": 1, "data": {}}
    assert alarm_attribute(raised) == (
        "alarm.smoke",
        {"type": "alarm.smoke", "severity": "CRITICAL", "status": "ACTIVE_UNACK", "id": "A", "ts": 1},
    )
    step: dict[str, Any] = {"priority": "alert", "ts": 2, "data": {"alarm": "A", "kind": "alarm.smoke"}}
    statuses = {
        "alarm.acknowledged": "ACTIVE_ACK",
        "alarm.escalated": "ACTIVE_UNACK",
    }
    for kind, status in statuses.items():
        attr = alarm_attribute(step | {"kind": kind})
        assert attr is not None and attr[1]["status"] == status and attr[1]["id"] == "A"
    for state, status in (("acknowledged", "CLEARED_ACK"), ("sent", "CLEARED_UNACK")):
        data = {"alarm": "A", "kind": "alarm.smoke", "state": state}
        attr = alarm_attribute(step | {"kind": "alarm.resolved", "data": data})
        assert attr is not None and attr[1]["status"] == status
    assert alarm_attribute({"kind": "alarm.sent", "priority": "alert", "data": {"alarm": "A"}}) is None
    assert alarm_attribute({"kind": "state.motion", "priority": "state", "data": {}}) is None


def test_one_batch_connects_once_and_disconnects_a_removed_device() -> None:
    namer = Namer(ThingsBoardSection(device_name="{id}"), "gw", None)
    connected: set[str] = set()
    out = messages(
        [row(1, "state.motion", "a"), row(2, "state.motion", "a"), row(3, "gateway.log", None)], namer, connected
    )
    assert [t for t, _ in out] == [
        "v1/gateway/connect",
        "v1/gateway/telemetry",
        "v1/gateway/attributes",
        "v1/devices/me/telemetry",
    ]
    assert len(json.loads(out[1][1])["a"]) == 2
    out = messages([row(4, "device.removed", "a", prio="alert", name="x")], namer, connected)
    assert [t for t, _ in out] == ["v1/gateway/telemetry", "v1/gateway/disconnect"]
    assert connected == set()


@pytest.mark.parametrize(
    ("topic", "body", "reason"),
    [
        ("v1/gateway/rpc", {"data": {"id": 1, "method": "ping"}}, "schema_invalid"),
        ("v1/gateway/rpc", {"device": "d", "data": {"id": 1}}, "schema_invalid"),
        ("v1/gateway/rpc", {"device": "d", "data": {"id": True, "method": "ping"}}, "schema_invalid"),
        ("v1/gateway/rpc", {"device": "d", "data": {"id": 1, "method": "ping", "params": [1]}}, "schema_invalid"),
        ("v1/other", {"method": "ping"}, "schema_invalid"),
    ],
)
def test_bad_rpc_requests_are_refused(topic: str, body: dict[str, Any], reason: str) -> None:
    with pytest.raises(Rejection) as err:
        tb_rpc.parse(topic, body)
    assert err.value.reason == reason


def test_rpc_ids_and_replies() -> None:
    req = tb_rpc.parse("v1/gateway/rpc", {"device": "d", "data": {"id": 5, "method": "ping", "params": {}}})
    again = tb_rpc.parse("v1/gateway/rpc", {"device": "d", "data": {"id": 5, "method": "ping", "params": {}}})
    other = tb_rpc.parse("v1/gateway/rpc", {"device": "d", "data": {"id": 5, "method": "self_test"}})
    assert req.command_id == again.command_id != other.command_id
    assert req.reply({"status": "ok"}) == ("v1/gateway/rpc", b'{"device":"d","id":5,"data":{"status":"ok"}}')
    own = tb_rpc.parse("v1/devices/me/rpc/request/12", {"method": "ping"})
    assert own.reply({"status": "ok"}) == ("v1/devices/me/rpc/response/12", b'{"status":"ok"}')
    assert not tb_rpc.is_request("v1/gateway/rpc", {"device": "d", "id": 5, "data": {"status": "ok"}})


@pytest.mark.parametrize(
    "webhook",
    [
        {"url": "https://p.example/x"},  # no secret
        {"secret": "s"},  # no url
        {"url": "http://p.example/x", "secret": "s"},  # plain http to a remote host
        {"url": "ftp://127.0.0.1/x", "secret": "s"},
    ],
)
def test_webhook_profile_needs_an_https_url_and_a_secret(tmp_path: Path, webhook: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        parse_config(config_dict(tmp_path, "mqtt://127.0.0.1:1", uplink={"profile": "webhook", "webhook": webhook}))


def test_bad_device_name_template_is_refused(tmp_path: Path) -> None:
    raw = config_dict(tmp_path, "mqtt://127.0.0.1:1", uplink={"thingsboard": {"device_name": "{floor} {name}"}})
    with pytest.raises(ConfigError):
        parse_config(raw)


def test_a_renamed_device_is_a_new_thingsboard_device_from_its_rename_on() -> None:
    door = device("d", "door", "hall", "door")
    namer = Namer(ThingsBoardSection(), "gw", Devices(door))
    connected: set[str] = set()
    messages([row(1, "state.door", "d")], namer, connected)
    assert connected == {"gw hall door"}
    door.name = "front door"
    out = messages([row(2, "device.renamed", "d", prio="alert"), row(3, "state.door", "d")], namer, connected)
    topics = [t for t, _ in out]
    assert topics == ["v1/gateway/connect", "v1/gateway/telemetry", "v1/gateway/attributes", "v1/gateway/disconnect"]
    telemetry = json.loads(out[1][1])
    assert [p["values"]["seq"] for p in telemetry["gw hall door"]] == [2], "the rename is told to the old device"
    assert [p["values"]["seq"] for p in telemetry["gw hall front door"]] == [3]
    assert json.loads(out[3][1]) == {"device": "gw hall door"}
    assert connected == {"gw hall front door"}
