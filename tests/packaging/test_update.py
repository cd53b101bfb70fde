"""Signed updates end to end, between real packages built by scripts/package, on a box emulated in a temp dir:
the A/B slots under a configurable root, ``fbgw run`` from ``current`` restarted like systemd does, a real
Mosquitto and the signed command channel.

One run walks: a bad signature and a corrupt package (refused, nothing changes); 1.0.0 -> 2.0.0 (kill -9 of the
new version on its first start: it still confirms); 2.0.0 -> 3.0.0 whose radio never starts (fails its health
check: back to 2.0.0, ``gateway.update_failed``); 2.0.0 -> 4.0.0 whose Python cannot import the gateway (crash
loop ended by the unit's boot guard: back to 2.0.0).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.slots.install import relocate
from gateway.slots.layout import PACKAGED_SLOT, Layout
from gateway.tools.local_broker import Mosquitto
from tests.packaging.conftest import BuildDeb
from tests.remote.conftest import public_b64
from tests.remote.platform import Platform
from tests.support.broker import free_port
from tests.support.collector import Collector
from tests.support.gateway import config_dict, write_toml

SICK = {"drivers/sim/driver.py": ('self._health.state = "up"', 'self._health.state = "down"')}
#: A build whose Python cannot even import the gateway (``fbgw --version`` still works: app is imported by ``run``):
#: only the unit's boot guard, which runs outside the slot, can count its starts.
NO_IMPORT = {"gateway/app.py": ("\nfrom gateway.ports ", "\nimport gateway.no_such_module\nfrom gateway.ports ")}


class Supervisor:
    """What systemd does for the unit: before each start the unit's ``ExecStartPre`` (the package's boot guard,
    when given), then ``<root>/current/bin/fbgw run``, started again whenever it exits; each start has its own
    ``INVOCATION_ID``, shared by both, as under systemd."""

    def __init__(self, root: Path, config: Path, port: int, log: Path, guard: Path | None = None) -> None:
        self.root, self.config, self.port, self.log, self.guard = root, config, port, log, guard
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.exits: list[int] = []
        #: Extra environment for the next start only (e.g. ``FBGW_TEST_KILL_AT``), then cleared.
        self.once_env: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            env = {**os.environ, "INVOCATION_ID": uuid.uuid4().hex, **self.once_env}
            self.once_env = {}
            with open(self.log, "ab") as log:
                if self.guard is not None:
                    cmd = [str(self.guard), "--config", str(self.config)]
                    subprocess.run(cmd, stdout=log, stderr=log, env=env, timeout=60, check=False)
                argv = [str(self.root / "current/bin/fbgw"), "run", "--config", str(self.config)]
                self.proc = subprocess.Popen(
                    [*argv, "--http", f"127.0.0.1:{self.port}"], stdout=subprocess.DEVNULL, stderr=log, env=env
                )
                self.starts += 1
                self.exits.append(self.proc.wait())
            time.sleep(0.3)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()

    def close(self) -> None:
        self._stop.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._thread.join(30)


def install_slot_a(deb: Path, root: Path) -> Path:
    """What the package's postinst leaves: its venv as slot a, ``current`` -> slots/a. Returns the package's boot
    guard (the unit's ExecStartPre), kept beside the slots."""
    unpacked = root / "unpacked"
    unpacked.mkdir(parents=True)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True, timeout=120)
    (root / "slots").mkdir()
    (unpacked / PACKAGED_SLOT.lstrip("/")).rename(root / "slots/a")
    guard = root / "boot-guard"
    (unpacked / "usr/lib/fbgw/boot-guard").rename(guard)
    shutil.rmtree(unpacked)
    relocate(root / "slots/a", str(root / "slots/a"))
    Layout(root).switch("a")
    return guard


def package_args(deb: Path, version: str, **override: Any) -> dict[str, Any]:
    args = {
        "url": str(deb),
        "sha256": hashlib.sha256(deb.read_bytes()).hexdigest(),
        "size": deb.stat().st_size,
        "version": version,
    }
    return {**args, **override}


async def run_cmd(p: Platform, cmd: str, args: dict[str, Any] | None = None, timeout: float = 60) -> dict[str, Any]:
    body = p.command(cmd, args)
    await p.send(body)
    return await p.result(body["id"], timeout=timeout)


async def version_of(p: Platform, timeout: float = 60) -> str:
    """The running version, asked with ``ping`` (retried while the gateway restarts)."""
    deadline = time.monotonic() + timeout
    while True:
        body = p.command("ping")
        await p.send(body)
        try:
            res = await p.result(body["id"], timeout=5)
            return str(res["result"]["version"])
        except TimeoutError:
            if time.monotonic() > deadline:
                raise


