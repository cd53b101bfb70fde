"""kill -9 at every step of a signed update, between real packages built by scripts/package: after each kill the
box (emulated as in test_update.py, with the unit's boot guard before every start) must end consistent: the old
version running with the update reported failed, or the new version committed; ``current`` naming a complete slot
that runs the version the journal says; and every event the gateway ever committed delivered (the outbox's seqs
arrive without a gap).

First a kill in the middle of an HTTPS download (from a server on 127.0.0.1 that hangs), whose retry resumes
with ``Range``. Then at each step the process kills itself with SIGKILL right after the journal durably records
it (``FBGW_TEST_KILL_AT``, given to one start only). The box ping-pongs between 1.0.0 and 2.0.0; a third build
whose radio never starts fails its health check, for the two rollback steps.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.slots import guard
from gateway.slots.layout import Layout
from gateway.tools.local_broker import Mosquitto
from tests.packaging.conftest import BuildDeb
from tests.packaging.https_server import make_pki, serve
from tests.packaging.test_update import (
    SICK,
    Supervisor,
    events,
    install_slot_a,
    package_args,
    run_cmd,
    version_of,
    wait,
)
from tests.remote.conftest import public_b64
from tests.remote.platform import Platform
from tests.support.broker import free_port
from tests.support.collector import Collector
from tests.support.gateway import config_dict, write_toml

#: Steps in the version that runs the update command: a kill before the switch keeps it; from the switch on,
#: the new version starts and confirms itself.
BEFORE_SWITCH = ("downloading", "verified", "installed")
AFTER_SWITCH = ("switched", "restarting")
#: Steps in the new version's first start.
NEW_VERSION = ("health_checking", "committed")
#: Steps of a rollback (in the version that fails its health check).
ROLLBACK = ("rolling_back", "rolled_back")


def outcomes(col: Collector, kind: str) -> list[dict[str, Any]]:
    """Events of ``kind`` once each: a kill before the broker's PUBACK is recorded sends one again, with its id
    (at least once; the platform deduplicates by id)."""
    seen: dict[str, dict[str, Any]] = {}
    for ev in events(col, kind):
        seen.setdefault(ev["id"], ev)
    return list(seen.values())


def journal(state: Path) -> dict[str, Any]:
    return json.loads((state / guard.FILE).read_text())


class Box:
    def __init__(self, sup: Supervisor, p: Platform, col: Collector, root: Path, state: Path) -> None:
        self.sup, self.p, self.col, self.state = sup, p, col, state
        self.layout = Layout(root)
        self.slot_version = {"a": "1.0.0"}

    async def restart_with(self, env: dict[str, str]) -> None:
        """Run the current version again with ``env`` (the next start only)."""
        starts = self.sup.starts
        self.sup.once_env = env
        self.sup.kill9()
        await wait(lambda: self.sup.starts > starts, 30)

    async def consistent(self, version: str, kinds: dict[str, int]) -> None:
        """``version`` runs from a complete ``current`` slot, the journal is finished, the outcome events are out
        (counts per kind) and no event the gateway committed is missing."""
        assert await version_of(self.p, timeout=90) == version
        await self.col.wait_for(lambda c: all(len(outcomes(c, k)) >= n for k, n in kinds.items()), 60)
        for k, n in kinds.items():
            assert len(outcomes(self.col, k)) == n, (k, [e["data"] for e in outcomes(self.col, k)])
        cur = self.layout.current()
        assert cur is not None and (self.layout.slot(cur) / "bin" / "python").exists()
        assert self.slot_version[cur] == version
        st = journal(self.state)
        assert st["phase"] in ("committed", "rolled_back", "failed"), st
        assert not (self.layout.root / "current.new").exists()
        seqs = {int(e["seq"]) for e in self.col.events}
        assert seqs == set(range(1, max(seqs) + 1)), sorted(set(range(1, max(seqs) + 1)) - seqs)


@pytest.mark.timeout(1500)
async def test_kill9_at_every_update_step(build_deb: BuildDeb, broker: Mosquitto, tmp_path: Path) -> None:
    debs = await asyncio.to_thread(
        lambda: {"1.0.0": build_deb("1.0.0"), "2.0.0": build_deb("2.0.0"), "3.0.0": build_deb("3.0.0", SICK)}
    )
    root = tmp_path / "opt-fbgw"
    boot_guard = await asyncio.to_thread(install_slot_a, debs["1.0.0"], root)
    key = Ed25519PrivateKey.generate()
    pki = make_pki(tmp_path)
    state = tmp_path / "state"
    raw = config_dict(
        state,
        broker.url,
        remote={
            "platform_key": public_b64(key),
            "update_root": str(root),
            "update_ca_file": str(pki[0]),
            "update_health_s": 6.0,
            "update_max_boots": 2,
        },
        health={"heartbeat_interval_s": 1.0},  # a steady stream of events through the outbox across every kill
    )
    cfg = write_toml(tmp_path / "gw.toml", raw)
    sup = Supervisor(root, cfg, free_port(), tmp_path / "gw.log", boot_guard)
    async with Collector(broker.host, broker.port) as col:
        p = Platform(broker.host, broker.port, "gw-test", col, key)
        box = Box(sup, p, col, root, state)
        sup.start()
        failed = updated = 0
        try:
            assert await version_of(p) == "1.0.0"

            # kill -9 in the middle of an HTTPS download (the server hangs a third of the way): the update failed;
            # sent again, it resumes where the file on the box ends (Range) and installs.
            deb = debs["2.0.0"].read_bytes()
            part = state / "update" / "package.part"
            async for srv in serve("stall", pki, deb):
                srv.cut_at = len(deb) // 3
                https_args = {**package_args(debs["2.0.0"], "2.0.0"), "url": srv.url()}
                starts = sup.starts
                await p.send(p.command("update", https_args))
                await wait(lambda n=srv.cut_at: part.exists() and part.stat().st_size == n, 120)
                sup.kill9()
                await wait(lambda s=starts: -9 in sup.exits[s - 1 :], 30)
                failed += 1
                await box.consistent("1.0.0", {"gateway.update_failed": failed, "gateway.updated": updated})
                assert journal(state)["reason"] == "interrupted while downloading"
                assert part.stat().st_size == srv.cut_at
                srv.release.set()
                res = await run_cmd(p, "update", https_args, timeout=120)
                assert res["status"] == "ok", json.dumps(res)
                assert srv.ranges == [None, f"bytes={srv.cut_at}-"] and srv.sent == len(deb)
            box.slot_version["b"] = "2.0.0"
            updated += 1
            await box.consistent("2.0.0", {"gateway.update_failed": failed, "gateway.updated": updated})
            assert not part.exists()  # removed once installed
            running = "2.0.0"
            for step in (*BEFORE_SWITCH, *AFTER_SWITCH, *NEW_VERSION):
                new = "2.0.0" if running == "1.0.0" else "1.0.0"
                target = box.layout.inactive()
                if step in NEW_VERSION:
                    sup.once_env = {guard.KILL_AT_ENV: step}  # the start after the update's restart
                else:
                    await box.restart_with({guard.KILL_AT_ENV: step})
                    assert await version_of(p, timeout=90) == running
                starts = sup.starts
                body = p.command("update", package_args(debs[new], new))
                await p.send(body)
                await wait(lambda s=starts: -9 in sup.exits[s - 1 :], 120)
                if step in BEFORE_SWITCH:
                    failed += 1
                    await box.consistent(running, {"gateway.update_failed": failed, "gateway.updated": updated})
                    st = journal(state)
                    assert st["phase"] == "failed" and st["reason"] == f"interrupted while {step}", st
                    assert outcomes(col, "gateway.update_failed")[-1]["data"]["reason"] == st["reason"]
                    assert box.layout.current() != target
                    continue
                box.slot_version[target] = new
                updated += 1
                await box.consistent(new, {"gateway.update_failed": failed, "gateway.updated": updated})
                st = journal(state)
                assert (st["phase"], st["to_version"], st["reported"]) == ("committed", new, True), st
                assert box.layout.current() == target
                if step == "restarting":
                    res = await p.result(body["id"], timeout=5)  # published before the kill
                    assert res["status"] == "ok", res
                running = new

            # A version that fails its health check, killed as it switches back and once it has switched back.
            for step in ROLLBACK:
                target = box.layout.inactive()
                sup.once_env = {guard.KILL_AT_ENV: step}
                starts = sup.starts
                res = await run_cmd(p, "update", package_args(debs["3.0.0"], "3.0.0"))
                assert res["status"] == "ok" and res["result"]["slot"] == target, json.dumps(res)
                box.slot_version[target] = "3.0.0"
                await wait(lambda s=starts: -9 in sup.exits[s - 1 :], 120)
                failed += 1
                await box.consistent(running, {"gateway.update_failed": failed, "gateway.updated": updated})
                st = journal(state)
                assert st["phase"] == "rolled_back" and "driver sim down" in st["reason"], st
                assert outcomes(col, "gateway.update_failed")[-1]["data"]["to"] == "3.0.0"
                assert box.layout.current() != target
        finally:
            await asyncio.to_thread(sup.close)
