"""Real network faults between a running gateway and its broker, measured.

    .venv/bin/python -m bench.netfaults [--hole 30] [--only black_hole,lossy,slow,moved] [--json]

Each scenario starts a real ``fbgw run`` inside a network namespace of its own (``sims.netfault.NetnsLink``),
a real Mosquitto on the host (listening on 127.0.0.1 for the platform subscriber and on the veth's far address
for the gateway), and a platform subscriber with a persistent session. The gateway reaches the broker by name
(``broker.fbgw.test``, from the namespace's hosts file). While the fault lasts the home keeps sending readings
and presses a call button; after the heal every event answered 200 must reach the platform, ``seq`` must have no
gaps, and the first of the events held back by the fault to arrive must be an alarm.

- ``black_hole``: the far side of the veth goes down for ``--hole`` seconds with the connection idle: TCP stays
  half-open, no RST, no ICMP. Measured: time to detect (uplink leaves "online"; the MQTT keepalive allows up to
  two keepalive periods: one to send PINGREQ, one to wait for PINGRESP) and heal -> first alarm.
- ``lossy``: a proxy in the path adds 300 ms ± 100 ms each way and, for 5 % of chunks, a 1 s stall (TCP's
  retransmission after a loss, as the application sees it); alarm latency is measured, then a black hole and a
  heal on that bad link.
- ``slow``: the proxy limits the link to ``--rate`` bytes/s each way; a backlog piles up during a black hole and
  an alarm is raised during the heal's drain. Measured: heal -> first alarm, the mid-drain alarm's latency and
  the drain time.
- ``moved``: the broker moves to another address: the old address disappears from the far side (its packets
  now go nowhere), the broker restarts listening on a new one, and the name is pointed there in the hosts file.
  Measured: move -> first alarm.

Needs root (namespaces, veth). Scenario functions return dicts; ``tests/netfaults`` asserts on them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.tools.local_broker import Mosquitto, free_port
from sims.netfault import FaultProxy, Impairment, NetnsLink
from tests.support.collector import Collector
from tests.support.gateway import config_dict, write_toml

REPO = Path(__file__).resolve().parents[1]
BROKER_NAME = "broker.fbgw.test"
GATEWAY_ID = "nf"
#: The keepalive the scenarios run with (the lowest the config allows), so a black hole is noticed quickly.
KEEPALIVE_S = 5


def _http(url: str, body: Any = None, timeout: float = 10.0) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


class NetnsGateway:
    """``fbgw run`` inside the link's namespace; its loopback-only API is reached from a thread in there."""

    def __init__(self, link: NetnsLink, config: Path, log: Path) -> None:
        self.link, self.config, self.log = link, config, log
        self.port = free_port()  # the namespace is new: nothing else listens in there
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    async def call(self, path: str, body: Any = None) -> tuple[int, Any]:
        return await asyncio.wrap_future(self.link.run_inside(lambda: _http(self.url + path, body)))

    async def start(self, timeout: float = 30.0) -> None:
        cmd = [*self.link.exec_prefix(), sys.executable, "-m", "gateway.cli", "run", "--config", str(self.config)]
        self.proc = subprocess.Popen(
            [*cmd, "--http", f"127.0.0.1:{self.port}"],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "ab"),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited {self.proc.returncode}: {self.log.read_text()[-3000:]}")
            status, _ = await self.call("/api/status")
            if status == 200:
                return
            await asyncio.sleep(0.1)
        raise RuntimeError("gateway did not come up")

    async def status(self) -> dict[str, Any]:
        code, body = await self.call("/api/status")
        if code != 200:
            raise RuntimeError(f"/api/status: {code} {body}")
        return dict(body)

    async def uplink_state(self) -> str:
        return str((await self.status())["uplink"]["state"])

    async def wait_uplink(self, online: bool, timeout: float) -> float:
        """Seconds until the uplink is (or is no longer) online; polled every 50 ms."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if (await self.uplink_state() == "online") == online:
                return time.monotonic() - t0
            await asyncio.sleep(0.05)
        raise TimeoutError(f"uplink not {'online' if online else 'offline'} within {timeout}s")

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@dataclass
class Home:
    """Readings posted to the gateway; what it answered 200 for."""

    gw: NetnsGateway
    n: int = 0
    committed: dict[str, dict[str, Any]] = field(default_factory=dict)  # event id -> {kind, seq, trace, at}
    refused: int = 0
    last_refusal: str = ""

    async def send(self, device: str, capability: str, value: Any, count: int = 1) -> list[str]:
        readings = []
        for _ in range(count):
            self.n += 1
            readings.append({"device": device, "capability": capability, "value": value, "trace": f"nf-{self.n}"})
        at = time.monotonic()
        status, body = await self.gw.call("/api/sim/readings", readings)
        if status != 200:
            self.refused += 1
            self.last_refusal = f"{status}: {str(body)[:300]}"
            return []
        ids = []
        for i, ev in enumerate(body["events"]):
            trace = readings[min(i, len(readings) - 1)]["trace"] if len(body["events"]) == len(readings) else None
            self.committed[ev["id"]] = {"kind": ev["kind"], "seq": ev["seq"], "trace": trace, "at": at}
            ids.append(ev["id"])
        return ids

    async def press(self) -> str:
        """A call-button press; the alarm event's id."""
        ids = await self.send("btn-1", "press", True)
        alarm = [i for i in ids if self.committed[i]["kind"].startswith("alarm.")]
        assert alarm, f"a press made no alarm: {[self.committed[i] for i in ids]} {self.last_refusal}"
        return alarm[0]


