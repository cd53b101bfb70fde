"""A burst of 50,000 hostile messages on every inbound topic, against a real `fbgw run` and a real Mosquitto.

After the burst is consumed the gateway's RSS is back within 10 MB of where it stood before, its log grew by a
bounded number of lines, the heartbeat reports what was dropped per topic, and an alarm is still acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import psutil
import pytest

from gateway.tools.flood import INBOUND, flood
from gateway.topics import Topics
from tests.support.broker import Mosquitto
from tests.support.gateway import GatewayProcess, config_dict, write_toml

pytestmark = pytest.mark.timeout(600)

BURST = 50_000
WARMUP = 2_000
RSS_SLACK_MB = 10.0
#: Log lines the whole burst (150,000 refused or dropped messages) may add.
MAX_LOG_LINES = 150


class Platform:
    """Hears the gateway's events (alarms and everything else)."""

    def __init__(self, broker: Mosquitto) -> None:
        self.broker = broker
        self.events: list[dict[str, Any]] = []
        self.ready = asyncio.Event()

    async def run(self) -> None:
        topics = Topics("gw-test")
        async with aiomqtt.Client(self.broker.host, self.broker.port) as client:
            await client.subscribe(topics.alarms, qos=1)
            await client.subscribe(topics.events, qos=1)
            self.ready.set()
            async for msg in client.messages:
                assert isinstance(msg.payload, bytes)
                self.events.extend(json.loads(msg.payload))

    async def wait_for(self, kind: str, within: float, where: Any = lambda e: True) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            found = [e for e in self.events if e["kind"] == kind and where(e)]
            if found:
                return found[-1]
            assert time.monotonic() < deadline, f"no {kind} within {within} s"
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def platform(broker: Mosquitto) -> AsyncIterator[Platform]:
    p = Platform(broker)
    task = asyncio.create_task(p.run())
    await asyncio.wait_for(p.ready.wait(), 10)
    try:
        yield p
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def inbound(http: aiohttp.ClientSession, gp: GatewayProcess) -> dict[str, dict[str, int]]:
    async with http.get(gp.base_url + "/api/status") as resp:
        return (await resp.json())["uplink"]["inbound"]  # type: ignore[no-any-return]


async def consumed(http: aiohttp.ClientSession, gp: GatewayProcess, per_topic: int, within: float = 300) -> None:
    """Until every lane has heard ``per_topic`` messages (or nearly: QoS 0 messages on the wire are lost if the
    connection drops), holds none, and the counters have not moved for two seconds."""
    deadline = time.monotonic() + within
    history: list[Any] = []
    while True:
        lanes = await inbound(http, gp)
        settled = all(
            lanes[t]["received"] >= per_topic * 0.9
            and lanes[t]["handled"] + lanes[t]["queue_full"] + lanes[t]["rate_limited"] + lanes[t]["too_large"]
            == lanes[t]["received"]
            for t in INBOUND
        )
        history = [*history[-3:], lanes]
        if settled and len(history) == 4 and all(h == lanes for h in history):
            return
        assert time.monotonic() < deadline, lanes
        await asyncio.sleep(0.5)


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


