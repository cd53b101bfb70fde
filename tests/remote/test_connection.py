"""Pushed connection settings: tried with a deadline, kept only if they connect, else rolled back by themselves."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import aiomqtt
import pytest

from gateway.app import Gateway
from gateway.tools.local_broker import Mosquitto, free_port
from gateway.topics import Topics
from tests.remote.platform import Platform, assert_matches_gateway
from tests.support.collector import Collector
from tests.support.gateway import make_config

pytestmark = pytest.mark.timeout(90)


async def retained_report(b: Mosquitto, user: str, password: str, pred: Any, timeout: float = 20) -> dict[str, Any]:
    """Read reports from a broker that needs credentials, until one matches ``pred``."""
    async with asyncio.timeout(timeout):
        while True:
            async with aiomqtt.Client(b.host, b.port, username=user, password=password) as client:
                await client.subscribe(Topics("gw-test").config_reported, qos=1)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1):
                        async for msg in client.messages:
                            report = json.loads(msg.payload)  # type: ignore[arg-type]
                            if pred(report):
                                return cast(dict[str, Any], report)


@contextlib.contextmanager
def password_broker(user: str, password: str) -> Iterator[Mosquitto]:
    """A broker that needs a user name and password (mosquitto drops root: its files must be readable)."""
    readable = Path(tempfile.mkdtemp(prefix="fbgw-auth-"))
    readable.chmod(0o755)
    pwfile = readable / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pwfile), user, password], check=True, capture_output=True)
    pwfile.chmod(0o644)
    b = Mosquitto(extra_conf=f"allow_anonymous false\npassword_file {pwfile}")
    try:
        b.start()
        yield b
    finally:
        b.close()
        shutil.rmtree(readable, ignore_errors=True)


async def test_unreachable_broker_is_rolled_back(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url, remote={"connection_trial_s": 2})
    dead = f"mqtt://127.0.0.1:{free_port()}"
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        await p.push({"version": 1, "heartbeat_interval_s": 77, "connection": {"broker": dead}})
        report = await p.report_for(1, state="rejected", timeout=20)
        assert report["reason"] == "connection_failed"
        assert broker.url in report["detail"] and "refused" in report["detail"].lower()
        assert gw.uplink.settings.broker == broker.url == gw.config.uplink.broker
        assert gw.config.health.heartbeat_interval_s != 77  # nothing of the document was applied
        assert not (tmp_path / "state" / "remote" / "desired.json").exists()
        assert_matches_gateway(report, gw)
        await gw.drivers["sim"].inject("btn-1", "press", True, trace="after-rollback")  # type: ignore[attr-defined]
        await col.wait_for(lambda c: "after-rollback" in c.traces())


async def test_hanging_broker_hits_the_deadline(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url, remote={"connection_trial_s": 1.5})
    frozen = Mosquitto()
    frozen.start()
    frozen.pause()  # accepts TCP in the kernel, never answers CONNECT
    try:
        async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
            p = Platform(broker.host, broker.port, gw.id, col)
            started = asyncio.get_running_loop().time()
            await p.push({"version": 1, "connection": {"broker": frozen.url}})
            report = await p.report_for(1, state="rejected", timeout=20)
            assert report["reason"] == "connection_failed"
            assert asyncio.get_running_loop().time() - started < 10
            assert gw.uplink.settings.broker == broker.url
            assert_matches_gateway(report, gw)
    finally:
        frozen.close()


async def test_credentials_tried_then_kept_across_restart(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url, remote={"connection_trial_s": 1.5})
    with password_broker("gw-test", "s3cret-pass") as secure:
        async with Collector(broker.host, broker.port) as col1, Gateway(cfg) as gw:
            p1 = Platform(broker.host, broker.port, gw.id, col1)
            wrong = {"broker": secure.url, "username": "gw-test", "password": "wrong-pass"}
            await p1.push({"version": 1, "connection": wrong})
            report = await p1.report_for(1, state="rejected", timeout=20)
            assert report["reason"] == "connection_failed"
            assert "wrong-pass" not in str(p1.reports())
            assert gw.uplink.settings.broker == broker.url

            right = {"broker": secure.url, "username": "gw-test", "password": "s3cret-pass"}
            await p1.push({"version": 2, "connection": right, "heartbeat_interval_s": 45})
            # the report goes to the broker the gateway now uses (retained there)
            report = await retained_report(secure, "gw-test", "s3cret-pass", lambda r: r["version"] == 2)
            assert report["state"] == "applied"
            assert report["effective"]["connection"] == {
                "broker": secure.url,
                "username": "gw-test",
                "tls": False,
                "client_certificate": False,
            }
            assert "s3cret-pass" not in json.dumps(report)
            assert gw.uplink.settings.broker == secure.url == gw.config.uplink.broker
            assert gw.config.health.heartbeat_interval_s == 45
            assert_matches_gateway(report, gw)
        # restart on the local config (old broker): the stored document moves it to the new broker again
        async with Gateway(cfg) as gw2:
            report = await retained_report(
                secure, "gw-test", "s3cret-pass", lambda r: r["version"] == 2 and r["ts"] > report["ts"]
            )
            assert gw2.uplink.settings.broker == secure.url
            assert_matches_gateway(report, gw2)