@dataclass
class Rig:
    link: NetnsLink
    broker: Mosquitto
    gw: NetnsGateway
    platform: Collector
    home: Home

    def arrival(self, event_id: str) -> float | None:
        return next((t for t, _, ev in self.platform.arrivals if ev["id"] == event_id), None)

    async def all_delivered(self, timeout: float) -> float:
        """Seconds until every committed event reached the platform."""
        t0 = time.monotonic()
        want = set(self.home.committed)
        await self.platform.wait_for(lambda c: want <= {e["id"] for e in c.events}, timeout=timeout)
        return time.monotonic() - t0

    def first_arrival(self, ids: set[str]) -> dict[str, Any]:
        """The first of ``ids`` to reach the platform."""
        return next(ev for _, _, ev in self.platform.arrivals if ev["id"] in ids)

    def seq_gaps(self) -> list[tuple[int, int]]:
        seqs = sorted({e["seq"] for e in self.platform.events})
        return [(a, b) for a, b in itertools.pairwise(seqs) if b != a + 1]

    def lost(self) -> int:
        return len(set(self.home.committed) - {e["id"] for e in self.platform.events})


@contextlib.asynccontextmanager
async def rig(work: Path, via_proxy: Impairment | None = None, **uplink: Any) -> AsyncIterator[Rig]:
    """The gateway in its namespace, the broker on the host, the platform subscriber; all torn down after."""
    work.mkdir(parents=True, exist_ok=True)
    link = NetnsLink()
    broker: Mosquitto | None = None
    gw: NetnsGateway | None = None
    try:
        broker = Mosquitto()
        broker.extra_conf = f"listener {broker.port} {link.far}"
        broker.start()
        proxy = None
        port = broker.port
        if via_proxy is not None:
            proxy = FaultProxy(link.far, "127.0.0.1", broker.port, via_proxy, seed=7)
            await proxy.__aenter__()
            port = proxy.port
        link.set_hosts({BROKER_NAME: link.far})
        settings = {"keepalive_s": KEEPALIVE_S, "backoff_initial_s": 0.2, "backoff_max_s": 2.0, **uplink}
        raw = config_dict(
            work / "state",
            f"mqtt://{BROKER_NAME}:{port}",
            gateway_id=GATEWAY_ID,
            uplink=settings,
            health={"heartbeat_interval_s": 0},
        )
        gw = NetnsGateway(link, write_toml(work / "gw.toml", raw), work / "gw.log")
        async with Collector("127.0.0.1", broker.port, gateway=GATEWAY_ID, client_id=f"nf-{link.name}") as platform:
            await gw.start()
            await gw.wait_uplink(True, timeout=20)
            r = Rig(link, broker, gw, platform, Home(gw))
            r.proxy = proxy  # type: ignore[attr-defined]
            try:
                yield r
            finally:
                if proxy is not None:
                    await proxy.close()
    finally:
        if gw is not None:
            gw.stop()
        if broker is not None:
            broker.close()
        link.close()


