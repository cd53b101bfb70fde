"""The technician's page with a 433 MHz receiver and a 4G modem: the add page offers the 433 MHz transport (codes
learned by pressing) and not the modem (it has no devices); the modem's health is on the status page."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from sims.modem import MockModemProcesses, ModemControl
from sims.rf433 import Rf433Simulator
from tests.support.broker import Mosquitto
from tests.web.conftest import client_for, code_of, hdr, running_gateway, sign_in

pytestmark = pytest.mark.timeout(60)


async def test_add_page_with_rf433_and_modem(tmp_path: Path, broker: Mosquitto) -> None:
    sim = Rf433Simulator(tmp_path / "ttyRF433")
    sim.open()
    drivers = {
        "rf433": {"enabled": True, "port": str(tmp_path / "ttyRF433"), "burst_gap_ms": 300},
        "modem": {"enabled": True, "startup_grace_s": 0},
    }
    try:
        with MockModemProcesses(tmp_path / "mm") as mm:
            drivers["modem"]["bus_address"] = mm.address
            async with running_gateway(tmp_path / "s", broker, drivers=drivers) as gw, client_for(gw) as c:
                csrf = await sign_in(c, code_of(gw))
                html = await (await c.get("/add")).text()
                button = re.search(r'<button[^>]*data-transport="rf433"[^>]*>433 MHz 无线</button>', html)
                assert button and 'data-adopt="1"' in button.group(0) and 'data-keyed="0"' in button.group(0)
                assert 'data-transport="modem"' not in html

                async with asyncio.timeout(10):
                    while True:
                        listed = (await (await c.get("/api/transports")).json())["transports"]
                        transports = {t["name"]: t for t in listed}
                        if transports["modem"]["health"] == "up" and transports["rf433"]["health"] == "up":
                            break
                        await asyncio.sleep(0.05)
                assert not transports["modem"]["adopt"]
                page = await (await c.get("/")).text()  # the status page: the modem among the radios
                assert re.search(r'<li class="ok" data-transport="modem">.*?<b>4G 模块</b>', page), page
                async with ModemControl(mm.address) as ctl:
                    await ctl.set_sim("missing")
                    async with asyncio.timeout(10):
                        while 'data-transport="modem"><span class="mark" aria-hidden="true">✘' not in (
                            page := await (await c.get("/")).text()
                        ):
                            await asyncio.sleep(0.05)
                    assert "没有 SIM 卡，请插入 SIM 卡。" in page
                    await ctl.set_sim("ok")

                resp = await c.post("/api/pairing/rf433/start", json={"seconds": 60}, headers=hdr(csrf))
                assert resp.status == 200
                await sim.burst(0x9A8B71, frames=3, gap_ms=50)
                async with asyncio.timeout(10):
                    while not any(
                        x.get("code") == "9a8b71"
                        for x in (await (await c.get("/api/pairing/rf433")).json())["candidates"]
                    ):
                        await asyncio.sleep(0.05)
                body = {"address": "9a8b71", "type": "call_button", "name": "床头按钮", "room": "bedroom"}
                resp = await c.post("/api/pairing/rf433/adopt", json=body, headers=hdr(csrf))
                answer = await resp.json()
                assert resp.status == 200, answer
                assert answer["device"]["id"] == "rf433-9a8b71" and answer["device"]["name"] == "床头按钮"
    finally:
        sim.unplug()
