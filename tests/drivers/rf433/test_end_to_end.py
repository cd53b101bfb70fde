"""A whole gateway with the 433 MHz driver on the simulated receiver and a real Mosquitto: a pull cord is paired
by pressing it, and its next press reaches the broker as an emergency call."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from drivers.rf433 import Rf433Driver
from gateway.app import Gateway
from sims.rf433 import Rf433Simulator
from tests.support.broker import Mosquitto
from tests.support.collector import Collector
from tests.support.gateway import make_config

pytestmark = pytest.mark.timeout(60)


async def test_pair_a_433_pull_cord_and_raise_a_call(tmp_path: Path, broker: Mosquitto) -> None:
    sim = Rf433Simulator(tmp_path / "ttyRF433")
    sim.open()
    section = {"enabled": True, "port": str(tmp_path / "ttyRF433"), "burst_gap_ms": 300}
    cfg = make_config(tmp_path / "s", broker.url, drivers={"rf433": section})
    try:
        async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
            driver = gw.drivers["rf433"]
            assert isinstance(driver, Rf433Driver)
            for _ in range(100):
                if driver.health().state == "up":
                    break
                await asyncio.sleep(0.05)
            assert driver.health().state == "up"
            await driver.start_pairing(60)
            await sim.burst(0xC0FFE1, frames=4, gap_ms=50)
            for _ in range(100):
                if "c0ffe1" in [c for c in _candidates(driver)]:
                    break
                await asyncio.sleep(0.05)
            device = await driver.adopt("c0ffe1", {"type": "pull_cord", "name": "浴室拉绳", "room": "bathroom"})
            await driver.stop_pairing()
            await asyncio.sleep(0.4)

            await sim.burst(0xC0FFE1, frames=10, gap_ms=60)
            await col.wait_for(lambda c: "alarm.emergency_call" in c.kinds())
            event = next(ev for ev in col.events if ev["kind"] == "alarm.emergency_call")
            assert event["device"] == {"id": device.id, "type": "pull_cord", "room": "bathroom", "transport": "rf433"}
            await asyncio.sleep(0.5)
            assert col.kinds().count("alarm.emergency_call") == 1  # ten frames, one call
            status = next(d for d in gw.status()["drivers"] if d["transport"] == "rf433")
            assert status["state"] == "up" and status["counters"]["frames_repeated"] >= 9
    finally:
        sim.unplug()


def _candidates(driver: Rf433Driver) -> list[str]:
    return list(driver.candidates())
