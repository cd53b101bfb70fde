"""The alarm lifecycle through a real gateway and a real Mosquitto: sent, acknowledged, escalated, resolved.

Escalation runs on seconds here (``escalate_after_s`` 2 s; the gateway ticks its rules once a second).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from drivers.sim import SimDriver
from gateway.alarms.service import AlarmService
from gateway.app import Gateway
from gateway.feedback import Feedback
from gateway.topics import Topics
from tests.support.broker import Mosquitto
from tests.support.collector import Collector
from tests.support.gateway import make_config

pytestmark = pytest.mark.timeout(60)

INTERVAL = 2.0


def config(state: Path, broker: Mosquitto, **alarms: Any) -> Any:
    rules = {"alarms": {"escalate_after_s": INTERVAL, "cancel_window_s": 1, **alarms}}
    return make_config(state, broker.url, rules=rules)


async def publish_ack(broker: Mosquitto, payload: dict[str, Any] | bytes, gateway: str = "gw-test") -> None:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.publish(Topics(gateway).alarm_ack, raw, qos=1)


def of(col: Collector, kind: str) -> list[dict[str, Any]]:
    """The platform's events of ``kind``, each once: delivery is at least once (QoS 1), so an event the broker had
    but whose acknowledgement a broker restart cut off comes again with the same id, and the platform keeps one."""
    first: dict[str, dict[str, Any]] = {}
    for e in col.events:
        if e["kind"] == kind:
            first.setdefault(e["id"], e)
    return list(first.values())


def feedback(gw: Gateway) -> Feedback:
    fb = gw.services.feedback
    assert isinstance(fb, Feedback)
    return fb


def sim(gw: Gateway) -> SimDriver:
    driver = gw.drivers["sim"]
    assert isinstance(driver, SimDriver)
    return driver


def alarms(gw: Gateway) -> AlarmService:
    svc = gw.services.alarms
    assert isinstance(svc, AlarmService)
    return svc


async def test_ack_stops_escalation(tmp_path: Path, broker: Mosquitto) -> None:
    async with Collector(broker.host, broker.port) as col, Gateway(config(tmp_path / "s", broker)) as gw:
        await sim(gw).inject("btn-1", "press", True, trace="call-1")
        await col.wait_for(lambda c: bool(of(c, "alarm.emergency_call")))
        call = of(col, "alarm.emergency_call")[0]
        await col.wait_for(lambda c: feedback(gw).current == "call_sent", 5)  # after the broker's PUBACK
        await col.wait_for(lambda c: bool(of(c, "alarm.escalated")), INTERVAL + 3)
        esc = of(col, "alarm.escalated")[0]
        assert esc["data"]["alarm"] == call["id"] and esc["data"]["escalation"] == 1
        assert esc["priority"] == "alarm" and esc["device"]["id"] == "btn-1"
        assert esc["data"]["original"]["capability"] == "press"
        await col.wait_for(lambda c: feedback(gw).current == "escalated", 5)

        await publish_ack(broker, {"alarm": call["id"], "by": "operator-7", "note": "calling back"})
        await col.wait_for(lambda c: bool(of(c, "alarm.acknowledged")))
        ack = of(col, "alarm.acknowledged")[0]
        assert ack["data"]["alarm"] == call["id"] and ack["data"]["by"] == "operator-7"
        assert ack["data"]["note"] == "calling back" and ack["priority"] == "alert"
        await col.wait_for(lambda c: feedback(gw).current == "call_received", 5)

        await asyncio.sleep(INTERVAL * 2 + 1)
        assert all(e["seq"] < ack["seq"] for e in of(col, "alarm.escalated"))  # none after the ack
        assert alarms(gw).status()["open_alarms"][0]["state"] == "acknowledged"


async def test_no_ack_escalates_once_per_interval(tmp_path: Path, broker: Mosquitto) -> None:
    async with Collector(broker.host, broker.port) as col, Gateway(config(tmp_path / "s", broker)) as gw:
        await sim(gw).inject("leak-1", "leak", True, trace="leak")
        await col.wait_for(lambda c: len(of(c, "alarm.escalated")) >= 3, INTERVAL * 3 + 5)
        leak = of(col, "alarm.leak")
        esc = of(col, "alarm.escalated")
        assert len(leak) == 1
        assert [e["data"]["escalation"] for e in esc] == list(range(1, len(esc) + 1))
        assert all(e["data"]["alarm"] == leak[0]["id"] for e in esc)
        stamps = [leak[0]["clock"]["mono_ms"]] + [e["clock"]["mono_ms"] for e in esc]
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        assert all(INTERVAL * 1000 - 50 <= g <= INTERVAL * 1000 + 1500 for g in gaps), gaps  # once per interval

        await sim(gw).inject("leak-1", "leak", False, trace="dry")
        await col.wait_for(lambda c: bool(of(c, "alarm.resolved")))
        resolved = of(col, "alarm.resolved")[0]
        assert resolved["data"] | {"open_s": 0} == resolved["data"] | {
            "alarm": leak[0]["id"],
            "kind": "alarm.leak",
            "reason": "cleared",
            "open_s": 0,
        }
        assert resolved["trace"] == "dry"
        n = len(of(col, "alarm.escalated"))
        await asyncio.sleep(INTERVAL + 1.5)
        assert len(of(col, "alarm.escalated")) == n  # resolved: escalation stops
        assert feedback(gw).current == "normal"


async def test_restart_in_the_middle_keeps_the_alarm(tmp_path: Path, broker: Mosquitto) -> None:
    state = tmp_path / "s"
    cfg = config(state, broker, escalate_after_s=4)
    async with Collector(broker.host, broker.port) as col:
        async with Gateway(cfg) as gw:
            await sim(gw).inject("smoke-1", "smoke", True, trace="fire")
            await col.wait_for(lambda c: bool(of(c, "alarm.smoke")))
            await col.wait_for(lambda c: feedback(gw).current == "call_sent", 5)
        smoke = of(col, "alarm.smoke")[0]
        assert json.loads((state / "rules-state.json").read_text())["alarms"]["open"][0]["event_id"] == smoke["id"]

        async with Gateway(cfg) as gw:
            assert feedback(gw).current == "call_sent"  # shown again after the restart
            await sim(gw).inject("smoke-1", "smoke", True, trace="still-smoky")
            await col.wait_for(lambda c: "still-smoky" in c.traces() or bool(of(c, "alarm.escalated")), 6)
            assert len(of(col, "alarm.smoke")) == 1  # the same alarm, not a new one
            await col.wait_for(lambda c: bool(of(c, "alarm.escalated")), 8)  # the schedule went on
            assert of(col, "alarm.escalated")[0]["data"]["alarm"] == smoke["id"]

            await publish_ack(broker, {"alarm": smoke["id"], "by": "op"})
            await col.wait_for(lambda c: bool(of(c, "alarm.acknowledged")))
            await sim(gw).inject("smoke-1", "smoke", False, trace="clear")
            await col.wait_for(lambda c: bool(of(c, "alarm.resolved")))
            assert of(col, "alarm.resolved")[0]["data"]["alarm"] == smoke["id"]
            assert "alarm.smoke.cleared" in col.kinds()
            await sim(gw).inject("smoke-1", "smoke", True, trace="again")
            await col.wait_for(lambda c: len(of(c, "alarm.smoke")) == 2)  # cleared, so re-armed


async def test_bursts_of_duplicate_readings(tmp_path: Path, broker: Mosquitto) -> None:
    async with Collector(broker.host, broker.port) as col, Gateway(config(tmp_path / "s", broker)) as gw:
        home = sim(gw)
        await asyncio.gather(*(home.inject("smoke-1", "smoke", True, trace=f"s{i}") for i in range(30)))
        await asyncio.gather(*(home.inject("btn-2", "press", True, trace=f"p{i}") for i in range(20)))
        await col.wait_for(lambda c: {f"p{i}" for i in range(20)} <= c.traces())
        assert len(of(col, "alarm.smoke")) == 1
        assert len(of(col, "alarm.emergency_call")) == 1  # one call; every press still reported
        assert len(of(col, "alarm.cancel_requested")) == 1
        assert len(of(col, "alarm.repeated")) == 18


async def test_bad_acks_are_ignored_and_close_resolves(tmp_path: Path, broker: Mosquitto) -> None:
    async with Collector(broker.host, broker.port) as col, Gateway(config(tmp_path / "s", broker)) as gw:
        await sim(gw).inject("cord-1", "press", True, trace="cord")
        await col.wait_for(lambda c: bool(of(c, "alarm.emergency_call")))
        call = of(col, "alarm.emergency_call")[0]
        svc = alarms(gw)
        for bad in (b"", b"not json", b"[]", b'{"alarm": 5}', b'{"alarm": "x", "action": "explode"}', b"{" * 9000):
            await publish_ack(broker, bad)
        await publish_ack(broker, {"alarm": "019a0000-0000-7000-8000-000000000000"})  # unknown
        await col.wait_for(lambda c: svc.stats["bad_acks"] == 6 and svc.stats["unknown_acks"] == 1, 5)
        assert gw.uplink.stats.handler_errors == 0

        result = await svc.ack(call["id"], by="op-3", note="", action="ack")  # what the alarm_ack command calls
        assert result["state"] == "acknowledged"
        await publish_ack(broker, {"alarm": call["id"], "action": "close", "by": "op-3"})
        await col.wait_for(lambda c: bool(of(c, "alarm.resolved")))
        resolved = of(col, "alarm.resolved")[0]
        assert resolved["data"]["reason"] == "closed" and resolved["data"]["by"] == "op-3"
        assert await svc.ack(call["id"]) == {"state": "resolved", "alarm": call["id"]}  # late repeat: harmless
        with pytest.raises(LookupError):
            await svc.ack("nope")
        await col.wait_for(lambda c: feedback(gw).current == "normal", 5)
        await sim(gw).inject("cord-1", "press", True, trace="cord-2")
        await col.wait_for(lambda c: len(of(c, "alarm.emergency_call")) == 2)  # closed: the next press is a call


async def test_alarm_raised_while_the_uplink_is_down(tmp_path: Path, broker: Mosquitto) -> None:
    async with Collector(broker.host, broker.port) as col, Gateway(config(tmp_path / "s", broker)) as gw:
        await col.wait_for(lambda c: gw.uplink.connected, 5)
        broker.stop()
        await col.wait_for(lambda c: not gw.uplink.connected, 10)
        await sim(gw).inject("btn-1", "press", True, trace="offline-call")
        assert feedback(gw).current == "not_sent"  # nothing left the box: "use the phone"
        broker.start()  # the call goes out when the broker is back (the collector may not be listening yet)
        await col.wait_for(lambda c: feedback(gw).current in ("call_sent", "escalated"), 20)
        assert alarms(gw).book.open["alarm.emergency_call|btn-1"].sent


async def test_sent_is_reported_and_the_uplink_drives_feedback(tmp_path: Path, broker: Mosquitto) -> None:
    """PUBACK -> one ``alarm.sent``; losing the uplink shows "uplink down" even with no new alarm, and its return
    shows where the call stands again; once help is coming, a network blip does not take that back."""
    cfg = config(tmp_path / "s", broker, escalate_after_s=600)
    async with Collector(broker.host, broker.port, client_id="platform-sent") as col, Gateway(cfg) as gw:
        await sim(gw).inject("btn-1", "press", True, trace="call")
        await col.wait_for(lambda c: bool(of(c, "alarm.sent")), 5)
        call = of(col, "alarm.emergency_call")[0]
        sent = of(col, "alarm.sent")[0]
        assert sent["data"]["alarm"] == call["id"] and sent["data"]["kind"] == "alarm.emergency_call"
        assert 0 <= sent["data"]["after_ms"] < 5000 and sent["priority"] == "alert"
        assert sent["device"]["id"] == "btn-1"
        await sim(gw).inject("btn-1", "press", True, trace="again")  # a repeat is not a second "sent"
        await col.wait_for(lambda c: "again" in c.traces(), 5)
        assert feedback(gw).current == "cancelled"  # a second press inside the window asks to cancel: said so
        assert of(col, "alarm.cancel_requested")[0]["data"]["how"] == "second_press"
        assert "alarm.resolved" not in col.kinds()  # only the platform closes it

        broker.stop()
        await col.wait_for(lambda c: feedback(gw).current == "uplink_down", 10)
        broker.start()
        await col.wait_for(lambda c: feedback(gw).current == "call_sent", 20)

        await publish_ack(broker, {"alarm": call["id"], "by": "op"})
        await col.wait_for(lambda c: feedback(gw).current == "call_received", 5)
        broker.stop()
        await col.wait_for(lambda c: not gw.uplink.connected, 10)
        await asyncio.sleep(0.2)
        assert feedback(gw).current == "call_received"
        broker.start()
        await col.wait_for(lambda c: gw.uplink.connected, 20)
        await asyncio.sleep(1)
        assert len(of(col, "alarm.sent")) == 1