async def _backlog(home: Home, events: int) -> None:
    for _ in range(events // 100):
        await home.send("bed-1", "heart_rate", 70, count=100)


def _figures(r: Rig, held: set[str], alarm: str, heal: float) -> dict[str, Any]:
    first = r.first_arrival(held)
    arrived = r.arrival(alarm)
    return {
        "heal_to_first_alarm_s": None if arrived is None else round(arrived - heal, 3),
        "first_after_heal": first["kind"],
        "alarm_first": first["kind"].startswith("alarm."),
        "lost": r.lost(),
        "seq_gaps": r.seq_gaps(),
        "committed": len(r.home.committed),
        "refused": r.home.refused,
    }


async def black_hole(work: Path, hole_s: float = 30.0) -> dict[str, Any]:
    """An idle connection, then the far side goes dark for ``hole_s``; readings and an alarm meanwhile."""
    async with rig(work / "black_hole") as r:
        await r.home.send("pir-1", "motion", True, count=10)
        await r.all_delivered(timeout=10)
        await asyncio.sleep(KEEPALIVE_S * 0.5)  # mid keepalive period: no traffic in flight
        r.link.far_down()
        dark = time.monotonic()
        detect = await r.gw.wait_uplink(False, timeout=hole_s + 10)
        before = set(r.home.committed)
        await _backlog(r.home, 500)
        alarm = await r.home.press()
        await r.home.send("pir-1", "motion", True, count=20)
        await asyncio.sleep(max(0.0, dark + hole_s - time.monotonic()))
        r.link.far_up()
        heal = time.monotonic()
        drained = await r.all_delivered(timeout=60)
        out = _figures(r, set(r.home.committed) - before, alarm, heal)
        st = await r.gw.status()
        out |= {
            "hole_s": hole_s,
            "keepalive_s": KEEPALIVE_S,
            "time_to_detect_s": round(detect, 3),
            "heal_to_all_delivered_s": round(drained, 3),
            "reconnects": st["uplink"]["reconnects"],
        }
        return out


async def lossy(work: Path, alarms: int = 20, hole_s: float = 8.0) -> dict[str, Any]:
    """300 ms ± 100 ms each way with 5 % of chunks stalled 1 s: alarm latency, then a black hole and heal."""
    bad = Impairment(delay_s=0.3, jitter_s=0.1, loss=0.05, loss_stall_s=1.0)
    async with rig(work / "lossy", via_proxy=bad) as r:
        lat: list[float] = []
        for _ in range(alarms):
            await r.home.send("pir-1", "motion", True, count=5)
            t0 = time.monotonic()
            alarm = await r.home.press()
            await r.platform.wait_for(lambda c, a=alarm: r.arrival(a) is not None, timeout=30)
            lat.append(r.arrival(alarm) - t0)  # type: ignore[operator]
        await r.all_delivered(timeout=30)
        before = set(r.home.committed)
        r.link.far_down()
        await _backlog(r.home, 300)
        alarm = await r.home.press()
        await asyncio.sleep(hole_s)
        r.link.far_up()
        heal = time.monotonic()
        online = heal + await r.gw.wait_uplink(True, timeout=30)
        drained = await r.all_delivered(timeout=90)
        out = _figures(r, set(r.home.committed) - before, alarm, heal)
        arrived = r.arrival(alarm)
        out["online_to_first_alarm_s"] = None if arrived is None else round(arrived - online, 3)
        st = await r.gw.status()
        proxy: FaultProxy = r.proxy  # type: ignore[attr-defined]
        lat.sort()
        out |= {
            "alarm_latency_p50_s": round(statistics.median(lat), 3),
            "alarm_latency_max_s": round(lat[-1], 3),
            "alarms_measured": len(lat),
            "stalls": proxy.stats.stalls,
            "chunks": proxy.stats.chunks,
            "heal_to_all_delivered_s": round(drained, 3),
            "reconnects": st["uplink"]["reconnects"],
        }
        return out


async def slow(work: Path, rate: float = 32_000, backlog: int = 1500, hole_s: float = 5.0) -> dict[str, Any]:
    """A link of ``rate`` bytes/s: a backlog from a black hole, an alarm queued during it and one mid-drain."""
    async with rig(work / "slow", via_proxy=Impairment(rate_bytes_s=rate)) as r:
        await r.home.send("pir-1", "motion", True, count=5)
        await r.all_delivered(timeout=20)
        before = set(r.home.committed)
        r.link.far_down()
        await _backlog(r.home, backlog)
        alarm = await r.home.press()
        await asyncio.sleep(hole_s)
        r.link.far_up()
        heal = time.monotonic()
        await r.gw.wait_uplink(True, timeout=30)
        await asyncio.sleep(1.0)  # the backlog is draining through the slow link
        t0 = time.monotonic()
        mid = await r.home.press()
        drained = await r.all_delivered(timeout=180)
        out = _figures(r, set(r.home.committed) - before - {mid}, alarm, heal)
        arrived = r.arrival(mid)
        st = await r.gw.status()
        out |= {
            "reconnects": st["uplink"]["reconnects"],
            "stall_aborts": st["uplink"]["stall_aborts"],
            "rate_bytes_s": rate,
            "backlog_events": backlog,
            "mid_drain_alarm_latency_s": None if arrived is None else round(arrived - t0, 3),
            "heal_to_all_delivered_s": round(time.monotonic() - heal, 3),
            "drain_after_mid_alarm_s": round(drained, 3),
        }
        return out


async def _seen_offline(gw: NetnsGateway) -> float:
    """When the uplink is first seen not online (monotonic)."""
    t0 = time.monotonic()
    return t0 + await gw.wait_uplink(False, timeout=30)


async def moved(work: Path) -> dict[str, Any]:
    """The broker moves to a new address and its name follows; the old address goes dark."""
    async with rig(work / "moved") as r:
        await r.home.send("pir-1", "motion", True, count=5)
        await r.all_delivered(timeout=10)
        new = str(r.link.subnet[7])
        before = set(r.home.committed)
        move = time.monotonic()
        offline = asyncio.ensure_future(_seen_offline(r.gw))
        r.link.del_far_address(r.link.far)  # the old server's address is gone: its packets go nowhere
        r.link.add_far_address(new)
        r.broker.stop()
        r.broker.extra_conf = f"listener {r.broker.port} {new}"
        r.broker.start()
        await _backlog(r.home, 200)
        alarm = await r.home.press()
        await asyncio.sleep(2.0)  # DNS is updated a little after the move
        r.link.set_hosts({BROKER_NAME: new})
        renamed = time.monotonic()
        detect = await offline - move
        drained = await r.all_delivered(timeout=60)
        out = _figures(r, set(r.home.committed) - before, alarm, renamed)
        out["rename_to_first_alarm_s"] = out.pop("heal_to_first_alarm_s")
        arrived = r.arrival(alarm)
        st = await r.gw.status()
        out |= {
            "new_address": new,
            "move_to_first_alarm_s": None if arrived is None else round(arrived - move, 3),
            "time_to_detect_s": round(detect, 3),
            "rename_to_all_delivered_s": round(drained, 3),
            "reconnects": st["uplink"]["reconnects"],
        }
        return out


SCENARIOS = ("black_hole", "lossy", "slow", "moved")


async def run(names: list[str], hole_s: float, rate: float) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="fbgw-netfaults-") as tmp:
        work = Path(tmp)
        for name in names:
            try:
                if name == "black_hole":
                    results[name] = await black_hole(work, hole_s)
                elif name == "lossy":
                    results[name] = await lossy(work)
                elif name == "slow":
                    results[name] = await slow(work, rate=rate)
                elif name == "moved":
                    results[name] = await moved(work)
            except (TimeoutError, AssertionError, RuntimeError) as exc:  # e.g. a backlog that never drained
                results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return results


