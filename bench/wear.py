"""SD-card wear: bytes the gateway writes towards the storage per event, and per year for a typical home.

Measured from ``/proc/<pid>/io`` ``write_bytes`` of the gateway process (what it sends towards the block device:
the outbox's WAL, its checkpoints into the database file, the rule state file, the registry...; the filesystem's
own journal comes on top) while a sparse home's readings arrive one at a time, far enough apart that each event
has its own commit, its own delivery and its own delete, as in a real home where events are minutes apart. The
idle rate (heartbeats, housekeeping) is measured first and taken off. Log lines are counted separately (journald
writes them, not the gateway), at the production level ``info``.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.support import GatewayUnderTest, Subscriber, post
from gateway.tools.local_broker import Mosquitto

#: A typical home's events per day (assumptions, stated in the report): three motion sensors (one event per
#: detection, a 60 s blind time), a mattress reporting vitals once a minute for 8 h in bed, ten door
#: changes a day, three times in and out of bed, a battery report per device a day, the heartbeat every 15 min,
#: one alarm a day with its lifecycle steps (sent, acknowledged, resolved).
TYPICAL_DAY: dict[str, int] = {
    "motion": 300,
    "vitals": 480,
    "door": 20,
    "bed": 6,
    "battery": 10,
    "heartbeat": 96,
    "alarm + lifecycle": 4,
}

#: The injected mix (reading templates, weights roughly as in a typical day; heartbeats come by themselves).
_MIX: list[tuple[int, dict[str, Any]]] = [
    (30, {"device": "pir-1", "capability": "motion", "value": True}),
    (48, {"device": "bed-1", "capability": "heart_rate", "value": 68}),
    (2, {"device": "door-1", "capability": "contact", "value": None}),
    (1, {"device": "bed-1", "capability": "in_bed", "value": None}),
    (1, {"device": "pir-1", "capability": "battery", "value": 90}),
    (1, {"device": "btn-1", "capability": "press", "value": True}),
]


async def bench_wear(work: Path, readings: int, gap_s: float = 0.25, idle_s: float = 15.0) -> dict[str, Any]:
    broker = Mosquitto()
    broker.start()
    gw = GatewayUnderTest(work, broker.url, commissioned=True, log_level="info")
    rng = random.Random(17)
    flips: dict[str, list[Any]] = {"contact": ["open", "closed"], "in_bed": [True, False]}
    state = {"contact": 0, "in_bed": 0}
    try:
        async with aiohttp.ClientSession() as http, Subscriber(broker) as sub:
            await gw.wait_up(http)
            await asyncio.sleep(3.0)  # start-up writes (reserve file, first checkpoint) settle
            io0, log0, t0 = gw.io(), gw.log.stat().st_size, time.monotonic()
            await asyncio.sleep(idle_s)
            io1, log1, t1 = gw.io(), gw.log.stat().st_size, time.monotonic()
            idle_rate = (io1["write_bytes"] - io0["write_bytes"]) / (t1 - t0)
            received0 = sub.count
            weights = [w for w, _ in _MIX]
            for _ in range(readings):
                body = dict(rng.choices([m for _, m in _MIX], weights)[0])
                cap = body["capability"]
                if cap in flips:
                    state[cap] += 1
                    body["value"] = flips[cap][state[cap] % 2]
                await post(http, gw.url, body)
                await asyncio.sleep(gap_s)
            await asyncio.sleep(2.0)  # the last deliveries, deletes and the rule state file
            io2, log2, t2 = gw.io(), gw.log.stat().st_size, time.monotonic()
            events = sub.count - received0
    finally:
        gw.stop()
        broker.close()
    written = io2["write_bytes"] - io1["write_bytes"] - idle_rate * (t2 - t1)
    per_event = written / max(events, 1)
    log_per_event = (log2 - log1) / max(events, 1)
    per_day = sum(TYPICAL_DAY.values())
    year_events = per_day * 365
    year_bytes = per_event * year_events + idle_rate * 86400 * 365
    return {
        "readings": readings,
        "events": events,
        "write_bytes_per_event": per_event,
        "wchar_per_event": (io2["wchar"] - io1["wchar"]) / max(events, 1),
        "log_bytes_per_event": log_per_event,
        "idle_write_bytes_per_s": idle_rate,
        "idle_log_bytes_per_s": (log1 - log0) / (t1 - t0),
        "typical_day": TYPICAL_DAY,
        "events_per_year": year_events,
        "write_mb_per_year": year_bytes / 2**20,
        "log_mb_per_year": (log_per_event * year_events + (log1 - log0) / (t1 - t0) * 86400 * 365) / 2**20,
    }


def report(w: dict[str, Any]) -> list[str]:
    day = ", ".join(f"{k} {v}" for k, v in w["typical_day"].items())
    return [
        f"SD wear ({w['events']} events from {w['readings']} sparse readings, each its own commit): "
        f"{w['write_bytes_per_event'] / 1024:.1f} KiB written per event (/proc/pid/io write_bytes; "
        f"write() calls {w['wchar_per_event'] / 1024:.1f} KiB), idle {w['idle_write_bytes_per_s']:.0f} B/s; "
        f"log {w['log_bytes_per_event']:.0f} B per event at level info",
        f"  typical home ({day} = {sum(w['typical_day'].values())} events/day, {w['events_per_year']:,} a year): "
        f"{w['write_mb_per_year']:.0f} MiB written a year by the gateway, plus {w['log_mb_per_year']:.1f} MiB "
        f"of log lines (journald's)",
    ]
