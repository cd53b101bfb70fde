"""The ``thingsboard`` profile against a real Mosquitto: documented shapes, names, alarms, no loss."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from core.events import EventDraft, Priority
from gateway.app import Gateway
from gateway.config import parse_config
from tests.core.test_kill9 import _inject_until_killed
from tests.profiles.thingsboard_platform import ThingsBoardPlatform
from tests.support.broker import Mosquitto
from tests.support.collector import Collector
from tests.support.gateway import SIM_HOME, GatewayProcess, config_dict, write_toml

pytestmark = pytest.mark.timeout(120)

NAMED_HOME = [dict(d, name=f"{d['type']} {d['id'][-1]}") for d in SIM_HOME]


def tb_config(tmp_path: Path, broker: Mosquitto, **uplink: Any) -> dict[str, Any]:
    raw = config_dict(tmp_path / "state", broker.url, uplink={"profile": "thingsboard", **uplink})
    raw["drivers"]["sim"]["devices"] = NAMED_HOME
    return raw


async def drained(gw: Gateway) -> None:
    async with asyncio.timeout(10):
        while gw.outbox.depth()["rows"]:  # delivered rows waiting for their delete are not backlog
            await asyncio.sleep(0.02)


async def on_profile(gw: Gateway, name: str) -> None:
    async with asyncio.timeout(10):
        while not (gw.uplink.profile.name == name and gw.uplink.connected):
            await asyncio.sleep(0.02)


async def test_documented_shapes_device_names_and_alarm_attribute(tmp_path: Path, broker: Mosquitto) -> None:
    cfg = parse_config(tb_config(tmp_path, broker))
    async with ThingsBoardPlatform(broker.host, broker.port) as tb, Gateway(cfg) as gw:
        sim = gw.drivers["sim"]
        for i in range(5):
            await sim.inject("pir-1", "motion", True, trace=f"m{i}")
        await sim.inject("btn-1", "press", True, trace="call")
        await gw.emit([EventDraft("gateway.log", Priority.STATE, None, {"message": "hello"})])
        await tb.wait_for(lambda t: {f"m{i}" for i in range(5)} | {"call"} <= t.traces())
        await tb.wait_for(lambda t: any("gateway.log" == p["values"]["event"] for _, p in t.points()))
        alarm_id = next(p["values"]["event_id"] for _, p in tb.points() if p["values"].get("trace") == "call")
        await gw.services.alarms.ack(alarm_id, by="operator-7")  # type: ignore[union-attr]

        def acked(t: ThingsBoardPlatform) -> bool:
            return any(
                a.get("gw-test bedroom call_button 1", {}).get("alarm.emergency_call", {}).get("status") == "ACTIVE_ACK"
                for a in t.of("v1/gateway/attributes")
            )

        await tb.wait_for(acked)
        assert gw.uplink.profile.name == "thingsboard"
    assert not tb.violations, tb.violations[:5]
    connects = tb.of("v1/gateway/connect")
    assert {"device": "gw-test living motion 1", "type": "motion"} in connects
    assert {"device": "gw-test bedroom call_button 1", "type": "call_button"} in connects
    first = {json.dumps(c) for c in connects}
    assert len(first) == len(connects), "a device was connected twice on one connection"
    motion = [
        p for name, p in tb.points() if name == "gw-test living motion 1" and p["values"]["event"] == "state.motion"
    ]
    assert [p["values"]["trace"] for p in motion] == [f"m{i}" for i in range(5)]
    assert [p["values"]["seq"] for p in motion] == sorted(p["values"]["seq"] for p in motion)
    assert all(isinstance(p["ts"], int) for p in motion)
    raised = [
        a["gw-test bedroom call_button 1"]["alarm.emergency_call"]
        for a in tb.of("v1/gateway/attributes")
        if "alarm.emergency_call" in a.get("gw-test bedroom call_button 1", {})
    ]
    assert raised[0] | {"ts": 0} == {
        "type": "alarm.emergency_call",
        "severity": "CRITICAL",
        "status": "ACTIVE_UNACK",
        "id": alarm_id,
        "ts": 0,
    }
    assert raised[-1]["status"] == "ACTIVE_ACK" and raised[-1]["id"] == alarm_id
    own = [p for name, p in tb.points() if name == ""]
    assert any(p["values"]["event"] == "gateway.log" and p["values"]["message"] == "hello" for p in own)
    (tmp_path / "tb-example.json").write_text(json.dumps(tb.messages, ensure_ascii=False))


async def test_broker_restart_mid_stream_loses_nothing(tmp_path: Path, broker: Mosquitto) -> None:
    cfg = parse_config(tb_config(tmp_path, broker))
    async with ThingsBoardPlatform(broker.host, broker.port, client_id="tb-restart") as tb, Gateway(cfg) as gw:
        sim = gw.drivers["sim"]
        for i in range(300):
            await sim.inject("pir-1" if i % 50 else "btn-2", "motion" if i % 50 else "press", True, trace=f"a{i}")
            if i == 100:
                broker.stop()
            if i == 200:
                broker.start()
        await tb.wait_for(lambda t: {f"a{i}" for i in range(300)} <= t.traces(), timeout=30)
        assert gw.uplink.stats.reconnects >= 1
        # every reconnect announces the devices again before their data
        assert len(tb.of("v1/gateway/connect")) >= 4
    assert not tb.violations, tb.violations[:5]


async def test_kill9_at_random_moments_loses_no_accepted_event(tmp_path: Path, broker: Mosquitto) -> None:
    trials = int(os.environ.get("FBGW_KILL_TRIALS", "3"))
    raw = tb_config(tmp_path, broker)
    raw["gateway"]["id"] = "gw-kill"
    cfg_path = write_toml(tmp_path / "gw.toml", raw)
    accepted: set[str] = set()
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    async with ThingsBoardPlatform(broker.host, broker.port, client_id="tb-kill9") as tb:
        for trial in range(trials):
            gw = GatewayProcess(cfg_path, tmp_path / "gw.log")
            await asyncio.to_thread(gw.start)
            injector = asyncio.create_task(_inject_until_killed(gw.base_url, trial, accepted))
            await asyncio.sleep(rng.uniform(0.1, 1.0))
            gw.kill9()
            await injector
            with sqlite3.connect(tmp_path / "state" / "outbox.sqlite3") as conn:
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert len(accepted) > trials * 10, "the injector barely ran; the test would prove nothing"
        final = GatewayProcess(cfg_path, tmp_path / "gw.log")
        await asyncio.to_thread(final.start)
        try:
            await tb.wait_for(lambda t: accepted <= t.traces(), timeout=60)
        finally:
            final.terminate()
    assert not tb.violations, tb.violations[:5]


async def test_switching_profile_changes_the_wire_format_and_nothing_else(tmp_path: Path, broker: Mosquitto) -> None:
    raw = tb_config(tmp_path, broker)
    raw["uplink"]["profile"] = "fbgw"
    cfg = parse_config(raw)
    async with (
        Collector(broker.host, broker.port) as col,
        ThingsBoardPlatform(broker.host, broker.port) as tb,
        Gateway(cfg) as gw,
    ):
        sim = gw.drivers["sim"]
        for i in range(20):
            await sim.inject("pir-1", "motion", True, trace=f"n{i}")
        await col.wait_for(lambda c: {f"n{i}" for i in range(20)} <= c.traces())
        # delivery is at least once: a row whose PUBACK is still on its way when the switch cuts the connection
        # is sent again in the new format; switch once every row is acknowledged and deleted
        await drained(gw)
        raw["uplink"]["profile"] = "thingsboard"
        undo = await gw.reconfigure(parse_config(raw))
        await on_profile(gw, "thingsboard")  # the switch takes effect with the next session (a reconnect)
        for i in range(20):
            await sim.inject("pir-1", "motion", True, trace=f"t{i}")
        await tb.wait_for(lambda t: {f"t{i}" for i in range(20)} <= t.traces())
        await drained(gw)
        await undo()
        await on_profile(gw, "fbgw")
        for i in range(5):
            await sim.inject("pir-1", "motion", True, trace=f"b{i}")
        await col.wait_for(lambda c: {f"b{i}" for i in range(5)} <= c.traces())
        await asyncio.sleep(0.3)
    assert not {f"t{i}" for i in range(20)} & col.traces(), "a ThingsBoard-time event went out natively"
    native = {ev["seq"] for ev in col.events if ev["kind"] == "state.motion"}
    tbseqs = {p["values"]["seq"] for _, p in tb.points() if p["values"]["event"] == "state.motion"}
    both = {ev.get("trace") for ev in col.events if ev["seq"] in native & tbseqs}
    assert not both, f"sent in both formats: {both}"
    seqs = sorted(native | tbseqs)
    assert seqs == list(range(seqs[0], seqs[0] + 45)), "the outbox's seqs continue across the switch, no gap"
    # while native, the native topics were on the broker too (the ThingsBoard subscriber sees everything)
    assert all(v.startswith("unexpected topic fbgw/v1/gw-test/") for v in tb.violations), tb.violations[:5]


async def rpc(tb: ThingsBoardPlatform, topic: str, body: dict[str, Any]) -> None:
    async with aiomqtt.Client(tb.host, tb.port) as client:
        await client.publish(topic, json.dumps(body).encode(), qos=1)


def answers(tb: ThingsBoardPlatform, rpc_id: int) -> list[dict[str, Any]]:
    return [b for t, b in tb.messages if t == "v1/gateway/rpc" and b.get("id") == rpc_id and "data" in b]


async def test_rpc_commands_are_refused_unless_the_config_allows_them(tmp_path: Path, broker: Mosquitto) -> None:
    cfg = parse_config(tb_config(tmp_path, broker))
    async with ThingsBoardPlatform(broker.host, broker.port) as tb, Gateway(cfg) as gw:
        await gw.uplink.subscriptions_settled()
        await rpc(
            tb, "v1/gateway/rpc", {"device": "gw-test bedroom call_button 1", "data": {"id": 1, "method": "ping"}}
        )
        await tb.wait_for(lambda t: bool(answers(t, 1)))
    reply = answers(tb, 1)[0]
    assert reply["device"] == "gw-test bedroom call_button 1"
    assert reply["data"]["status"] == "rejected" and reply["data"]["reason"] == "unsigned_not_allowed"


async def test_rpc_commands_run_with_the_command_channels_semantics(tmp_path: Path, broker: Mosquitto) -> None:
    cfg = parse_config(tb_config(tmp_path, broker, thingsboard={"rpc_commands": True}))
    device = "gw-test bedroom call_button 1"
    async with ThingsBoardPlatform(broker.host, broker.port) as tb, Gateway(cfg) as gw:
        await gw.uplink.subscriptions_settled()
        await gw.drivers["sim"].inject("btn-1", "press", True, trace="call")
        await tb.wait_for(lambda t: "call" in t.traces())
        alarm_id = next(p["values"]["event_id"] for _, p in tb.points() if p["values"].get("trace") == "call")
        ack = {"device": device, "data": {"id": 2, "method": "alarm_ack", "params": {"alarm": alarm_id, "by": "op-3"}}}
        await rpc(tb, "v1/gateway/rpc", ack)
        await tb.wait_for(lambda t: bool(answers(t, 2)))
        await rpc(tb, "v1/gateway/rpc", ack)  # delivered again: answered, not run again
        await tb.wait_for(lambda t: len(answers(t, 2)) == 2)
        await rpc(tb, "v1/gateway/rpc", {"device": device, "data": {"id": 3, "method": "reboot_now", "params": {}}})
        await rpc(tb, "v1/devices/me/rpc/request/9", {"method": "ping", "params": {}})
        await tb.wait_for(lambda t: bool(answers(t, 3)) and bool(t.of("v1/devices/me/rpc/response/9")))

        def acked(t: ThingsBoardPlatform) -> bool:
            return any(
                a.get(device, {}).get("alarm.emergency_call", {}).get("status") == "ACTIVE_ACK"
                for a in t.of("v1/gateway/attributes")
            )

        await tb.wait_for(acked)
    first, again = answers(tb, 2)
    assert first["data"]["status"] == "ok" and first["data"]["cmd"] == "alarm_ack"
    assert first["data"]["result"]["ack"]["state"] == "acknowledged"
    assert again["data"]["status"] == "rejected" and again["data"]["reason"] == "duplicate"
    unknown = answers(tb, 3)[0]["data"]
    assert unknown["status"] == "rejected" and unknown["reason"] == "unknown_command"
    own = tb.of("v1/devices/me/rpc/response/9")[0]
    assert own["status"] == "ok" and own["cmd"] == "ping"
    assert not tb.violations, tb.violations[:5]
