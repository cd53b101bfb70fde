"""Outbox -> uplink -> a real Mosquitto: ordering, lanes, status, broker failures."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from core.events import EventDraft, Priority
from gateway.app import Gateway
from tests.support.broker import Mosquitto
from tests.support.collector import Collector
from tests.support.gateway import make_config


async def test_events_arrive_in_order_on_their_topics(tmp_path: Path, broker: Mosquitto) -> None:
    cfg = make_config(tmp_path / "s", broker.url)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        sim = gw.drivers["sim"]
        for i in range(50):
            await sim.inject("pir-1", "motion", True, trace=f"m{i}")
        await sim.inject("btn-1", "press", True, trace="alarm")
        await col.wait_for(lambda c: len(c.traces()) == 51)
    motion = [ev for _, topic, ev in col.arrivals if topic.endswith("/events") and ev["kind"] == "state.motion"]
    assert [ev["trace"] for ev in motion] == [f"m{i}" for i in range(50)]
    assert [ev["seq"] for ev in motion] == sorted(ev["seq"] for ev in motion)
    alarms = [(topic, ev) for _, topic, ev in col.arrivals if ev["priority"] == "alarm"]
    assert alarms == [(f"fbgw/v1/{cfg.gateway.id}/alarms", alarms[0][1])]
    assert alarms[0][1]["kind"] == "alarm.emergency_call"
    assert alarms[0][1]["device"] == {"id": "btn-1", "type": "call_button", "room": "bedroom", "transport": "sim"}


async def test_delivered_events_leave_the_outbox(tmp_path: Path, broker: Mosquitto) -> None:
    cfg = make_config(tmp_path / "s", broker.url)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        for i in range(20):
            await gw.drivers["sim"].inject("btn-1", "press", True, trace=f"p{i}")
        await col.wait_for(lambda c: len(c.traces()) == 20)
        deadline = time.monotonic() + 15
        while gw.outbox.stats.rows and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert gw.outbox.stats.rows == 0, (gw.outbox.depth(), gw.uplink.stats)


async def test_status_is_retained_online_and_offline_on_shutdown(tmp_path: Path, broker: Mosquitto) -> None:
    cfg = make_config(tmp_path / "s", broker.url)
    async with Gateway(cfg) as gw:
        async with Collector(broker.host, broker.port) as col:
            await col.wait_for(lambda c: any(t.endswith("/status") for t, _, _ in c.messages))
            _, payload, retained = next(m for m in col.messages if m[0].endswith("/status"))
            assert json.loads(payload)["state"] == "online" and retained
            assert gw.uplink.stats.state == "online"
    async with Collector(broker.host, broker.port) as col:
        await col.wait_for(lambda c: any(t.endswith("/status") for t, _, _ in c.messages))
        _, payload, _ = next(m for m in col.messages if m[0].endswith("/status"))
        assert json.loads(payload) | {"ts": 0} == json.loads(payload) | {"ts": 0, "state": "offline"}
        assert json.loads(payload)["reason"] == "shutdown"


async def test_alarm_overtakes_a_50k_backlog(tmp_path: Path, broker: Mosquitto) -> None:
    broker.stop()
    cfg = make_config(tmp_path / "s", broker.url)
    async with Gateway(cfg) as gw:
        for start in range(0, 50_000, 5_000):
            await gw.emit(
                [
                    EventDraft("telemetry.vitals", Priority.TELEMETRY, None, {"n": i})
                    for i in range(start, start + 5_000)
                ]
            )
        assert gw.outbox.stats.rows >= 50_000
        broker.start()
        async with Collector(broker.host, broker.port) as col:
            await col.wait_for(lambda c: len(c.events) > 0, timeout=15)
            sent = time.monotonic()
            await gw.drivers["sim"].inject("smoke-1", "smoke", True, trace="fire")
            await col.wait_for(lambda c: "fire" in c.traces(), timeout=10)
            arrived = next(t for t, _, ev in col.arrivals if ev.get("trace") == "fire")
            backlog_seen = sum(1 for ev in col.events if ev["kind"] == "telemetry.vitals")
            assert backlog_seen < 50_000, "the alarm waited for the whole backlog"
            assert arrived - sent < 1.0, f"alarm took {arrived - sent:.3f}s behind a backlog"
            await col.wait_for(lambda c: len({e["seq"] for e in c.events}) >= 50_001, timeout=120)


async def test_broker_restart_mid_stream_loses_nothing(tmp_path: Path, broker: Mosquitto) -> None:
    cfg = make_config(tmp_path / "s", broker.url)
    async with Collector(broker.host, broker.port, client_id="platform-restart") as col, Gateway(cfg) as gw:
        sim = gw.drivers["sim"]
        for i in range(300):
            await sim.inject("pir-1", "motion", True, trace=f"a{i}")
            if i == 100:
                broker.stop()
            if i == 200:
                broker.start()
        await col.wait_for(lambda c: {f"a{i}" for i in range(300)} <= c.traces(), timeout=30)
        assert gw.uplink.stats.reconnects >= 1


async def test_broker_frozen_with_sigstop_then_resumed(tmp_path: Path, broker: Mosquitto) -> None:
    cfg = make_config(tmp_path / "s", broker.url, uplink={"puback_timeout_s": 1.0, "keepalive_s": 5})
    async with Collector(broker.host, broker.port, client_id="platform-frozen") as col, Gateway(cfg) as gw:
        sim = gw.drivers["sim"]
        for i in range(50):
            await sim.inject("pir-1", "motion", True, trace=f"b{i}")
        broker.pause()
        try:
            for i in range(50, 150):
                await sim.inject("pir-1", "motion", True, trace=f"b{i}")
            await sim.inject("btn-2", "press", True, trace="frozen-alarm")
            await asyncio.sleep(2.5)  # longer than the PUBACK timeout: the uplink gives up on this connection
        finally:
            broker.resume()
        await col.wait_for(lambda c: {f"b{i}" for i in range(150)} | {"frozen-alarm"} <= c.traces(), timeout=30)


async def test_first_alarm_after_broker_returns_goes_out_within_a_second(tmp_path: Path, broker: Mosquitto) -> None:
    # Long backoff on purpose: only the alarm fast-retry can meet the deadline.
    cfg = make_config(tmp_path / "s", broker.url, uplink={"backoff_initial_s": 20.0, "backoff_max_s": 60.0})
    async with Gateway(cfg) as gw:
        broker.stop()
        await asyncio.sleep(0.5)
        await gw.drivers["sim"].inject("cord-1", "press", True, trace="cord")
        await asyncio.sleep(2.0)  # several failed attempts while the broker is away
        broker.start()
        back = time.monotonic()
        async with Collector(broker.host, broker.port) as col:
            await col.wait_for(lambda c: "cord" in c.traces(), timeout=10)
            arrived = next(t for t, _, ev in col.arrivals if ev.get("trace") == "cord")
        # The collector connects after the broker is up; the alarm may already be retained in its session? No:
        # it subscribes fresh, so the alarm is published after it subscribed or within the window measured here.
        assert arrived - back < 1.5


async def test_mqtt5_persistent_session(tmp_path: Path, broker: Mosquitto) -> None:
    cfg = make_config(tmp_path / "s", broker.url, uplink={"protocol": "5"})
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        await gw.drivers["sim"].inject("gas-1", "gas", True, trace="gas5")
        await col.wait_for(lambda c: "gas5" in c.traces())
        assert col.events[-1]["kind"] == "alarm.gas"
