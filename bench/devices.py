"""Gateway RSS with every radio driver enabled and the whole Zigbee device library (zha-quirks) loaded.

The library loads a vendor's quirks only once a device of it is paired (:mod:`drivers.zigbee.quirks`), so the
gateway starts with one paired device of every supported family in its registry: the worst case for memory.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from bench.support import REPO, GatewayUnderTest
from core.devices import Device
from drivers.zigbee.quirks import FAMILIES
from gateway.registry import DeviceRegistry
from gateway.tools.local_broker import Mosquitto


async def bench_device_library_rss(work: Path) -> dict[str, Any]:
    """Gateway RSS with every radio driver enabled: Zigbee up on the simulated stick with a device of every
    supported family paired (so the whole device library is loaded), BLE enabled (its adapter may be absent: the
    driver and bleak are loaded either way), the sim home."""
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
        await _pair_every_family(work / "state" / "devices.json")
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


async def _pair_every_family(path: Path) -> None:
    """One paired Zigbee device per supported family (its manufacturer is what loads that vendor's quirks)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    registry = DeviceRegistry(path)
    registry.open()
    try:
        for i, (family, (prefixes, _)) in enumerate(FAMILIES.items()):
            ieee = f"00:12:4b:00:00:00:00:{i:02x}"
            await registry.upsert(
                Device(
                    id=f"zb-{ieee}",
                    type="smoke",
                    transport="zigbee",
                    name=family,
                    capabilities=["smoke"],
                    address=ieee,
                    params={"manufacturer": prefixes[0], "model": "bench"},
                )
            )
    finally:
        registry.close()


def report(r: dict[str, Any]) -> list[str]:
    return [
        f"gateway RSS with every radio driver enabled and the whole Zigbee device library (a device of every "
        f"supported family paired): {r['rss_all_drivers_mb']:.1f} MB"
    ]