def summary(results: dict[str, Any]) -> str:
    lines = []
    for name, r in results.items():
        if "error" in r:
            lines.append(f"{name}: FAILED: {r['error']}")
            continue
        common = (
            f"first after heal {r['first_after_heal']}, {r['committed']} events, {r['lost']} lost, "
            f"{len(r['seq_gaps'])} seq gaps"
        )
        if name == "black_hole":
            lines.append(
                f"black hole {r['hole_s']:g} s (keepalive {r['keepalive_s']} s): "
                f"detected in {r['time_to_detect_s']:.2f} s, heal -> first alarm {r['heal_to_first_alarm_s']:.2f} s, "
                f"all delivered {r['heal_to_all_delivered_s']:.2f} s; " + common
            )
        elif name == "lossy":
            lines.append(
                f"300±100 ms + 5 % loss: alarm latency p50 {r['alarm_latency_p50_s']:.2f} s, max "
                f"{r['alarm_latency_max_s']:.2f} s ({r['alarms_measured']} alarms, {r['stalls']} stalls); "
                f"after a black hole heal -> first alarm {r['heal_to_first_alarm_s']:.2f} s "
                f"(online -> first alarm {r['online_to_first_alarm_s']:.2f} s); " + common
            )
        elif name == "slow":
            lines.append(
                f"slow link {r['rate_bytes_s'] / 1000:g} kB/s, {r['backlog_events']} backlog: heal -> first alarm "
                f"{r['heal_to_first_alarm_s']:.2f} s, alarm raised mid-drain {r['mid_drain_alarm_latency_s']:.2f} s, "
                f"drained {r['heal_to_all_delivered_s']:.1f} s, {r['reconnects']} reconnects "
                f"({r['stall_aborts']} aborted for a stalled alarm); " + common
            )
        elif name == "moved":
            lines.append(
                f"broker moved to {r['new_address']}: old connection given up {r['time_to_detect_s']:.2f} s after the "
                f"move, name updated -> first alarm {r['rename_to_first_alarm_s']:.2f} s "
                f"(move -> first alarm {r['move_to_first_alarm_s']:.2f} s); " + common
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hole", type=float, default=30.0, help="seconds of black hole")
    parser.add_argument("--rate", type=float, default=32_000, help="bytes/s of the slow link")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    for name in ("aiomqtt", "mqtt"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    results = asyncio.run(run(names, args.hole, args.rate))
    print(json.dumps(results, indent=2) if args.json else summary(results))
    bad = [n for n, r in results.items() if "error" in r or r["lost"] or r["seq_gaps"] or not r["alarm_first"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
