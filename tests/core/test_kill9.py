"""`kill -9` of a real `fbgw run` process at random moments: every accepted reading still reaches the broker."""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
from pathlib import Path

import aiohttp

from tests.support.broker import Mosquitto
from tests.support.collector import Collector
from tests.support.gateway import GatewayProcess, config_dict, write_toml

TRIALS = int(os.environ.get("FBGW_KILL_TRIALS", "8"))
WRITERS = 8


async def _inject_until_killed(base_url: str, trial: int, accepted: set[str]) -> int:
    """Several concurrent clients post readings; a 200 means the gateway promised the event is on disk."""
    sent = 0

    async def writer(session: aiohttp.ClientSession, w: int) -> None:
        nonlocal sent
        n = 0
        while True:
            trace = f"k{trial}-{w}-{n}"
            n += 1
            device, cap, value = random.choice(
                [("btn-1", "press", True), ("pir-1", "motion", True), ("bed-1", "heart_rate", 70)]
            )
            try:
                async with session.post(
                    f"{base_url}/api/sim/readings",
                    json={"device": device, "capability": cap, "value": value, "trace": trace},
                ) as resp:
                    if resp.status == 200:
                        accepted.add(trace)
                    sent += 1
            except (aiohttp.ClientError, ConnectionError):
                return

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        await asyncio.gather(*(writer(session, w) for w in range(WRITERS)))
    return sent


async def test_kill9_at_random_moments_loses_no_accepted_event(tmp_path: Path, broker: Mosquitto) -> None:
    raw = config_dict(tmp_path / "state", broker.url, gateway_id="gw-kill")
    cfg_path = write_toml(tmp_path / "gw.toml", raw)
    accepted: set[str] = set()
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    async with Collector(broker.host, broker.port, client_id="platform-kill9") as col:
        for trial in range(TRIALS):
            gw = GatewayProcess(cfg_path, tmp_path / "gw.log")
            await asyncio.to_thread(gw.start)
            injector = asyncio.create_task(_inject_until_killed(gw.base_url, trial, accepted))
            await asyncio.sleep(rng.uniform(0.05, 1.2))
            gw.kill9()
            await injector
            # The database must open cleanly after every kill: no corruption.
            with sqlite3.connect(tmp_path / "state" / "outbox.sqlite3") as conn:
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert len(accepted) > TRIALS * 10, "the injector barely ran; the test would prove nothing"
        final = GatewayProcess(cfg_path, tmp_path / "gw.log")
        await asyncio.to_thread(final.start)
        try:
            await col.wait_for(lambda c: accepted <= c.traces(), timeout=60)
        finally:
            final.terminate()
    seqs = [ev["seq"] for ev in col.events if ev["gateway"] == "gw-kill"]
    assert len(set(seqs)) == len({ev["id"] for ev in col.events if ev["gateway"] == "gw-kill"}), (
        "a sequence number was reused for a different event"
    )
