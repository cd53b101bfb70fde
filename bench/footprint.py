"""Memory with every driver enabled (RSS; and USS, PSS: what of it is the process's own), and start-up time
(process start -> first reading accepted).

Every driver runs against its simulator, as on the simulated HIL rig (:mod:`hil_tests.harness`): Zigbee
(zigpy-znp on the ZNP coordinator simulator over a pty), BLE (bleak on the mocked BlueZ), GPIO (the fake lines),
and the simulated home. Start-up is timed from ``Popen`` to the first ``POST /api/sim/readings`` answered 200
(the reading committed), polled every 5 ms; it is taken several times (warm page cache, as after a restart by
systemd) and the median reported. ``python -c pass`` and ``import gateway.app`` are timed alongside.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from bench.support import REPO, GatewayUnderTest
from gateway.tools.local_broker import Mosquitto

RIG = REPO / "hil_tests" / "rigs" / "simulated.toml"


def _python_s(code: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _modules(code: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", code + "; import sys; print(len(sys.modules))"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip())


async def _first_reading(url: str, device: str, deadline_s: float = 30.0) -> float:
    """Poll until a reading is accepted; returns time.perf_counter() of the 200."""
    end = time.perf_counter() + deadline_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while time.perf_counter() < end:
            try:
                async with http.post(
                    url + "/api/sim/readings", json={"device": device, "capability": "motion", "value": True}
                ) as resp:
                    await resp.read()
                    if resp.status == 200:
                        return time.perf_counter()
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.005)
    raise TimeoutError("no reading accepted")


async def _drivers_up(url: str, want: set[str], timeout: float = 30.0) -> dict[str, str]:
    async with aiohttp.ClientSession() as http:
        end = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < end:
            async with http.get(url + "/api/status") as resp:
                status = await resp.json()
            states = {d["transport"]: d["state"] for d in status["drivers"]}
            if all(states.get(t) == "up" for t in want):
                return states
            await asyncio.sleep(0.1)
        return states


async def _sim_only_startup(work: Path, starts: int) -> tuple[list[float], float]:
    """Start-ups of a gateway with only the simulated home (no radio stack to import); and its RSS."""
    broker = Mosquitto()
    broker.start()
    times: list[float] = []
    rss = 0.0
    try:
        for i in range(starts):
            gw = GatewayUnderTest(work, broker.url, commissioned=True)
            try:
                t1 = await _first_reading(gw.url, "pir-1")
                times.append(t1 - gw.started_at)
                if i == starts - 1:
                    await asyncio.sleep(2.0)
                    rss = gw.rss_mb()
            finally:
                gw.stop()
    finally:
        broker.close()
    return times, rss


async def bench_footprint(work: Path, starts: int = 5) -> dict[str, Any]:
    from hil_tests.harness import RigRunner
    from hil_tests.rig import load_rig

    rig = RigRunner(load_rig(RIG))
    try:
        await asyncio.to_thread(rig.start)
        gw = rig.gateway
        assert gw is not None and gw.proc is not None
        states = await _drivers_up(gw.url, {"sim", "zigbee", "ble", "gpio"})
        await asyncio.sleep(2.0)
        mem = psutil.Process(gw.proc.pid).memory_full_info()
        rss_all, pss_all, uss_all = mem.rss / 2**20, mem.pss / 2**20, mem.uss / 2**20
        times = []
        for _ in range(starts):
            await asyncio.to_thread(gw.stop)
            t0 = time.perf_counter()
            starter = asyncio.create_task(asyncio.to_thread(gw.start))
            t1 = await _first_reading(gw.url, "sim-motion")
            await starter
            times.append(t1 - t0)
        await _drivers_up(gw.url, {"sim", "zigbee", "ble", "gpio"})
        await asyncio.sleep(2.0)
        rss_after_restart = psutil.Process(gw.proc.pid).memory_info().rss / 2**20
    finally:
        await asyncio.to_thread(rig.close)
        rig.remove_work()
    sim_times, sim_rss = await _sim_only_startup(work / "sim-only", starts)
    return {
        "startup_sim_only_s": statistics.median(sim_times),
        "rss_sim_only_mb": sim_rss,
        "drivers": states,
        "rss_all_drivers_mb": rss_all,
        "pss_all_drivers_mb": pss_all,
        "uss_all_drivers_mb": uss_all,
        "rss_all_drivers_restarted_mb": rss_after_restart,
        "startup_s": statistics.median(times),
        "startup_all_s": times,
        "python_bare_s": _python_s("pass"),
        "import_app_s": _python_s("import gateway.app"),
        "modules_app": _modules("import gateway.app"),
    }


def report(f: dict[str, Any]) -> list[str]:
    drivers = ", ".join(f"{k} {v}" for k, v in sorted(f["drivers"].items()))
    return [
        f"gateway RSS with every driver enabled ({drivers}): {f['rss_all_drivers_mb']:.1f} MB at first start, "
        f"{f['rss_all_drivers_restarted_mb']:.1f} MB after a restart   [target <= 80 MB]",
        f"  of it at first start: {f['uss_all_drivers_mb']:.1f} MB the process's own (USS), "
        f"{f['pss_all_drivers_mb']:.1f} MB with its share of libraries mapped by others too (PSS)",
        f"start-up, process start -> first reading accepted (all drivers, median of {len(f['startup_all_s'])}): "
        f"{f['startup_s']:.2f} s   [target <= 1 s]  (runs: " + ", ".join(f"{t:.2f}" for t in f["startup_all_s"]) + ")",
        f"  with only the simulated home (no radio stack): start-up {f['startup_sim_only_s']:.2f} s (median of "
        f"{len(f['startup_all_s'])}), RSS {f['rss_sim_only_mb']:.1f} MB",
        f"  a bare `python -c pass` {f['python_bare_s']:.2f} s, `import gateway.app` "
        f"{f['import_app_s']:.2f} s ({f['modules_app']} modules)",
    ]
