"""The ``webhook`` profile against a local aiohttp receiver that fails, stalls, refuses and restarts."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import ssl
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.app import Gateway
from gateway.config import parse_config
from gateway.uplink_profiles.webhook import sign
from tests.core.test_kill9 import _inject_until_killed
from tests.core.test_tls_uplink import Pki
from tests.profiles.webhook_receiver import Receiver
from tests.remote.platform import Platform
from tests.support.broker import Mosquitto, free_port
from tests.support.collector import Collector
from tests.support.gateway import GatewayProcess, config_dict, write_toml

pytestmark = pytest.mark.timeout(120)

SECRET = "county-shared-secret"


def wh_config(tmp_path: Path, url: str, broker_url: str = "mqtt://127.0.0.1:1", **uplink: Any) -> dict[str, Any]:
    return config_dict(
        tmp_path / "state",
        broker_url,
        uplink={"profile": "webhook", "webhook": {"url": url, "secret": SECRET, "timeout_s": 1.0}, **uplink},
    )


async def drained(gw: Gateway, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while gw.outbox.depth()["rows"]:  # delivered rows waiting for their delete are not backlog
            await asyncio.sleep(0.05)


def test_signature_is_hmac_sha256_over_timestamp_and_body() -> None:
    # computed independently: printf '1700000000.[]' | openssl dgst -sha256 -hmac county-shared-secret
    assert sign(SECRET, "1700000000", b"[]") == (
        "sha256=" + __import__("hmac").new(SECRET.encode(), b"1700000000.[]", "sha256").hexdigest()
    )
    assert sign(SECRET, "1700000000", b"[]") != sign(SECRET, "1700000001", b"[]")


async def test_signed_json_arrays_in_order_alarm_first_deleted_on_2xx(tmp_path: Path) -> None:
    async with Receiver(SECRET) as rx:
        cfg = parse_config(wh_config(tmp_path, rx.url))
        async with Gateway(cfg) as gw:
            sim = gw.drivers["sim"]
            for i in range(60):
                await sim.inject("pir-1", "motion", True, trace=f"m{i}")
            await sim.inject("btn-1", "press", True, trace="call")
            await rx.wait_for(lambda r: {f"m{i}" for i in range(60)} | {"call"} <= r.traces())
            await drained(gw)
            assert gw.status()["uplink"]["profile"] == "webhook"
            assert gw.uplink.connected and gw.status()["uplink"]["state"] == "online"
        (tmp_path / "webhook-example.json").write_text(json.dumps(rx.example, ensure_ascii=False, indent=1))
    assert rx.bad_signatures == 0 and not rx.schema_errors
    assert rx.requests[0] == (200, "hello", 0), "a session starts with an empty array"
    motion = [ev for ev in rx.events if ev["kind"] == "state.motion"]
    assert [ev["trace"] for ev in motion] == [f"m{i}" for i in range(60)]
    alarm = next(ev for ev in rx.events if ev.get("trace") == "call")
    assert alarm["kind"] == "alarm.emergency_call"
    assert any(lane == "alarms" and n >= 1 for _, lane, n in rx.requests)


async def test_5xx_429_408_stall_and_restart_lose_nothing(tmp_path: Path) -> None:
    rx = Receiver(SECRET)
    await rx.start()
    try:
        cfg = parse_config(wh_config(tmp_path, rx.url, backoff_initial_s=0.05, backoff_max_s=0.5))
        async with Gateway(cfg) as gw:
            sim = gw.drivers["sim"]
            await rx.wait_for(lambda r: len(r.requests) >= 1)
            rx.plan = [503, 429, "stall", 408, 500, 502]
            for i in range(200):
                await sim.inject("pir-1" if i % 40 else "btn-2", "motion" if i % 40 else "press", True, trace=f"a{i}")
                if i == 80:
                    await rx.stop()  # the receiver goes away (connection refused) ...
                if i == 140:
                    await rx.start()  # ... and comes back on the same port
                await asyncio.sleep(0.005)
            await rx.wait_for(lambda r: {f"a{i}" for i in range(200)} <= r.traces(), timeout=40)
            await drained(gw)
            assert gw.uplink.stats.reconnects >= 6
            assert gw.status()["uplink"]["permanent_error"] is None
    finally:
        await rx.stop()
    statuses = [s for s, _, _ in rx.requests]
    for code in (503, 429, 0, 408, 500, 502):
        assert code in statuses, (code, statuses[:20])
    assert not rx.schema_errors and rx.bad_signatures == 0
    motion = [ev["seq"] for ev in rx.events if ev["kind"] == "state.motion"]
    assert sorted(set(motion)) == sorted(dict.fromkeys(motion)), "order kept across retries"
    firsts = list(dict.fromkeys(motion))
    assert firsts == sorted(firsts), "an event overtook an earlier one of its lane"


async def test_permanent_refusal_is_reported_and_nothing_is_dropped(tmp_path: Path) -> None:
    async with Receiver(SECRET) as rx:
        raw = wh_config(tmp_path, rx.url, backoff_initial_s=0.05, backoff_max_s=0.5)
        raw["health"] = {"heartbeat_interval_s": 0.5}
        async with Gateway(parse_config(raw)) as gw:
            await rx.wait_for(lambda r: len(r.requests) >= 1)
            rx.plan = [403] * 1000
            await gw.drivers["sim"].inject("btn-1", "press", True, trace="refused-call")
            async with asyncio.timeout(10):
                while not gw.status()["uplink"]["permanent_error"]:
                    await asyncio.sleep(0.05)
            error = gw.status()["uplink"]["permanent_error"]
            assert "HTTP 403" in error and "no (403)" in error
            await asyncio.sleep(1.5)
            assert gw.outbox.stats.alarms >= 1, "a refused alarm must wait in the outbox, never be dropped"
            tries = sum(1 for s, lane, _ in rx.requests if s == 403 and lane == "alarms")
            assert 2 <= tries <= 5, f"retried at the longest backoff, not hammered: {tries} in ~1.5 s"
            rx.plan = []  # the platform fixes its side
            await rx.wait_for(lambda r: "refused-call" in r.traces(), timeout=10)
            beats = lambda r: [e for e in r.events if e["kind"] == "gateway.heartbeat"]  # noqa: E731
            await rx.wait_for(lambda r: any(b["data"]["uplink"]["permanent_error"] for b in beats(r)), timeout=10)
            await rx.wait_for(lambda r: not beats(r)[-1]["data"]["uplink"]["permanent_error"], timeout=10)
            assert gw.status()["uplink"]["permanent_error"] is None
    reported = next(b for b in beats(rx) if b["data"]["uplink"]["permanent_error"])
    assert reported["data"]["uplink"]["profile"] == "webhook"


async def test_a_refused_backlog_does_not_hold_up_alarms(tmp_path: Path) -> None:
    async with Receiver(SECRET) as rx:
        raw = wh_config(tmp_path, rx.url, backoff_initial_s=0.05, backoff_max_s=0.5)
        async with Gateway(parse_config(raw)) as gw:
            await rx.wait_for(lambda r: len(r.requests) >= 1)
            rx.refuse_lanes = {"events"}
            await gw.drivers["sim"].inject("pir-1", "motion", True, trace="refused-motion")
            async with asyncio.timeout(10):
                while not gw.status()["uplink"]["permanent_error"]:
                    await asyncio.sleep(0.05)
            assert "events: DeliveryRefused" not in gw.status()["uplink"]["permanent_error"]
            assert gw.status()["uplink"]["permanent_error"].startswith("events: HTTP 403")
            for dev in ("btn-1", "btn-2", "cord-1"):
                await gw.drivers["sim"].inject(dev, "press", True, trace=f"call-{dev}")
                await rx.wait_for(lambda r, d=dev: f"call-{d}" in r.traces(), timeout=5)
            assert gw.status()["uplink"]["permanent_error"], (
                "an alarm getting through does not clear the events' refusal"
            )
            assert "refused-motion" not in rx.traces() and gw.outbox.depth()["rows"] >= 1
            rx.refuse_lanes = set()
            await rx.wait_for(lambda r: "refused-motion" in r.traces(), timeout=10)
            async with asyncio.timeout(5):
                while gw.status()["uplink"]["permanent_error"]:
                    await asyncio.sleep(0.05)
            assert gw.uplink.stats.reconnects == 0, "a refusal of one lane ends no session"


async def test_kill9_at_random_moments_loses_no_accepted_event(tmp_path: Path) -> None:
    trials = int(os.environ.get("FBGW_KILL_TRIALS", "3"))
    async with Receiver(SECRET) as rx:
        raw = wh_config(tmp_path, rx.url)
        raw["gateway"]["id"] = "gw-kill"
        cfg_path = write_toml(tmp_path / "gw.toml", raw)
        accepted: set[str] = set()
        rng = random.Random(int.from_bytes(os.urandom(4), "big"))
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
            await rx.wait_for(lambda r: accepted <= r.traces(), timeout=60)
        finally:
            final.terminate()
    assert rx.bad_signatures == 0 and not rx.schema_errors


async def test_remote_switch_to_a_dead_webhook_rolls_back(tmp_path: Path, broker: Mosquitto) -> None:
    dead = f"http://127.0.0.1:{free_port()}/nobody"
    raw = wh_config(tmp_path, dead, broker_url=broker.url)
    raw["uplink"]["profile"] = "fbgw"
    raw["remote"] = {"connection_trial_s": 2}
    async with Collector(broker.host, broker.port) as col, Gateway(parse_config(raw)) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        started = time.monotonic()
        await p.push({"version": 1, "uplink": {"profile": "webhook"}})
        report = await p.report_for(1, timeout=15)
        assert report["state"] == "rejected", report
        assert report["reason"] == "connection_failed" and "rolled back" in report["detail"], report
        assert report["effective"]["uplink"]["profile"] == "fbgw"
        assert time.monotonic() - started < 10
        assert gw.uplink.profile.name == "fbgw" and gw.config.uplink.profile == "fbgw"
        await gw.drivers["sim"].inject("btn-1", "press", True, trace="after-rollback")
        await col.wait_for(lambda c: "after-rollback" in c.traces())


async def test_remote_switch_to_a_live_webhook_moves_the_events(tmp_path: Path, broker: Mosquitto) -> None:
    async with Receiver(SECRET) as rx:
        raw = wh_config(tmp_path, rx.url, broker_url=broker.url)
        raw["uplink"]["profile"] = "fbgw"
        async with Collector(broker.host, broker.port) as col, Gateway(parse_config(raw)) as gw:
            await gw.drivers["sim"].inject("pir-1", "motion", True, trace="native")
            await col.wait_for(lambda c: "native" in c.traces())
            await drained(gw)  # at least once: an unacknowledged row would be sent again after the switch
            p = Platform(broker.host, broker.port, gw.id, col)
            await p.push({"version": 1, "uplink": {"profile": "webhook"}})
            async with asyncio.timeout(15):
                while gw.config.uplink.profile != "webhook":
                    await asyncio.sleep(0.05)
            await gw.drivers["sim"].inject("pir-1", "motion", True, trace="posted")
            await rx.wait_for(lambda r: "posted" in r.traces())
            assert gw.uplink.profile.name == "webhook"
    assert "posted" not in col.traces() and "native" not in rx.traces()


async def test_https_with_the_platforms_ca_and_a_wrong_ca_refused(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    ca = pki.ca("county-ca")
    other = pki.ca("someone-else")
    crt, key = pki.leaf("receiver", ca, server=True, legacy=True)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(crt, key)
    async with Receiver(SECRET, tls=tls) as rx:
        assert rx.url.startswith("https://")
        raw = wh_config(tmp_path, rx.url, backoff_initial_s=0.05, backoff_max_s=0.5)
        raw["uplink"]["webhook"]["ca_file"] = str(other[2])
        async with Gateway(parse_config(raw)) as gw:
            await gw.drivers["sim"].inject("btn-1", "press", True, trace="tls-call")
            await asyncio.sleep(1.0)
            assert not rx.requests, "a receiver with a certificate from another CA was trusted"
            assert "certificate" in (gw.uplink.stats.last_error or "").lower(), gw.uplink.stats.last_error
            assert gw.outbox.stats.alarms >= 1
        raw["uplink"]["webhook"]["ca_file"] = str(ca[2])
        async with Gateway(parse_config(raw)) as gw:
            await rx.wait_for(lambda r: "tls-call" in r.traces())
            await drained(gw)
    assert rx.bad_signatures == 0
