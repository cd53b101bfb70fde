"""Alarm-first holds for every profile: an alarm committed behind a backlog overtakes it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.events import EventDraft, Priority
from gateway.app import Gateway
from gateway.config import parse_config
from tests.profiles.test_thingsboard import tb_config
from tests.profiles.test_webhook import SECRET, wh_config
from tests.profiles.thingsboard_platform import ThingsBoardPlatform
from tests.profiles.webhook_receiver import Receiver
from tests.support.broker import Mosquitto

pytestmark = pytest.mark.timeout(120)

BACKLOG = 10_000


async def backlog(gw: Gateway) -> None:
    for start in range(0, BACKLOG, 2_500):
        drafts = [
            EventDraft("telemetry.vitals", Priority.TELEMETRY, None, {"n": i}) for i in range(start, start + 2_500)
        ]
        await gw.emit(drafts)
    assert gw.outbox.stats.rows >= BACKLOG


async def test_thingsboard_alarm_overtakes_a_backlog(tmp_path: Path, broker: Mosquitto) -> None:
    broker.stop()
    cfg = parse_config(tb_config(tmp_path, broker, batch_max_events=20))
    async with Gateway(cfg) as gw:
        await backlog(gw)
        broker.start()
        async with ThingsBoardPlatform(broker.host, broker.port) as tb:
            await tb.wait_for(lambda t: any(p["values"]["event"] == "telemetry.vitals" for _, p in t.points()), 15)
            sent = time.monotonic()
            await gw.drivers["sim"].inject("smoke-1", "smoke", True, trace="fire")
            await tb.wait_for(lambda t: "fire" in t.traces(), timeout=10)
            took = time.monotonic() - sent
            seen = sum(1 for _, p in tb.points() if p["values"]["event"] == "telemetry.vitals")
            assert seen < BACKLOG, "the alarm waited for the whole backlog"
            assert took < 1.0, f"alarm took {took:.3f}s behind a backlog"
            await tb.wait_for(
                lambda t: sum(1 for _, p in t.points() if p["values"]["event"] == "telemetry.vitals") >= BACKLOG, 60
            )
    assert not tb.violations


async def test_webhook_alarm_overtakes_a_backlog(tmp_path: Path) -> None:
    rx = Receiver(SECRET)
    cfg = parse_config(wh_config(tmp_path, rx.url, batch_max_events=20, backoff_max_s=0.5))
    async with Gateway(cfg) as gw:
        await backlog(gw)
        await rx.start()
        try:
            await rx.wait_for(lambda r: any(e["kind"] == "telemetry.vitals" for e in r.events), 15)
            sent = time.monotonic()
            await gw.drivers["sim"].inject("smoke-1", "smoke", True, trace="fire")
            await rx.wait_for(lambda r: "fire" in r.traces(), timeout=10)
            took = time.monotonic() - sent
            seen = sum(1 for e in rx.events if e["kind"] == "telemetry.vitals")
            assert seen < BACKLOG, "the alarm waited for the whole backlog"
            assert took < 1.0, f"alarm took {took:.3f}s behind a backlog"
            await rx.wait_for(lambda r: sum(1 for e in r.events if e["kind"] == "telemetry.vitals") >= BACKLOG, 90)
        finally:
            await rx.stop()
    fire = next(i for i, e in enumerate(rx.events) if e.get("trace") == "fire")
    assert fire < len(rx.events) - 1000, "the alarm arrived near the end of the backlog"
