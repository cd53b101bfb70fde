"""Gateway RSS before and after a burst of hostile messages on every inbound topic (see docs/remote.md, limits).

Used by ``python -m bench`` (``--only burst``, ``--burst N`` messages per topic). The burst is the same one
``gateway.tools.flood`` sends; the figure is the gateway's RSS once every message has been taken in.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

import aiohttp

from gateway.tools.flood import INBOUND, flood
from gateway.tools.local_broker import Mosquitto


class Running(Protocol):
    url: str

    def rss_mb(self) -> float: ...


async def _lanes(http: aiohttp.ClientSession, gw: Running) -> dict[str, dict[str, int]]:
    async with http.get(gw.url + "/api/status") as resp:
        return (await resp.json())["uplink"]["inbound"]  # type: ignore[no-any-return]


async def _taken_in(http: aiohttp.ClientSession, gw: Running, per_topic: int, within: float = 600) -> None:
    deadline = time.monotonic() + within
    last: Any = None
    while True:
        lanes = await _lanes(http, gw)
        if all(lanes[t]["received"] >= per_topic for t in INBOUND) and lanes == last:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"burst not taken in within {within} s: {lanes}")
        last = lanes
        await asyncio.sleep(0.5)


async def bench_inbound_burst(gw: Running, broker: Mosquitto, gateway_id: str, n: int) -> dict[str, Any]:
    """RSS of the running gateway ``gw`` before, at the peak of and after ``n`` hostile messages per topic."""
    async with aiohttp.ClientSession() as http:
        warmup = 1000
        await asyncio.to_thread(flood, broker.host, broker.port, gateway_id, warmup, qos=1)
        await _taken_in(http, gw, warmup)
        before = gw.rss_mb()
        peak = [before]

        async def sample() -> None:
            while True:
                peak[0] = max(peak[0], gw.rss_mb())
                await asyncio.sleep(0.05)

        sampler = asyncio.create_task(sample())
        t0 = time.perf_counter()
        sent = await asyncio.to_thread(flood, broker.host, broker.port, gateway_id, n, qos=0, seed=5)
        await _taken_in(http, gw, warmup + n)
        took = time.perf_counter() - t0
        sampler.cancel()
        lanes = await _lanes(http, gw)
    return {
        "per_topic": n,
        "messages": int(sent["messages"]),
        "mb": sent["bytes"] / 2**20,
        "seconds": took,
        "rss_before_mb": before,
        "rss_peak_mb": peak[0],
        "rss_after_mb": gw.rss_mb(),
        "dropped": sum(v["queue_full"] + v["rate_limited"] + v["too_large"] for v in lanes.values()),
        "handled": sum(v["handled"] for v in lanes.values()),
    }


def report(b: dict[str, Any]) -> str:
    return (
        f"inbound burst ({b['per_topic']:,} hostile messages on each of {len(INBOUND)} topics, {b['mb']:.0f} MB): "
        f"gateway RSS before {b['rss_before_mb']:.1f} MB, peak {b['rss_peak_mb']:.1f} MB, "
        f"after {b['rss_after_mb']:.1f} MB; taken in within {b['seconds']:.1f} s, {b['handled']:,} handled, "
        f"{b['dropped']:,} dropped   [target: after - before < 10 MB]"
    )
