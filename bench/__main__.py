"""Run the benchmarks and print the figures.

    .venv/bin/python -m bench [--only latency|drain|ingest|wear|footprint|second_path|burst|devices] [--alarms 500]
                              [--backlog 100000] [--ingest 100000] [--wear-readings 160] [--starts 5]
                              [--sms-trials 20] [--burst 50000] [--json]
    .venv/bin/python -m bench --netfaults --soak   # network faults (root) and the soak, instead

Figures: alarm latency (HTTP inject -> MQTT subscriber) p50/p99 and its ratio to the floor of the path measured
in the same run (bare loopback HTTP POST + bare SQLite WAL FULL commit + bare QoS 1 publish, see
:mod:`bench.floor`); backlog drain rate against a raw aiomqtt QoS 1 loop (one event per message, same broker,
same run); durable ingest events/s; gateway RSS with the backlog; bytes written to the card per event and per
year (:mod:`bench.wear`); RSS with every driver enabled and start-up time (:mod:`bench.footprint`); the second
path with the broker stopped (press -> every contact's SMS at the mocked ModemManager, :mod:`bench.second_path`);
RSS before and after a burst of hostile messages on every inbound topic (:mod:`bench.inbound_burst`); RSS with
every radio driver and the Zigbee device library (:mod:`bench.devices`).
The machine is shared and noisy: compare ratios from the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt

from bench import devices, footprint, latency, second_path, wear
from bench.inbound_burst import bench_inbound_burst
from bench.inbound_burst import report as burst_report
from bench.support import GatewayUnderTest, Subscriber
from core.clock import Clock
from core.events import EventDraft, Priority, make_event
from gateway.config import OutboxSection
from gateway.outbox import Outbox
from gateway.tools.local_broker import Mosquitto

PARTS = ["latency", "drain", "ingest", "wear", "footprint", "second_path", "burst", "devices"]


async def bench_drain(work: Path, n: int) -> dict[str, Any]:
    broker = Mosquitto(persistence=False)
    port = broker.port
    gw = GatewayUnderTest(work, broker.url, commissioned=True)  # broker not started: all goes to the backlog
    try:
        async with aiohttp.ClientSession() as http:
            await gw.wait_up(http)
            rss_before = gw.rss_mb()
            t0 = time.perf_counter()
            batch = [{"device": "bed-1", "capability": "heart_rate", "value": 70}] * 500
            rss_half = 0.0
            for i in range(n // len(batch)):
                async with http.post(gw.url + "/api/sim/readings", json=batch) as resp:
                    body = await resp.read()
                    assert resp.status == 200, body
                if i == n // len(batch) // 2:
                    rss_half = gw.rss_mb()
            fill_s = time.perf_counter() - t0
            rss_backlog = gw.rss_mb()
            broker.start()
            async with Subscriber(broker) as sub:
                t0 = time.perf_counter()
                await sub.wait_count(n, timeout=600)
                gw_s = time.perf_counter() - t0
                rss_drain = gw.rss_mb()
            gw.stop()
            # The raw ceiling: the same events, one per QoS 1 message, same in-flight window, same broker.
            body = json.dumps({"kind": "telemetry.vitals", "data": {"heart_rate": 70}, "pad": "x" * 300}).encode()
            async with (
                Subscriber(broker) as sub,
                aiomqtt.Client("127.0.0.1", port, max_inflight_messages=48) as raw,
            ):
                window = asyncio.Semaphore(48)

                async def one() -> None:
                    try:
                        await raw.publish("raw/bench", body, qos=1)
                    finally:
                        window.release()

                t0 = time.perf_counter()
                tasks = []
                for _ in range(n):
                    await window.acquire()
                    tasks.append(asyncio.create_task(one()))
                await asyncio.gather(*tasks)
                await sub.wait_count(n, timeout=600)
                raw_s = time.perf_counter() - t0
        return {
            "events": n,
            "fill_s": fill_s,
            "ingest_http_events_per_s": n / fill_s,
            "gateway_drain_events_per_s": n / gw_s,
            "raw_qos1_events_per_s": n / raw_s,
            "drain_ratio": raw_s / gw_s,
            "rss_idle_mb": rss_before,
            "rss_half_backlog_mb": rss_half,
            "rss_backlog_mb": rss_backlog,
            "rss_draining_mb": rss_drain,
        }
    finally:
        if gw.proc.poll() is None:
            gw.stop()
        broker.close()


async def bench_ingest(work: Path, n: int, producers: int = 200) -> dict[str, Any]:
    """Durable commits per second with many concurrent producers (group commit), one event per put."""
    clock = Clock(assume_synced=True)
    async with Outbox(work / "ingest.sqlite3", OutboxSection(max_rows=10_000_000, max_bytes=2**31)) as ob:
        per = n // producers

        async def producer() -> None:
            for _ in range(per):
                await ob.put(
                    [
                        make_event(
                            EventDraft("telemetry.vitals", Priority.TELEMETRY, None, {"heart_rate": 70}),
                            "bench",
                            clock,
                        )
                    ]
                )

        t0 = time.perf_counter()
        await asyncio.gather(*(producer() for _ in range(producers)))
        dt = time.perf_counter() - t0
        return {
            "events": per * producers,
            "events_per_s": per * producers / dt,
            "commits": ob.stats.commits,
            "events_per_commit": per * producers / ob.stats.commits,
        }


async def bench_burst(work: Path, n: int) -> dict[str, Any]:
    broker = Mosquitto()
    broker.start()
    gw = GatewayUnderTest(work, broker.url, commissioned=True)
    try:
        async with aiohttp.ClientSession() as http:
            await gw.wait_up(http)
        return await bench_inbound_burst(gw, broker, "bench", n)
    finally:
        gw.stop()
        broker.close()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alarms", type=int, default=500)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--ingest", type=int, default=100_000)
    parser.add_argument("--wear-readings", type=int, default=160)
    parser.add_argument("--starts", type=int, default=5, help="start-ups timed for the median")
    parser.add_argument("--sms-trials", type=int, default=20)
    parser.add_argument("--burst", type=int, default=50_000, help="hostile inbound messages per topic")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--only", choices=PARTS, action="append", help="run only these (repeatable)")
    parser.add_argument("--netfaults", action="store_true", help="network-fault scenarios (bench/netfaults.py, root)")
    parser.add_argument("--soak", action="store_true", help="the last soak report, or a 2-minute soak (bench/soak.py)")
    args = parser.parse_args()
    if args.netfaults or args.soak:
        from bench.robustness import robustness  # network faults and soak: modules of their own

        return await robustness(netfaults=args.netfaults, soak=args.soak)
    only = set(args.only or PARTS)
    for name in ("aiomqtt", "mqtt"):  # the raw loop keeps many publishes pending on purpose
        logging.getLogger(name).setLevel(logging.ERROR)
    work = Path(tempfile.mkdtemp(prefix="fbgw-bench-"))
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    try:
        if "latency" in only:
            results["alarm_latency"] = await latency.bench_alarm_latency(work / "a", args.alarms)
        if "drain" in only:
            (work / "d").mkdir()
            results["backlog_drain"] = await bench_drain(work / "d", args.backlog)
        if "ingest" in only:
            results["durable_ingest"] = await bench_ingest(work, args.ingest)
        if "wear" in only:
            results["wear"] = await wear.bench_wear(work / "w", args.wear_readings)
        if "footprint" in only:
            results["footprint"] = await footprint.bench_footprint(work / "f", args.starts)
        if "second_path" in only:
            (work / "s").mkdir()
            results["second_path"] = await second_path.bench_second_path(work / "s", args.sms_trials)
        if "devices" in only:
            (work / "r").mkdir()
            results["device_library"] = await devices.bench_device_library_rss(work / "r")
        if "burst" in only:
            (work / "b").mkdir()
            results["inbound_burst"] = await bench_burst(work / "b", args.burst)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    a, d, i = (results.get(k) for k in ("alarm_latency", "backlog_drain", "durable_ingest"))
    lines: list[str] = []
    if a:
        lines += latency.report(a)
    if d:
        lines.append(
            f"backlog drain ({d['events']} events): gateway {d['gateway_drain_events_per_s']:,.0f} ev/s, "
            f"raw aiomqtt QoS1 one-event-per-message {d['raw_qos1_events_per_s']:,.0f} ev/s, "
            f"ratio {d['drain_ratio']:.2f}x   [target >= 1.2x]"
        )
    if i:
        lines.append(
            f"durable ingest (outbox, {i['events']} events, 200 producers): {i['events_per_s']:,.0f} ev/s, "
            f"{i['events_per_commit']:.0f} events per fsync   [target >= 20k ev/s]"
        )
    if d:
        lines.append(f"ingest through HTTP inject (batches of 500): {d['ingest_http_events_per_s']:,.0f} ev/s")
        lines.append(
            f"gateway RSS in service (install window closed): idle {d['rss_idle_mb']:.1f} MB, "
            f"half backlog {d['rss_half_backlog_mb']:.1f} MB, "
            f"with {d['events']} backlog {d['rss_backlog_mb']:.1f} MB, "
            f"draining {d['rss_draining_mb']:.1f} MB   [target <= 60 MB]"
        )
    if "wear" in results:
        lines += wear.report(results["wear"])
    if "footprint" in results:
        lines += footprint.report(results["footprint"])
    if "second_path" in results:
        lines += second_path.report(results["second_path"])
    if "device_library" in results:
        lines += devices.report(results["device_library"])
    if results.get("inbound_burst"):
        lines.append(burst_report(results["inbound_burst"]))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
