"""What the benchmarks share: the gateway as a separate process, a platform-side subscriber, percentiles."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import psutil

from gateway.tools.local_broker import Mosquitto, free_port

REPO = Path(__file__).resolve().parents[1]
HOME = [
    {"id": "btn-1", "type": "call_button", "room": "bedroom"},
    {"id": "bed-1", "type": "mattress", "room": "bedroom"},
    {"id": "door-1", "type": "door", "room": "hall"},
    {"id": "pir-1", "type": "motion", "room": "living"},
    {"id": "smoke-1", "type": "smoke", "room": "kitchen"},
]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))
    return values[k]


class GatewayUnderTest:
    """`fbgw run` as a separate process, as in production."""

    def __init__(
        self,
        work: Path,
        broker_url: str,
        commissioned: bool = False,
        log_level: str = "warning",
        extra_toml: str = "",
        extra: str = "",
    ) -> None:
        """``extra_toml``: top-level tables placed before ``[drivers.sim]``; ``extra``: TOML appended after the
        simulated home's devices (more devices, other driver sections)."""
        self.port = free_port()
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        if commissioned:  # a box in service: installed earlier, install window closed, no mDNS
            marker = work / "state" / "web" / "commissioned"
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text("0\n")
        cfg = work / "gw.toml"
        devices = "\n".join(
            f'[[drivers.sim.devices]]\nid = "{d["id"]}"\ntype = "{d["type"]}"\nroom = "{d["room"]}"' for d in HOME
        )
        cfg.write_text(
            f'[gateway]\nid = "bench"\nstate_dir = "{work / "state"}"\n[uplink]\nbroker = "{broker_url}"\n'
            f"backoff_initial_s = 0.1\nbackoff_max_s = 1.0\n[clock]\nassume_synced = true\n"
            f"[outbox]\nmax_rows = 1000000\nmax_bytes = 1073741824\n{extra_toml}\n"
            f"[drivers.sim]\nenabled = true\n{devices}\n{extra}"
        )
        self.log = work / "gw.log"
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway.cli",
                "--log-level",
                log_level,
                "run",
                "--config",
                str(cfg),
                "--http",
                f"127.0.0.1:{self.port}",
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "ab"),
        )
        self.url = f"http://127.0.0.1:{self.port}"

    async def wait_up(self, http: aiohttp.ClientSession) -> None:
        for _ in range(400):
            try:
                async with http.get(self.url + "/api/status") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.025)
        raise RuntimeError("gateway did not start")

    def rss_mb(self) -> float:
        return psutil.Process(self.proc.pid).memory_info().rss / 2**20

    def io(self) -> dict[str, int]:
        """The process's /proc/<pid>/io counters (write_bytes: what it sent towards the block device)."""
        out: dict[str, int] = {}
        for line in Path(f"/proc/{self.proc.pid}/io").read_text().splitlines():
            key, _, value = line.partition(":")
            out[key.strip()] = int(value)
        return out

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


class Subscriber:
    """The platform's side: subscribes to alarms and events, notes when each traced event arrived."""

    def __init__(self, broker: Mosquitto) -> None:
        self.broker = broker
        self.arrivals: dict[str, float] = {}
        self.count = 0
        self.changed = asyncio.Event()
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        async with aiomqtt.Client(self.broker.host, self.broker.port, max_queued_incoming_messages=0) as client:
            await client.subscribe("fbgw/v1/+/alarms", qos=1)
            await client.subscribe("fbgw/v1/+/events", qos=1)
            await client.subscribe("raw/#", qos=1)
            self.ready.set()
            async for msg in client.messages:
                now = time.perf_counter()
                payload = msg.payload if isinstance(msg.payload, bytes) else b""
                if str(msg.topic).startswith("raw/"):
                    self.count += 1
                    continue
                for ev in json.loads(payload):
                    self.count += 1
                    if ev.get("trace"):
                        self.arrivals[ev["trace"]] = now
                self.changed.set()

    async def __aenter__(self) -> Subscriber:
        self.task = asyncio.create_task(self.run())
        await asyncio.wait_for(self.ready.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task
        self.task.cancel()

    async def wait_trace(self, trace: str, timeout: float = 10.0) -> float:
        deadline = time.monotonic() + timeout
        while trace not in self.arrivals:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), max(0.001, deadline - time.monotonic()))
        return self.arrivals[trace]

    async def wait_count(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.count < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.count}/{n} arrived")
            await asyncio.sleep(0.05)


async def post(http: aiohttp.ClientSession, url: str, body: Any) -> None:
    async with http.post(url + "/api/sim/readings", json=body) as resp:
        data = await resp.read()  # read to the end, so the connection is kept for the next one
        assert resp.status == 200, data
