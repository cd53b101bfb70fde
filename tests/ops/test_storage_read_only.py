"""A card the kernel makes read-only under a running gateway, or before it starts: alarms still reach the
platform, the fault is reported, and once the card is repaired the gateway writes again by itself and says so."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.outbox import OutboxError
from tests.ops.disks import BreakableDisk
from tests.support.broker import Mosquitto
from tests.support.collector import Collector
from tests.support.gateway import SIM_HOME, make_config

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


def stored_traces(db: Path) -> dict[int, str | None]:
    """seq -> trace of what is really in the outbox file, through a connection of its own."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return {seq: json.loads(body).get("trace") for seq, body in conn.execute("SELECT seq, body FROM outbox")}


async def until(cond: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


async def test_card_read_only_at_boot_alarm_delivered_nothing_moved_aside_then_recovered(
    card: BreakableDisk, broker: Mosquitto
) -> None:
    """The card turned read-only and the gateway restarted on it (watchdog, power cut): it starts degraded
    instead of taking the read-only outbox for a corrupt one and crash-looping, and alarms get through."""
    state = card.path / "state"
    cfg = make_config(state, broker.url, health=HEALTH)
    broker.stop()  # the last press before the restart is still waiting in the outbox
    async with Gateway(cfg) as gw:
        await gw.drivers["sim"].inject("btn-1", "press", True, trace="before")
    broker.start()
    os.sync()
    card.fail()
    files = sorted(p.name for p in state.iterdir())

    async with Collector(broker.host, broker.port, client_id="platform-boot-ro") as col, Gateway(cfg) as gw:
        assert gw.outbox.storage_fault == "read_only"
        sim = gw.drivers["sim"]
        await sim.inject("cord-1", "press", True, trace="pull-cord")
        await col.wait_for(lambda c: {"before", "pull-cord"} <= c.traces() and bool(of_kind(c, DEGRADED)), timeout=10)
        (degraded,) = of_kind(col, DEGRADED)
        assert "read_only" in degraded["data"]["reasons"], degraded["data"]
        assert degraded["data"]["outbox"]["storage_fault"] == "read_only"
        by_trace = {ev.get("trace"): ev for ev in col.events}
        pull = by_trace["pull-cord"]
        assert pull["kind"] == "alarm.emergency_call" and pull["priority"] == "alarm"
        assert pull["seq"] > by_trace["before"]["seq"], "seqs continue from what the card holds"
        assert sorted(p.name for p in state.iterdir()) == files, "nothing moved aside"
        assert "gateway.storage_recovered" not in col.kinds(), "a read-only card is not a corrupt outbox"

        broker.stop()  # this one can only wait in memory
        await sim.inject("btn-2", "press", True, trace="held")
        assert gw.outbox.depth()["held"] >= 1
        card.repair()
        await until(lambda: gw.outbox.storage_fault is None, "the gateway did not start writing again by itself")
        assert gw.outbox.depth()["held"] == 0
        assert "held" in stored_traces(state / "outbox.sqlite3").values(), "the held alarm was written to the card"
        broker.start()
        await col.wait_for(lambda c: "held" in c.traces() and bool(of_kind(c, RESTORED)), timeout=20)

    assert not [p.name for p in state.iterdir() if ".corrupt-" in p.name]
    seq_of: dict[str, int] = {}
    for ev in col.events:  # at-least-once: a resent event keeps its id and its seq
        assert seq_of.setdefault(ev["id"], ev["seq"]) == ev["seq"]
    assert len(set(seq_of.values())) == len(seq_of), "a seq was given to two different events"


async def test_corrupt_outbox_on_a_read_only_card_alarms_still_delivered(
    card: BreakableDisk, broker: Mosquitto
) -> None:
    """Damaged and on a card that refuses writes: the outbox can neither be used nor moved aside. The gateway
    starts without it (degraded, alarms in memory) rather than crash-looping; the file is left as it was."""
    state = card.path / "state"
    cfg = make_config(state, broker.url, health=HEALTH)
    async with Gateway(cfg):
        pass  # a gateway ran here: the registry knows the simulated devices
    db = state / "outbox.sqlite3"
    garbage = b"\x13\x37 not what it should be " * 200
    db.write_bytes(garbage)
    os.sync()
    card.fail()
    async with Collector(broker.host, broker.port, client_id="platform-corrupt-ro") as col, Gateway(cfg) as gw:
        assert gw.outbox.storage_fault == "read_only"
        await gw.drivers["sim"].inject("cord-1", "press", True, trace="pull-cord")
        await col.wait_for(lambda c: "pull-cord" in c.traces() and bool(of_kind(c, DEGRADED)), timeout=10)
        pull = next(ev for ev in col.events if ev.get("trace") == "pull-cord")
        assert pull["kind"] == "alarm.emergency_call"
    assert db.read_bytes() == garbage


async def test_vitals_keep_coming_through_a_read_only_spell(
    card: BreakableDisk, broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    """The simulated mattress's vital signs are telemetry, refused while the card is read-only: the sim driver
    counts and logs that (once a minute at most) and keeps reporting, so they flow again after the repair."""
    drivers = {"sim": {"enabled": True, "devices": SIM_HOME, "vitals_every_s": 0.1}}
    cfg = make_config(card.path / "state", broker.url, health=HEALTH, drivers=drivers)
    caplog.set_level(logging.WARNING, logger="drivers.sim.driver")
    async with Collector(broker.host, broker.port, client_id="platform-vitals") as col, Gateway(cfg) as gw:
        sim = gw.drivers["sim"]
        await col.wait_for(lambda c: "telemetry.vitals" in c.kinds())
        card.fail()
        await sim.inject("cord-1", "press", True, trace="pull-cord")  # degrades the outbox at once
        await until(lambda: sim.health().counters.get("vitals_not_stored", 0) >= 5, "vitals refused 5 times")
        assert len([r for r in caplog.records if "vital signs of bed-1 not stored" in r.getMessage()]) == 1
        card.repair()
        await until(lambda: gw.outbox.storage_fault is None, "the gateway did not start writing again by itself")
        before = len(of_kind(col, "telemetry.vitals"))
        await col.wait_for(lambda c: len(of_kind(c, "telemetry.vitals")) >= before + 3, timeout=10)
