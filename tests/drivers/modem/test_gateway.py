"""The modem driver inside a whole gateway: its health in the status (``fbgw status``, heartbeat) and a SIM fault
reported to the platform as a radio (device) fault, with a real Mosquitto."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from drivers.modem import ModemDriver
from gateway.app import Gateway
from gateway.ports import Cellular
from sims.modem import MockModemProcesses, ModemControl
from tests.drivers.modem.conftest import FAST
from tests.support.broker import Mosquitto
from tests.support.collector import Collector
from tests.support.gateway import make_config

pytestmark = pytest.mark.timeout(60)


async def test_modem_health_in_status_and_sim_fault_reported(
    tmp_path: Path, broker: Mosquitto, mm_procs: MockModemProcesses, mm: ModemControl
) -> None:
    section = {"enabled": True, "bus_address": mm_procs.address, **FAST}
    cfg = make_config(tmp_path / "s", broker.url, drivers={"modem": section})
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        driver = gw.drivers["modem"]
        assert isinstance(driver, ModemDriver)
        assert isinstance(driver, Cellular)  # what gateway.services hands the second path
        for _ in range(100):
            if driver.health().state == "up":
                break
            await asyncio.sleep(0.05)
        status = next(d for d in gw.status()["drivers"] if d["transport"] == "modem")
        assert status["state"] == "up"
        assert "Quectel EC25" in status["detail"] and "home CHINA MOBILE" in status["detail"]
        assert status["counters"]["signal_pct"] == 75

        await mm.set_sim("missing")
        await col.wait_for(lambda c: "gateway.radio_lost" in c.kinds())
        lost = next(ev for ev in col.events if ev["kind"] == "gateway.radio_lost")
        assert lost["data"] == {"transport": "modem", "reason": "SIM card missing"}
        status = next(d for d in gw.status()["drivers"] if d["transport"] == "modem")
        assert status["state"] == "degraded" and "SIM card missing" in status["detail"]

        await mm.set_sim("ok")
        await col.wait_for(lambda c: "gateway.radio_restored" in c.kinds())
