"""Soak: a real ``fbgw run`` serving the simulated home at ten times a real home's rate for a long time, with a
broker outage every few minutes, while its resources are sampled.

    .venv/bin/python -m bench.soak [--minutes 60] [--rate-x 10] [--outage-every 300] [--outage-s 30]
                                   [--report build/soak/report.json]

Why: a leak (memory, file descriptors, asyncio tasks, an outbox or WAL that never shrinks back) shows only over
hours and across many reconnects; a one-minute test cannot see it. Every reading goes through the loopback sim
API; every event the gateway answers 200 for must reach a platform subscriber (persistent session) by the end, and
``seq`` must have no gaps. Outages alternate between a stopped broker (connection refused) and a frozen one
(SIGSTOP: sockets open, nothing answers, found by the PUBACK timeout / keepalive).

Resources are sampled every ``--sample-s``: RSS, open file descriptors, threads, asyncio tasks and the memory
blocks Python has allocated (``tasks`` and ``py_blocks`` in ``GET /api/status``: live objects, which allocator
fragmentation does not move, so a leak of objects and a heap that merely settles can be told apart), the outbox's
SQLite file and WAL sizes, outbox rows. After a warm-up the report gives each
series' least-squares slope per hour (whole run and second half) and compares the last third of the run with the
middle third (the first is where caches and the WAL fill up to their bound); a series is "flat" when the last
third's peak is within the tolerance of the middle third's (outages make the series saw-toothed, so peaks, not
single samples, are compared). The JSON report keeps every sample.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import random
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from gateway.tools.local_broker import Mosquitto
from tests.support.collector import Collector
from tests.support.gateway import GatewayProcess, config_dict, write_toml

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REPORT = REPO / "build" / "soak" / "report.json"

#: Readings per hour in a real home (one elder, the simulated home's nine devices), awake hours: mattress vitals
#: every 30 s, motion about once a minute, the door a few times an hour, getting in and out of bed, and calls for
#: help rarely. The soak multiplies these by ``--rate-x``.
REAL_HOME_PER_HOUR: list[tuple[str, str, float]] = [
    ("bed-1", "heart_rate", 120),
    ("bed-1", "breath_rate", 120),
    ("pir-1", "motion", 60),
    ("door-1", "contact", 8),
    ("bed-1", "in_bed", 4),
    ("btn-1", "press", 0.5),
    ("btn-2", "press", 0.5),
    ("cord-1", "press", 0.5),
]

#: Flatness tolerance per series: (relative, absolute). Last-third peak <= first-third peak * (1 + rel) + abs.
TOLERANCE: dict[str, tuple[float, float]] = {
    "rss_mb": (0.05, 2.0),
    "fds": (0.0, 2.0),
    "threads": (0.0, 2.0),
    "tasks": (0.0, 3.0),
    "py_blocks": (0.01, 2000.0),
    "db_kb": (0.10, 64.0),
    "wal_kb": (0.10, 64.0),
}


@dataclass
class Tally:
    posted: int = 0
    accepted: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    event_ids: set[str] = field(default_factory=set)
    alarms: int = 0


class Home:
    """Posts readings as a Poisson process at ``rate_x`` times :data:`REAL_HOME_PER_HOUR`."""

    def __init__(self, url: str, rate_x: float, rng: random.Random) -> None:
        self.url = url
        self.rng = rng
        self.kinds = REAL_HOME_PER_HOUR
        self.weights = [r * rate_x for _, _, r in self.kinds]
        self.per_s = sum(self.weights) / 3600
        self.tally = Tally()
        self._door_open = False
        self._in_bed = True
        self._n = 0

    def _value(self, capability: str) -> Any:
        if capability == "heart_rate":
            return self.rng.randint(55, 95)
        if capability == "breath_rate":
            return self.rng.randint(12, 22)
        if capability == "contact":
            self._door_open = not self._door_open
            return "open" if self._door_open else "closed"
        if capability == "in_bed":
            self._in_bed = not self._in_bed
            return self._in_bed
        return True

    async def run(self, http: aiohttp.ClientSession, until: float) -> None:
        while time.monotonic() < until:
            await asyncio.sleep(self.rng.expovariate(self.per_s))
            device, capability, _ = self.rng.choices(self.kinds, self.weights)[0]
            self._n += 1
            reading = {"device": device, "capability": capability, "value": self._value(capability)}
            reading["trace"] = f"soak-{self._n}"
            self.tally.posted += 1
            try:
                async with http.post(self.url + "/api/sim/readings", json=reading) as resp:
                    body = await resp.json(content_type=None)
                    status = str(resp.status)
            except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
                status, body = type(exc).__name__, None
            if status == "200" and isinstance(body, dict):
                self.tally.accepted += 1
                self.tally.event_ids.update(e["id"] for e in body["events"])
                self.tally.alarms += sum(1 for e in body["events"] if e["kind"].startswith("alarm."))
            else:
                self.tally.refused[status] = self.tally.refused.get(status, 0) + 1


class Outages:
    """Every ``every`` seconds, ``length`` seconds without the broker: stopped, then frozen, alternately."""

    def __init__(self, broker: Mosquitto, every: float, length: float) -> None:
        self.broker, self.every, self.length = broker, every, length
        self.log: list[dict[str, Any]] = []

    async def run(self, t0: float, until: float) -> None:
        n = 0
        while True:
            n += 1
            start = t0 + n * self.every
            if start + self.length > until:
                return
            await asyncio.sleep(max(0.0, start - time.monotonic()))
            kind = "stopped" if n % 2 else "frozen"
            if kind == "stopped":
                await asyncio.to_thread(self.broker.stop)
            else:
                self.broker.pause()
            try:
                await asyncio.sleep(self.length)
            finally:
                if kind == "stopped":
                    await asyncio.to_thread(self.broker.start)
                else:
                    self.broker.resume()
            self.log.append({"at_s": round(start - t0, 1), "kind": kind, "length_s": self.length})


def _file_kb(path: Path) -> float:
    try:
        return path.stat().st_size / 1024
    except FileNotFoundError:
        return 0.0


async def sample(http: aiohttp.ClientSession, url: str, proc: psutil.Process, state: Path, t0: float) -> dict[str, Any]:
    async with http.get(url + "/api/status") as resp:
        status = await resp.json()
    with proc.oneshot():
        rss = proc.memory_info().rss / 2**20
        fds = proc.num_fds()
        threads = proc.num_threads()
    db = state / "outbox.sqlite3"
    return {
        "t_s": round(time.monotonic() - t0, 1),
        "rss_mb": round(rss, 2),
        "fds": fds,
        "threads": threads,
        "tasks": status.get("tasks"),
        "py_blocks": status.get("py_blocks"),
        "db_kb": round(_file_kb(db), 1),
        "wal_kb": round(_file_kb(db.with_name(db.name + "-wal")), 1),
        "outbox_rows": status["outbox"]["rows"],
        "uplink": status["uplink"]["state"],
    }


def analyse(samples: list[dict[str, Any]], warmup_s: float) -> dict[str, Any]:
    """Slope per hour (all of the run after the warm-up, and its second half) and a peak comparison of the middle
    and last thirds for every resource series. The first third is left out of the comparison because caches and
    the WAL fill there up to their bound (at 10x a real home the WAL reaches its checkpoint size after ~20 min);
    a leak keeps growing into the last third."""
    steady = [s for s in samples if s["t_s"] >= warmup_s]
    out: dict[str, Any] = {}
    if len(steady) < 6:
        return {"error": f"only {len(steady)} samples after the warm-up"}
    for key, (rel, absolute) in TOLERANCE.items():
        pts = [(s["t_s"] / 3600, float(s[key])) for s in steady if s.get(key) is not None]
        if len(pts) < 6:
            continue
        xs, ys = zip(*pts, strict=True)
        third, half = len(ys) // 3, len(ys) // 2

        def slope(a: tuple[float, ...], b: tuple[float, ...]) -> float:
            return statistics.linear_regression(a, b).slope if len(set(a)) > 1 else 0.0

        middle, last = max(ys[third:-third]), max(ys[-third:])
        out[key] = {
            "slope_per_h": round(slope(xs, ys), 3),
            "late_slope_per_h": round(slope(xs[half:], ys[half:]), 3),
            "min": min(ys),
            "max": max(ys),
            "first_third_peak": max(ys[:third]),
            "middle_third_peak": middle,
            "last_third_peak": last,
            "flat": last <= middle * (1 + rel) + absolute,
        }
    return out


async def soak(
    minutes: float,
    rate_x: float,
    outage_every: float,
    outage_s: float,
    sample_s: float,
    seed: int,
    work: Path,
) -> dict[str, Any]:
    rng = random.Random(seed)
    broker = Mosquitto()
    broker.start()
    state = work / "state"
    cfg = write_toml(
        work / "gw.toml",
        config_dict(state, broker.url, gateway_id="soak", uplink={"keepalive_s": 10, "puback_timeout_s": 5}),
    )
    gw = GatewayProcess(cfg, work / "gw.log")
    duration = minutes * 60
    try:
        await asyncio.to_thread(gw.start)
        assert gw.proc is not None
        proc = psutil.Process(gw.proc.pid)
        timeout = aiohttp.ClientTimeout(total=15)
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            Collector(broker.host, broker.port, gateway="soak", client_id=f"soak-platform-{seed}") as platform,
        ):
            home = Home(gw.base_url, rate_x, rng)
            outages = Outages(broker, outage_every, outage_s)
            samples: list[dict[str, Any]] = []
            t0 = time.monotonic()
            until = t0 + duration

            async def sampler() -> None:
                while time.monotonic() < until:
                    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                        samples.append(await sample(http, gw.base_url, proc, state, t0))
                    await asyncio.sleep(sample_s)

            await asyncio.gather(home.run(http, until), outages.run(t0, until), sampler())
            # Heal: everything committed must reach the platform, then the outbox must be empty.
            drained_in: float | None = None
            t_end = time.monotonic()
            try:
                await platform.wait_for(lambda c: home.tally.event_ids <= {e["id"] for e in c.events}, timeout=180)
                drained_in = time.monotonic() - t_end
            except TimeoutError:
                pass
            final = await sample(http, gw.base_url, proc, state, t0)
            seqs = sorted({e["seq"] for e in platform.events})
            received = {e["id"] for e in platform.events}
        exit_code = await asyncio.to_thread(gw.terminate, 30)
    finally:
        if gw.alive():
            gw.kill9()
        broker.close()
    gaps = [(a, b) for a, b in itertools.pairwise(seqs) if b != a + 1]
    resources = analyse(samples, warmup_s=min(120.0, duration * 0.2))
    lost = sorted(home.tally.event_ids - received)
    report = {
        "minutes": minutes,
        "rate_x": rate_x,
        "readings_per_s": round(home.per_s, 3),
        "seed": seed,
        "readings_posted": home.tally.posted,
        "readings_accepted": home.tally.accepted,
        "refused": home.tally.refused,
        "events_committed": len(home.tally.event_ids),
        "alarms_committed": home.tally.alarms,
        "events_received": len(received),
        "lost": len(lost),
        "lost_ids": lost[:20],
        "seq_first_last": [seqs[0], seqs[-1]] if seqs else None,
        "seq_gaps": gaps[:20],
        "drained_after_s": None if drained_in is None else round(drained_in, 1),
        "final": final,
        "exit_code": exit_code,
        "outages": outages.log,
        "resources": resources,
        "samples": samples,
    }
    flat = "error" not in resources and all(r["flat"] for r in resources.values())
    report["ok"] = bool(not lost and not gaps and drained_in is not None and flat and exit_code == 0)
    return report


def summary(report: dict[str, Any]) -> str:
    """A few lines for the console and for ``bench``."""
    lines = [
        f"soak {report['minutes']:g} min at {report['rate_x']:g}x a real home ({report['readings_per_s']} readings/s), "
        f"{len(report['outages'])} broker outages: {report['readings_accepted']} readings accepted, "
        f"{report['events_committed']} events committed ({report['alarms_committed']} alarms), "
        f"{report['lost']} lost, {len(report['seq_gaps'])} seq gaps, drained {report['drained_after_s']} s after "
        f"the end, exit {report['exit_code']}",
    ]
    res = report["resources"]
    if "error" in res:
        lines.append(f"  resources: {res['error']}")
    for key, r in res.items():
        if key == "error":
            continue
        lines.append(
            f"  {key:7} {r['min']:>9.1f} .. {r['max']:<9.1f} slope {r['slope_per_h']:+9.2f}/h, second half "
            f"{r['late_slope_per_h']:+9.2f}/h   peak by third {r['first_third_peak']:.1f} / "
            f"{r['middle_third_peak']:.1f} / {r['last_third_peak']:.1f}   "
            f"{'flat' if r['flat'] else 'GROWING'}"
        )
    lines.append(f"  verdict: {'OK' if report['ok'] else 'FAIL'}")
    return "\n".join(lines)


async def for_bench(report_path: Path = DEFAULT_REPORT, minutes: float = 2.0) -> str:
    """What ``python -m bench --soak`` prints: the last soak's report if there is one (``scripts/soak``),
    else a short soak run now (outages every 40 s, so a few fit)."""
    if report_path.exists():
        report = json.loads(report_path.read_text())
        report["resources"] = analyse(report["samples"], warmup_s=min(120.0, report["minutes"] * 60 * 0.2))
        age_h = (time.time() - report_path.stat().st_mtime) / 3600
        return f"{summary(report)}\n  (from {report_path}, {age_h:.1f} h old; ./scripts/soak runs a new one)"
    with tempfile.TemporaryDirectory(prefix="fbgw-soak-") as tmp:
        report = await soak(minutes, 10.0, 40.0, 10.0, 2.0, 1, Path(tmp))
    return f"{summary(report)}\n  (a {minutes:g}-minute soak; ./scripts/soak runs the hour)"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--rate-x", type=float, default=10.0, help="times a real home's reading rate")
    parser.add_argument("--outage-every", type=float, default=300.0, help="seconds between broker outages")
    parser.add_argument("--outage-s", type=float, default=30.0, help="length of each outage")
    parser.add_argument("--sample-s", type=float, default=10.0, help="seconds between resource samples")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT)
    args = parser.parse_args(argv)
    for name in ("aiomqtt", "mqtt"):  # the platform subscriber's reconnects during outages are expected
        logging.getLogger(name).setLevel(logging.CRITICAL)
    signal.signal(signal.SIGTERM, _interrupt)  # a stopped soak still stops its gateway and broker
    with tempfile.TemporaryDirectory(prefix="fbgw-soak-") as tmp:
        report = asyncio.run(
            soak(args.minutes, args.rate_x, args.outage_every, args.outage_s, args.sample_s, args.seed, Path(tmp))
        )
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=1) + "\n")
    print(summary(report))
    print(f"  report: {args.report}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
