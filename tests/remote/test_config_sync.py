"""Desired config against a real Mosquitto: apply, every rejection reason, version order, reports on reconnect."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.app import Gateway
from gateway.remote.config_sync import ConfigSync
from gateway.tools.local_broker import Mosquitto
from tests.remote.platform import Platform, assert_matches_gateway
from tests.support.collector import Collector
from tests.support.gateway import make_config

pytestmark = pytest.mark.timeout(60)

V1: dict[str, Any] = {
    "version": 1,
    "rules": {"battery_low_pct": 35},
    "devices": {"btn-1": {"name": "床头呼叫", "room": "卧室"}, "door-1": {"room": "entrance"}},
    "heartbeat_interval_s": 300,
    "uplink": {"batch_max_events": 50, "batch_max_bytes": 65536},
    "log_level": "warning",
    "county": "gaotai",
}


def sync_of(gw: Gateway) -> ConfigSync:
    service = gw.services.remote_config
    assert isinstance(service, ConfigSync)
    return service


async def settle(gw: Gateway) -> None:
    async with asyncio.timeout(15):
        await sync_of(gw).idle()


def running_values(gw: Gateway) -> tuple[Any, ...]:
    """Everything a desired document can change, as the gateway runs it."""
    c = gw.config
    btn, door = gw.registry.get("btn-1"), gw.registry.get("door-1")
    assert btn is not None and door is not None
    return (
        c.rules,
        c.health.heartbeat_interval_s,
        c.uplink.batch_max_events,
        c.uplink.batch_max_bytes,
        gw.uplink.settings.batch_max_events,
        c.log_level,
        c.web.county,
        btn.name,
        btn.room,
        door.room,
    )


async def test_apply_switches_in_and_reports(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        first = await p.report_for(state="local")
        assert first["applied"] is None
        assert_matches_gateway(first, gw)

        await p.push(V1)
        report = await p.report_for(1, state="applied")
        await settle(gw)
        assert report["reason"] is None and report["hash"].startswith("sha256:")
        assert report["applied"] == {"version": 1, "hash": report["hash"]}
        assert_matches_gateway(p.reports()[-1], gw)
        assert gw.config.rules.battery_low_pct == 35
        assert gw.rules.settings.battery_low_pct == 35  # switched in, not only stored
        assert gw.config.health.heartbeat_interval_s == 300
        assert gw.uplink.settings.batch_max_events == 50
        assert gw.config.web.county == "gaotai"
        assert gw.services.web.profile.id == "gaotai"  # type: ignore[union-attr]
        btn = gw.registry.get("btn-1")
        assert btn is not None and (btn.name, btn.room) == ("床头呼叫", "卧室")
        # keys the document leaves out keep their local values
        assert gw.config.uplink.max_inflight_messages == cfg.uplink.max_inflight_messages
        stored = json.loads((tmp_path / "state" / "remote" / "desired.json").read_bytes())
        assert stored["version"] == 1
        # the retained report is what a platform connecting later sees
        async with Collector(broker.host, broker.port) as late:
            late_p = Platform(broker.host, broker.port, gw.id, late)
            retained = await late_p.report_for(1)
            assert retained["state"] == "applied"
            assert_matches_gateway(retained, gw)

        # events keep flowing after the switch (the uplink reconnected for the new batching)
        await gw.drivers["sim"].inject("btn-1", "press", True, trace="after-apply")  # type: ignore[attr-defined]
        await col.wait_for(lambda c: "after-apply" in c.traces())
        ev = next(e for e in col.events if e.get("trace") == "after-apply")
        assert ev["device"]["room"] == "卧室"


async def test_removing_a_key_returns_to_local_value(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        await p.push({"version": 1, "rules": {"battery_low_pct": 40}, "heartbeat_interval_s": 120})
        await p.report_for(1, state="applied")
        await p.push({"version": 2, "heartbeat_interval_s": 120})
        await p.report_for(2, state="applied")
        await settle(gw)
        assert gw.config.rules.battery_low_pct == cfg.rules.battery_low_pct
        assert gw.config.health.heartbeat_interval_s == 120
        assert_matches_gateway(p.reports()[-1], gw)


LONG = "x" * (64 * 1024)

#: (document, reason) — each must be refused with exactly this reason and change nothing.
REJECTIONS: list[tuple[Any, str]] = [
    ({"version": 5, "padding": LONG}, "too_large"),
    (b"{not json", "not_json"),
    (b"[1, 2, 3]", "not_json"),
    (b'{"version": 5, "version": 6}', "not_json"),
    (b"\xff\xfe", "not_json"),
    ({"version": 5, "bogus": 1}, "unknown_key"),
    ({"version": 5, "rules": {"battery_low_pct": 30, "typo_pct": 1}}, "unknown_key"),
    ({"version": 5, "devices": {"btn-1": {"colour": "red"}}}, "unknown_key"),
    ({"version": 5, "state_dir": "/tmp/evil"}, "local_only"),
    ({"version": 5, "remote": {"platform_key": None}}, "local_only"),
    ({"version": 5, "gateway_id": "other"}, "local_only"),
    ({"version": 5, "drivers": {"sim": {"enabled": False}}}, "local_only"),
    ({"rules": {"battery_low_pct": 30}}, "missing_key"),
    ({"version": "5"}, "wrong_type"),
    ({"version": 5.0}, "wrong_type"),
    ({"version": 5, "rules": {"battery_low_pct": "30"}}, "wrong_type"),
    ({"version": 5, "heartbeat_interval_s": True}, "wrong_type"),
    ({"version": 5, "devices": ["btn-1"]}, "wrong_type"),
    ({"version": 0}, "out_of_range"),
    ({"version": 5, "rules": {"battery_low_pct": 100}}, "out_of_range"),
    ({"version": 5, "heartbeat_interval_s": -1}, "out_of_range"),
    ({"version": 5, "uplink": {"batch_max_events": 0}}, "out_of_range"),
    ({"version": 5, "log_level": "verbose"}, "out_of_range"),
    ({"version": 5, "county": "../../etc/passwd"}, "out_of_range"),
    ({"version": 5, "connection": {"broker": "http://example.com"}}, "out_of_range"),
    (
        {
            "version": 5,
            "connection": {"broker": "mqtt://127.0.0.1:1", "ca_pem": "-----BEGIN CERTIFICATE-----\nAAAA\n"},
        },
        "invalid",
    ),
    ({"version": 1, "heartbeat_interval_s": 60}, "stale_version"),
    ({"version": 2, "heartbeat_interval_s": 61}, "stale_version"),
    ({"version": 5, "gateway": "gw-other"}, "wrong_gateway"),
    (
        {"version": 5, "devices": {"btn-1": {"name": "ok"}, "zb-00124b0000000001": {"name": "ghost"}}},
        "unknown_device",
    ),
    ({"version": 5, "county": "atlantis"}, "unknown_county"),
]


async def test_every_rejection_changes_nothing(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        await p.push({"version": 2, "heartbeat_interval_s": 600, "devices": {"btn-1": {"name": "v2"}}})
        applied = await p.report_for(2, state="applied")
        await settle(gw)
        before = running_values(gw)
        stored = (tmp_path / "state" / "remote" / "desired.json").read_bytes()
        for doc, reason in REJECTIONS:
            n = len(p.reports())
            await p.push(doc if isinstance(doc, bytes) else json.dumps(doc).encode())
            await col.wait_for(lambda c, n=n: len(p.reports()) > n)
            await settle(gw)
            report = p.reports()[-1]
            assert (report["state"], report["reason"]) == ("rejected", reason), (
                doc if len(str(doc)) < 300 else reason,
                report,
            )
            assert report["detail"]
            assert report["applied"] == applied["applied"], "a rejection must not change what is applied"
            assert running_values(gw) == before, f"{reason}: the running config changed"
            assert (tmp_path / "state" / "remote" / "desired.json").read_bytes() == stored
            assert_matches_gateway(report, gw)
        assert sync_of(gw).counters["rejected"] == len(REJECTIONS)


async def test_version_ordering(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        sync = sync_of(gw)
        for version, hb in ((3, 100), (7, 200)):
            await sync.submit(json.dumps({"version": version, "heartbeat_interval_s": hb}).encode())
            assert sync.outcome.state == "applied" and gw.config.health.heartbeat_interval_s == hb
        applied_hash = sync.applied.hash if sync.applied else None
        for stale in (1, 6, 7):
            await sync.submit(json.dumps({"version": stale, "heartbeat_interval_s": 999}).encode())
            assert (sync.outcome.state, sync.outcome.reason) == ("rejected", "stale_version")
            assert gw.config.health.heartbeat_interval_s == 200
        # the applied document delivered again (retained, after a reconnect) is not a rejection
        n = len(p.reports())
        await sync.submit(json.dumps({"version": 7, "heartbeat_interval_s": 200}).encode())
        assert sync.applied is not None and sync.applied.hash == applied_hash
        await col.wait_for(lambda c: len(p.reports()) > n)
        assert p.reports()[-1]["state"] == "rejected"  # the last outcome stays reported; applied is still v7
        assert p.reports()[-1]["applied"]["version"] == 7
        await sync.submit(json.dumps({"version": 8, "heartbeat_interval_s": 300}).encode())
        assert sync.outcome.state == "applied" and gw.config.health.heartbeat_interval_s == 300
        report = await p.report_for(8, state="applied")
        assert_matches_gateway(report, gw)


async def test_report_republished_on_every_reconnect(tmp_path: Path) -> None:
    broker = Mosquitto(persistence=False)  # a restarted broker forgets every retained message
    broker.start()
    try:
        cfg = make_config(tmp_path / "state", broker.url)
        async with Gateway(cfg) as gw:
            async with Collector(broker.host, broker.port) as col:
                p = Platform(broker.host, broker.port, gw.id, col)
                await p.push({"version": 4, "heartbeat_interval_s": 90})
                await p.report_for(4, state="applied")
            broker.stop()
            await asyncio.sleep(0.3)
            broker.start()
            async with Collector(broker.host, broker.port) as col:  # subscribes after the gateway reconnects
                p = Platform(broker.host, broker.port, gw.id, col)
                await p.report_for(4, state="applied", timeout=15)
            async with Collector(broker.host, broker.port) as late:  # and it is retained on the new broker
                p = Platform(broker.host, broker.port, gw.id, late)
                report = await p.report_for(4, state="applied")
                assert any(t == p.topics.config_reported and retain for t, _, retain in late.messages)
                assert_matches_gateway(report, gw)
    finally:
        broker.close()


async def test_restart_keeps_the_applied_document(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col:
        p = Platform(broker.host, broker.port, "gw-test", col)
        async with Gateway(cfg) as gw:
            await p.push(V1)
            await p.report_for(1, state="applied")
            await settle(gw)
            running = running_values(gw)
        await p.publish(p.topics.config_desired, b"", retain=True)  # the platform cleared it: the box keeps v1
        n = len(p.reports())
        async with Gateway(cfg) as gw2:
            assert running_values(gw2) == running
            await col.wait_for(lambda c: len(p.reports()) > n)
            report = p.reports()[-1]
            assert (report["version"], report["state"]) == (1, "applied")
            assert_matches_gateway(report, gw2)


async def test_refused_document_is_not_retried_after_restart(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col:
        p = Platform(broker.host, broker.port, "gw-test", col)
        async with Gateway(cfg) as gw:
            await p.push({"version": 3, "devices": {"btn-9": {"name": "not here"}}})
            await p.report_for(3, state="rejected")
            assert sync_of(gw).counters["received"] >= 1
        async with Gateway(cfg) as gw2:
            await settle(gw2)
            await asyncio.sleep(0.5)  # the retained document arrives again
            await settle(gw2)
            sync = sync_of(gw2)
            assert sync.counters["rejected"] == 0  # answered from memory, not re-validated
            assert (sync.outcome.state, sync.outcome.reason) == ("rejected", "unknown_device")
            report = await p.report_where(lambda r: r["state"] == "rejected" and r["version"] == 3)
            assert_matches_gateway(report, gw2)


async def test_restart_names_a_device_its_driver_registers_after_the_document_is_reapplied(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """Remote config starts once the drivers have started: a device a driver registers at start (its registry
    entry lost, or a first start) still gets the name and room the re-applied document gives it."""
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col:
        p = Platform(broker.host, broker.port, "gw-test", col)
        async with Gateway(cfg) as gw:
            await p.push(V1)
            await p.report_for(1, state="applied")
            await settle(gw)
        await p.publish(p.topics.config_desired, b"", retain=True)
    (tmp_path / "state" / "devices.json").unlink()  # the sim driver registers btn-1 anew, with its own name
    async with Gateway(cfg) as gw2:
        btn = gw2.registry.get("btn-1")
        assert btn is not None and (btn.name, btn.room) == ("床头呼叫", "卧室")
        door = gw2.registry.get("door-1")
        assert door is not None and door.room == "entrance"
