"""`kill -9` right after commits: every accepted state change (door, smoke) still yields exactly one event.

The remembered value that decides whether a reading is a change must be exactly as durable as the events that
report changes. Readings alternate door open/closed and smoke on/off; a reading whose request failed (the
gateway was killed under it) is sent again with the same value after the restart, as a device repeats a report.
So the accepted values of each device alternate, and the events the outbox holds for it must be exactly that
sequence: a missing one is an accepted change the gateway took for a repeat, an extra one a repeat taken for a
change. No broker runs, so every event stays in the outbox for the check.

The default run makes a few trials; ``FBGW_STATE_KILL_TRIALS=300`` (``scripts/kill-trials``) makes hundreds.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from tests.support.broker import free_port
from tests.support.gateway import GatewayProcess, config_dict, write_toml

TRIALS = int(os.environ.get("FBGW_STATE_KILL_TRIALS", "6"))

#: device -> (capability, the two values it alternates between, event kind for each value)
DEVICES: dict[str, tuple[str, tuple[object, object], dict[object, str]]] = {
    "door-1": ("contact", ("open", "closed"), {"open": "state.door", "closed": "state.door"}),
    "smoke-1": ("smoke", (True, False), {True: "alarm.smoke", False: "alarm.smoke.cleared"}),
}


class Home:
    """What the test sent and what the gateway accepted."""

    def __init__(self) -> None:
        self.next_index = dict.fromkeys(DEVICES, 0)  # index into the two values: the next value to send
        self.accepted: dict[str, list[object]] = {d: [] for d in DEVICES}
        self.commits = 0
        self.committed = asyncio.Event()

    def next_value(self, device: str) -> object:
        return DEVICES[device][1][self.next_index[device] % 2]

    def took(self, device: str, value: object) -> None:
        self.accepted[device].append(value)
        self.next_index[device] += 1
        self.commits += 1
        self.committed.set()


async def _send_until_killed(url: str, home: Home, rng: random.Random) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        while True:
            device = rng.choice(list(DEVICES))
            cap = DEVICES[device][0]
            value = home.next_value(device)
            try:
                async with session.post(
                    url + "/api/sim/readings", json={"device": device, "capability": cap, "value": value}
                ) as resp:
                    body = await resp.read()
                    assert resp.status == 200, body
            except (aiohttp.ClientError, ConnectionError):
                return  # killed under this request: the same value is sent again after the restart
            home.took(device, value)


def _events_by_device(db: Path) -> dict[str, list[object]]:
    """Values reported by the stored events of each test device, in seq order."""
    out: dict[str, list[object]] = {d: [] for d in DEVICES}
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for (body,) in conn.execute("SELECT body FROM outbox ORDER BY seq"):
            ev = json.loads(body)
            device = (ev.get("device") or {}).get("id")
            if device not in DEVICES:
                continue
            cap, _, kinds = DEVICES[device]
            if ev["kind"] in kinds.values() and ev["data"].get("capability") == cap:
                out[device].append(ev["data"]["value"])
    return out


@pytest.mark.slow
async def test_kill9_right_after_commits_never_turns_a_change_into_a_repeat(tmp_path: Path) -> None:
    # No broker listens on this port: every event stays in the outbox, where the test reads them.
    raw = config_dict(
        tmp_path / "state",
        f"mqtt://127.0.0.1:{free_port()}",
        gateway_id="gw-state-kill",
        outbox={"max_rows": 1_000_000, "max_bytes": 1 << 30},
    )
    cfg_path = write_toml(tmp_path / "gw.toml", raw)
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    home = Home()
    for _trial in range(TRIALS):
        gw = GatewayProcess(cfg_path, tmp_path / "gw.log")
        await asyncio.to_thread(gw.start)
        sender = asyncio.create_task(_send_until_killed(gw.base_url, home, rng))
        # Kill a random moment after a commit: mostly inside the window in which a lazily saved state would
        # still be unwritten (a few ms to 0.3 s), sometimes while the next request is being committed.
        target = home.commits + rng.randint(1, 6)
        while home.commits < target and not sender.done():
            home.committed.clear()
            await home.committed.wait()
        await asyncio.sleep(rng.choice([0.0, rng.uniform(0, 0.01), rng.uniform(0, 0.3)]))
        gw.kill9()
        await sender
    # The last kill may have cut a request whose event was already committed: after a restart its device
    # repeats that report once, as after every other kill, and the answer settles whether it was a change.
    gw = GatewayProcess(cfg_path, tmp_path / "gw.log")
    await asyncio.to_thread(gw.start)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            for device, (cap, _, _) in DEVICES.items():
                value = home.next_value(device)
                reading = {"device": device, "capability": cap, "value": value}
                async with session.post(gw.base_url + "/api/sim/readings", json=reading) as resp:
                    assert resp.status == 200, await resp.read()
                home.took(device, value)
    finally:
        gw.kill9()
    stored = _events_by_device(tmp_path / "state" / "outbox.sqlite3")
    total = sum(len(v) for v in home.accepted.values())
    assert total >= TRIALS, f"the sender barely ran (seed {seed})"
    for device, accepted in home.accepted.items():
        assert stored[device] == accepted, (
            f"{device}: accepted values and stored events differ (seed {seed}, {TRIALS} kills): "
            f"accepted {accepted}, events {stored[device]}"
        )
