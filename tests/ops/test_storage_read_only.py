"""A card the kernel makes read-only under a running gateway: alarms still reach the platform, the fault is
reported, and once the card is repaired the gateway writes again by itself and says so."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.app import Gateway
from gateway.outbox import OutboxError
from tests.ops.disks import BreakableDisk
from tests.support.broker import Mosquitto
from tests.support.collector import Collector
from tests.support.gateway import make_config

pytestmark = pytest.mark.timeout(90)
DEGRADED = "gateway.storage_degraded"
RESTORED = "gateway.storage_restored"
MB = 1024 * 1024
HEALTH = {  # a slow periodic check: the outbox wakes the monitor when it goes degraded and when it recovers
    "heartbeat_interval_s": 0,
    "storage_check_s": 30,
    "storage_min_free_bytes": 1 * MB,
    "storage_recover_free_bytes": 2 * MB,
}


def of_kind(col: Collector, kind: str) -> list[dict]:
    return [ev for ev in col.events if ev["kind"] == kind]


async def test_read_only_card_alarms_delivered_fault_reported_then_recovered(
    card: BreakableDisk, broker: Mosquitto
) -> None:
    cfg = make_config(card.path / "state", broker.url, health=HEALTH)
    accepted: set[str] = set()
    async with Collector(broker.host, broker.port, client_id="platform-ro") as col, Gateway(cfg) as gw:
        sim = gw.drivers["sim"]

        async def press(device: str, trace: str) -> None:
            await sim.inject(device, "press", True, trace=trace)
            accepted.add(trace)  # inject returned: the gateway told the device "accepted"

        await press("btn-1", "before")
        await col.wait_for(lambda c: "before" in c.traces())

        card.fail()
        await press("cord-1", "pull-cord")
        await col.wait_for(lambda c: "pull-cord" in c.traces() and bool(of_kind(c, DEGRADED)), timeout=10)
        (degraded,) = of_kind(col, DEGRADED)
        assert "read_only" in degraded["data"]["reasons"], degraded["data"]
        assert degraded["data"]["outbox"]["storage_fault"] == "read_only"
        pull = next(ev for ev in col.events if ev.get("trace") == "pull-cord")
        assert pull["kind"] == "alarm.emergency_call" and pull["priority"] == "alarm"

        with pytest.raises(OutboxError, match="read-only"):  # a door event is state: refused, and accounted for
            await sim.inject("door-1", "contact", "open", trace="door")
        await col.wait_for(
            lambda c: any(ev["data"]["dropped"].get("state_read_only") for ev in of_kind(c, "gateway.data_dropped"))
        )

        # The platform is away too: this alarm lives only in memory until the card is fixed.
        broker.stop()
        await press("btn-2", "offline")
        assert gw.outbox.depth()["held"] >= 1

        card.repair()
        deadline = time.monotonic() + 15
        while gw.outbox.storage_fault is not None:
            assert time.monotonic() < deadline, "the gateway did not start writing again by itself"
            await asyncio.sleep(0.1)
        assert gw.outbox.depth()["held"] == 0, "the held alarm was written to the repaired card"
        broker.start()

        await col.wait_for(lambda c: "offline" in c.traces() and bool(of_kind(c, RESTORED)), timeout=20)
        (restored,) = of_kind(col, RESTORED)
        assert "read_only" in restored["data"]["was"]
        assert restored["seq"] > degraded["seq"]
        await press("btn-1", "after")
        await col.wait_for(lambda c: accepted <= c.traces(), timeout=10)

    assert "door" not in col.traces()
    seq_of: dict[str, int] = {}
    for ev in col.events:  # at-least-once: a resent event keeps its id and its seq
        assert seq_of.setdefault(ev["id"], ev["seq"]) == ev["seq"]
    assert len(set(seq_of.values())) == len(seq_of), "a seq was given to two different events"
    assert len(of_kind(col, DEGRADED)) == 1


async def test_card_low_on_space_that_goes_read_only_is_reported_again(card: BreakableDisk, broker: Mosquitto) -> None:
    """Already degraded for space, the card then goes read-only: alarms now live in memory only, and the platform
    must hear that, not just the old low-space report."""
    health = {**HEALTH, "storage_min_free_bytes": 64 * MB, "storage_recover_free_bytes": 64 * MB}  # 32 MB card
    cfg = make_config(card.path / "state", broker.url, health=health)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        await col.wait_for(lambda c: bool(of_kind(c, DEGRADED)))
        assert of_kind(col, DEGRADED)[0]["data"]["reasons"] == ["low_space"]
        card.fail()
        await gw.drivers["sim"].inject("smoke-1", "smoke", True, trace="smoke")
        await col.wait_for(lambda c: len(of_kind(c, DEGRADED)) == 2 and "smoke" in c.traces(), timeout=10)
        assert of_kind(col, DEGRADED)[1]["data"]["reasons"] == ["low_space", "read_only"]