def events(col: Collector, kind: str) -> list[dict[str, Any]]:
    return [ev for ev in col.events if ev.get("kind") == kind]


@pytest.mark.timeout(900)
async def test_signed_update_rollback_and_crash_loop(build_deb: BuildDeb, broker: Mosquitto, tmp_path: Path) -> None:
    debs = await asyncio.to_thread(
        lambda: {
            "1.0.0": build_deb("1.0.0"),
            "2.0.0": build_deb("2.0.0"),
            "3.0.0": build_deb("3.0.0", SICK),
            "4.0.0": build_deb("4.0.0", NO_IMPORT),
        }
    )
    root = tmp_path / "opt-fbgw"
    guard = await asyncio.to_thread(install_slot_a, debs["1.0.0"], root)
    key = Ed25519PrivateKey.generate()
    state = tmp_path / "state"
    raw = config_dict(
        state,
        broker.url,
        remote={
            "platform_key": public_b64(key),
            "update_root": str(root),
            "update_health_s": 8.0,
            "update_max_boots": 2,
        },
    )
    cfg = write_toml(tmp_path / "gw.toml", raw)
    sup = Supervisor(root, cfg, free_port(), tmp_path / "gw.log", guard)
    layout = Layout(root)
    async with Collector(broker.host, broker.port) as col:
        p = Platform(broker.host, broker.port, "gw-test", col, key)
        sup.start()
        try:
            assert await version_of(p) == "1.0.0"

            # A command signed by someone else is refused unread; a corrupt package is refused after download.
            forged = Platform(broker.host, broker.port, "gw-test", col, Ed25519PrivateKey.generate())
            res = await run_cmd(forged, "update", package_args(debs["2.0.0"], "2.0.0"))
            assert res["status"] != "ok" and "signature" in res["reason"], json.dumps(res)
            res = await run_cmd(p, "update", package_args(debs["2.0.0"], "2.0.0", sha256="0" * 64))
            assert (res["status"], res["reason"]) == ("error", "bad_package"), json.dumps(res)
            res = await run_cmd(p, "update", package_args(debs["2.0.0"], "2.0.0", size=123))
            assert res["reason"] == "bad_package", json.dumps(res)
            assert layout.current() == "a" and not (root / "slots/b").exists() and sup.starts == 1

            # 1.0.0 -> 2.0.0; its first start is killed with -9 before it confirms; the next start confirms.
            starts = sup.starts
            res = await run_cmd(p, "update", package_args(debs["2.0.0"], "2.0.0"))
            assert res["status"] == "ok" and res["result"]["installed"] == "2.0.0", json.dumps(res)
            await wait(lambda: sup.starts > starts, 30)
            sup.kill9()
            assert await version_of(p) == "2.0.0"
            await col.wait_for(lambda c: bool(events(c, "gateway.updated")), 60)
            (ev,) = events(col, "gateway.updated")
            assert ev["data"]["from"] == "1.0.0" and ev["data"]["to"] == "2.0.0"
            assert layout.current() == "b" and sup.exits[:2] == [75, -9]

            # 2.0.0 -> 3.0.0, whose radio never starts: it fails its check and 2.0.0 comes back.
            res = await run_cmd(p, "update", package_args(debs["3.0.0"], "3.0.0"))
            assert res["status"] == "ok" and res["result"]["slot"] == "a", json.dumps(res)
            await col.wait_for(lambda c: bool(events(c, "gateway.update_failed")), 90)
            (failed,) = events(col, "gateway.update_failed")
            assert failed["data"]["to"] == "3.0.0" and "driver sim down" in failed["data"]["reason"], failed
            assert await version_of(p) == "2.0.0" and layout.current() == "b"

            # 2.0.0 -> 4.0.0, which cannot import at any start: after update_max_boots starts the boot guard (the
            # unit's ExecStartPre) switches back before ExecStart, and 2.0.0 reports it.
            res = await run_cmd(p, "update", package_args(debs["4.0.0"], "4.0.0"))
            assert res["status"] == "ok", json.dumps(res)
            await col.wait_for(lambda c: len(events(c, "gateway.update_failed")) == 2, 120)
            crash = events(col, "gateway.update_failed")[1]
            assert crash["data"]["to"] == "4.0.0" and "crash loop" in crash["data"]["reason"], crash
            assert await version_of(p) == "2.0.0" and layout.current() == "b"
            assert os.readlink(root / "current") == "slots/b"
        finally:
            await asyncio.to_thread(sup.close)
    log = (tmp_path / "gw.log").read_text()
    assert "No module named 'gateway.no_such_module'" in log  # the crash loop was real, at import time
    assert "update journal: rolled_back" in log  # and the boot guard ended it


async def wait(pred: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
