"""Gateway RSS with every radio driver enabled and the Zigbee device library (zha-quirks) loaded."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from bench.support import REPO, GatewayUnderTest
from gateway.tools.local_broker import Mosquitto


async def bench_device_library_rss(work: Path) -> dict[str, Any]:
    """Gateway RSS with every radio driver enabled: Zigbee up on the simulated stick (so the device library is
    loaded), BLE enabled (its adapter may be absent: the driver and bleak are loaded either way), the sim home."""
    sim = subprocess.Popen(
        [sys.executable, "-m", "sims.znp", "--link", str(work / "ttyZNP"), "--no-stdin"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    broker = Mosquitto()
    gw: GatewayUnderTest | None = None
    try:
        assert sim.stdout is not None
        while (line := await asyncio.to_thread(sim.stdout.readline)) and line.strip() != "READY":
            pass
        broker.start()
        extra = f'[drivers.zigbee]\nenabled = true\nport = "{work / "ttyZNP"}"\n[drivers.ble]\nenabled = true\n'
        gw = GatewayUnderTest(work, broker.url, commissioned=True, extra=extra)
        async with aiohttp.ClientSession() as http:
            await gw.wait_up(http)
            for _ in range(600):  # zigpy forms the network and imports the device library
                async with http.get(gw.url + "/api/status") as resp:
                    drivers = {d["transport"]: d["state"] for d in (await resp.json())["drivers"]}
                if drivers.get("zigbee") == "up":
                    break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"zigbee driver never came up: {drivers}")
            await asyncio.sleep(2.0)  # settle
            return {"rss_all_drivers_mb": gw.rss_mb(), "drivers": drivers}
    finally:
        if gw is not None:
            gw.stop()
        broker.stop()
        sim.terminate()
        sim.wait(20)


def report(r: dict[str, Any]) -> list[str]:
    return [
        f"gateway RSS with every radio driver enabled and the Zigbee device library: {r['rss_all_drivers_mb']:.1f} MB"
    ]