async def test_burst_on_every_inbound_topic(tmp_path: Path, broker: Mosquitto) -> None:
    # A flood delays the PUBACKs for the gateway's own publishes (they queue in the socket behind the flood); on a
    # loaded test machine that can exceed the tests' usual 5 s PUBACK timeout and cause a reconnect mid-burst.
    raw = config_dict(
        tmp_path / "state", broker.url, health={"heartbeat_interval_s": 3}, uplink={"puback_timeout_s": 30}
    )
    log_path = tmp_path / "gw.log"
    gp = GatewayProcess(write_toml(tmp_path / "gw.toml", raw), log_path)
    gp.start()
    assert gp.proc is not None
    pid = gp.proc.pid
    try:
        async with platform(broker) as plat, aiohttp.ClientSession() as http:
            rss_boot = rss_mb(pid)
            # Every code path once, with QoS 1 (PUBACKs); then the burst at QoS 0, as fast as the broker passes it on.
            await asyncio.to_thread(flood, broker.host, broker.port, "gw-test", WARMUP, qos=1)
            await consumed(http, gp, WARMUP)
            rss_before = rss_mb(pid)
            lines_before = len(log_path.read_text().splitlines())

            peak = [rss_before]

            async def sample() -> None:
                while True:
                    peak[0] = max(peak[0], rss_mb(pid))
                    await asyncio.sleep(0.05)

            sampler = asyncio.create_task(sample())
            started = time.monotonic()
            sent = await asyncio.to_thread(flood, broker.host, broker.port, "gw-test", BURST, qos=0, seed=5)
            await consumed(http, gp, WARMUP + BURST)
            took = time.monotonic() - started
            sampler.cancel()
            rss_after = rss_mb(pid)
            lanes = await inbound(http, gp)
            async with http.get(gp.base_url + "/api/status") as resp:
                reconnects = (await resp.json())["uplink"]["reconnects"]
            print(
                f"\ninbound burst {sent['messages']:,.0f} messages ({sent['bytes'] / 2**20:.0f} MB) consumed in "
                f"{took:.1f} s; RSS boot {rss_boot:.1f} MB, before {rss_before:.1f} MB, peak {peak[0]:.1f} MB, "
                f"after {rss_after:.1f} MB; uplink reconnects {reconnects}; lanes {lanes}"
            )
            assert rss_after - rss_before < RSS_SLACK_MB
            for t in INBOUND:
                assert lanes[t]["rate_limited"] + lanes[t]["queue_full"] > BURST // 2, lanes  # shed, not queued

            # The log grew by a bounded number of lines, none of them long or carrying raw control characters.
            new_lines = log_path.read_text(errors="replace").splitlines()[lines_before:]
            print(f"log lines written during the burst: {len(new_lines)}")
            assert len(new_lines) <= MAX_LOG_LINES, "\n".join(new_lines[:50])
            assert all(len(line) < 1000 and "\x1b" not in line for line in new_lines)

            # The heartbeat says what was dropped, per topic.
            beat = await plat.wait_for(
                "gateway.heartbeat", 10, lambda e: e["data"].get("inbound_dropped", {}).get("cmd", 0) > BURST // 2
            )
            assert set(INBOUND) <= set(beat["data"]["inbound_dropped"])

            # And an alarm is still acknowledged.
            body = {"device": "btn-1", "capability": "press", "value": True, "trace": "after-flood"}
            async with http.post(gp.base_url + "/api/sim/readings", json=body) as resp:
                assert resp.status == 200, await resp.text()
            call = await plat.wait_for("alarm.emergency_call", 10)
            async with aiomqtt.Client(broker.host, broker.port) as client:
                ack = {"alarm": call["id"], "by": "operator-1"}
                await client.publish(Topics("gw-test").alarm_ack, json.dumps(ack).encode(), qos=1)
            acked = await plat.wait_for("alarm.acknowledged", 10, lambda e: e["data"]["alarm"] == call["id"])
            assert acked["data"]["by"] == "operator-1"
    finally:
        gp.terminate()


async def test_queued_commands_of_a_persistent_session_are_bounded(tmp_path: Path, broker: Mosquitto) -> None:
    """The broker keeps QoS 1 commands for the gateway's persistent session while it is away; on reconnect they
    arrive at once, and are shed like any burst."""
    raw = config_dict(tmp_path / "state", broker.url)
    gp = GatewayProcess(write_toml(tmp_path / "gw.toml", raw), tmp_path / "gw.log")
    gp.start()  # the session (and its subscriptions) now exist on the broker
    gp.terminate()
    queued = 5_000
    await asyncio.to_thread(flood, broker.host, broker.port, "gw-test", queued, topics=["cmd"], qos=1)
    gp.start()
    assert gp.proc is not None
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 60
            last: Any = None
            while True:  # each queued command is either held until the service subscribed, or dropped
                lanes = await inbound(http, gp)
                early_dropped = lanes.get("other", {}).get("queue_full", 0)
                if lanes["cmd"]["received"] + early_dropped >= queued and lanes == last:
                    break
                last = lanes
                assert time.monotonic() < deadline, lanes
                await asyncio.sleep(0.5)
            cmd = lanes["cmd"]
            assert cmd["handled"] > 0, lanes  # the first ones, held for the service, were handled
            assert early_dropped + cmd["rate_limited"] + cmd["queue_full"] > queued // 2, lanes
            assert rss_mb(gp.proc.pid) < 120
    finally:
        gp.terminate()
