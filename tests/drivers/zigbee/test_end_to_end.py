"""End to end: a Heiman-style smoke detector on the simulated coordinator -> real zigbee driver in a real
Gateway -> outbox -> Mosquitto: the platform sees ``alarm.smoke`` on the alarms topic, and its ``identify``
command makes the detector identify."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.app import Gateway
from sims.znp import ZnpSimulator
from sims.znp.devices import SimDevice
from tests.drivers.zigbee.conftest import wait_for
from tests.remote.platform import Platform
from tests.support.broker import Mosquitto
from tests.support.collector import Collector
from tests.support.gateway import make_config

pytestmark = pytest.mark.timeout(90)


@dataclass
class PairedHome:
    sim: ZnpSimulator
    col: Collector
    gw: Gateway
    dev: SimDevice
    device_id: str


@asynccontextmanager
async def paired_smoke_detector(tmp_path: Path, broker: Mosquitto) -> AsyncIterator[PairedHome]:
    """A real Gateway with the zigbee driver on the simulated stick, and a smoke detector paired through it."""
    async with ZnpSimulator(link=tmp_path / "ttyZNP", latency_s=0.002) as sim:
        zigbee = {"enabled": True, "port": sim.path, "reconnect_min_s": 0.2, "availability_check_s": 1.0}
        cfg = make_config(tmp_path / "state", broker.url, drivers={"zigbee": zigbee})
        async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
            driver = gw.drivers["zigbee"]
            await wait_for(lambda: driver.health().state == "up", 30, "zigbee network up")
            await driver.start_pairing(60)
            dev = sim.join("smoke")
            device_id = f"zb-{dev.ieee_hex}"
            await wait_for(lambda: gw.registry.get(device_id) is not None, 20, "smoke detector paired")
            yield PairedHome(sim, col, gw, dev, device_id)


async def test_smoke_alarm_reaches_broker(tmp_path: Path, broker: Mosquitto) -> None:
    async with paired_smoke_detector(tmp_path, broker) as home:
        col, gw, device_id = home.col, home.gw, home.device_id
        home.sim.alarm(home.dev.name)
        await col.wait_for(
            lambda c: any(e["kind"] == "alarm.smoke" and e["device"]["id"] == device_id for e in c.events), 20
        )
        alarm = next(e for e in col.events if e["kind"] == "alarm.smoke")
        topic = next(t for _, t, e in col.arrivals if e is alarm)
        assert topic == f"fbgw/v1/{gw.id}/alarms"
        assert alarm["device"]["transport"] == "zigbee" and alarm["device"]["type"] == "smoke"


async def test_platform_identify_command_reaches_the_detector(tmp_path: Path, broker: Mosquitto) -> None:
    async with paired_smoke_detector(tmp_path, broker) as home:
        dev, device_id = home.dev, home.device_id
        platform = Platform(broker.host, broker.port, home.gw.id, home.col)
        body = platform.command("identify", {"device": device_id})
        await platform.send(body)
        result = await platform.result(body["id"], timeout=20)
        assert (result["status"], result["result"]) == ("ok", {"device": device_id, "transport": "zigbee"})
        assert dev.identify_requests == [15]  # the driver's default identify time reached the device

        home.sim.silence(dev.name)  # out of range now: the platform hears "failed", not "unsupported"
        body = platform.command("identify", {"device": device_id})
        await platform.send(body)
        result = await platform.result(body["id"], timeout=20)
        assert (result["status"], result["reason"]) == ("error", "failed")
        assert dev.identify_requests == [15]
