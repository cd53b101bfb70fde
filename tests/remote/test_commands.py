"""Every platform command against a real Mosquitto, with expiry, replay and offline results."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.app import Gateway
from gateway.clock import Clock
from gateway.remote.actions import EXIT_RESTART, default_restarter
from gateway.remote.commands import CommandService
from gateway.tools.local_broker import Mosquitto
from tests.remote.platform import Platform
from tests.support.collector import Collector
from tests.support.gateway import GatewayProcess, config_dict, make_config, write_toml

pytestmark = pytest.mark.timeout(60)


def commands_of(gw: Gateway) -> CommandService:
    service = gw.service("remote_commands")
    assert isinstance(service, CommandService)
    return service


async def run(p: Platform, cmd: str, args: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    body = p.command(cmd, args, **kw)
    await p.send(body)
    return await p.result(body["id"])


async def test_ping_and_self_test(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        pong = await run(p, "ping")
        assert (pong["status"], pong["reason"], pong["gateway"], pong["cmd"]) == ("ok", None, "gw-test", "ping")
        assert pong["result"]["pong"] is True and pong["result"]["clock_synced"] is True

        report = (await run(p, "self_test"))["result"]
        assert report["ok"] is True
        checks = report["checks"]
        assert set(checks) == {"radios", "storage", "uplink", "time"}
        assert checks["radios"]["drivers"] == [{"transport": "sim", "state": "up", "detail": "", "ok": True}]
        assert checks["storage"]["writable"] is True and checks["storage"]["free_bytes"] > 0
        assert checks["uplink"]["ok"] is True and checks["uplink"]["state"] == "online"
        assert checks["time"]["synced"] is True
        gw.driver_errors["zigbee"] = "no coordinator on /dev/ttyUSB0"  # a radio that did not start
        failing = (await run(p, "self_test"))["result"]
        assert failing["ok"] is False and failing["checks"]["radios"]["ok"] is False
        assert {
            "transport": "zigbee",
            "state": "down",
            "detail": "no coordinator on /dev/ttyUSB0",
            "ok": False,
        } in failing["checks"]["radios"]["drivers"]


async def test_permit_join(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url, remote={"permit_join_max_s": 300})
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        opened = await run(p, "permit_join", {"seconds": 120})
        assert opened["status"] == "ok" and opened["result"] == {"seconds": 120, "opened": ["sim"], "errors": {}}
        for _ in range(100):  # the simulated device joins a moment later
            if gw.registry.get("sim-new-1") is not None:
                break
            await asyncio.sleep(0.02)
        assert gw.registry.get("sim-new-1") is not None
        assert (await run(p, "permit_join", {"seconds": 120, "transport": "sim"}))["status"] == "ok"
        too_long = await run(p, "permit_join", {"seconds": 301})
        assert (too_long["status"], too_long["reason"]) == ("error", "out_of_range")
        absent = await run(p, "permit_join", {"seconds": 60, "transport": "zigbee"})
        assert (absent["status"], absent["reason"]) == ("error", "unsupported")
        wrong = await run(p, "permit_join", {"seconds": "60"})
        assert (wrong["status"], wrong["reason"]) == ("rejected", "wrong_type")
        missing = await run(p, "permit_join", {})
        assert (missing["status"], missing["reason"]) == ("rejected", "missing_key")


async def test_open_install_window(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url, web={"open_on_first_boot": False})
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        web: Any = gw.service("web")
        assert not web.window.is_open
        done = await run(p, "open_install_window", {"seconds": 600})
        assert (done["status"], done["result"]) == ("ok", {"seconds": 600})
        assert web.window.is_open and 590 <= web.window.remaining_s() <= 600
        gw.services.remove(web)  # a gateway built without the technician page
        try:
            absent = await run(p, "open_install_window")
            assert (absent["status"], absent["reason"]) == ("error", "unsupported")
            assert "web" in absent["detail"]
        finally:
            gw.services.append(web)


async def test_identify(broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        unknown = await run(p, "identify", {"device": "zb-00124b0000000001"})
        assert (unknown["status"], unknown["reason"]) == ("error", "unknown_device")
        cannot = await run(p, "identify", {"device": "btn-1"})  # simulated devices cannot blink
        assert (cannot["status"], cannot["reason"]) == ("error", "unsupported")
        asked: list[str] = []

        async def blink(device_id: str) -> bool:
            asked.append(device_id)
            return True

        monkeypatch.setattr(gw.drivers["sim"], "identify", blink)
        done = await run(p, "identify", {"device": "btn-1"})
        assert (done["status"], done["result"]) == ("ok", {"device": "btn-1", "transport": "sim"})
        assert asked == ["btn-1"]


class FakeAlarms:
    """Stands in for the alarm lifecycle service (built elsewhere) with the interface the command expects."""

    name = "alarms"

    def __init__(self) -> None:
        self.acks: list[tuple[str, str, str]] = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ack(self, alarm_id: str, by: str, note: str = "") -> dict[str, Any]:
        if alarm_id == "0190-unknown":
            raise LookupError(alarm_id)
        self.acks.append((alarm_id, by, note))
        return {"state": "acknowledged"}


async def test_alarm_ack(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        gw.services[:] = [s for s in gw.services if s.name != "alarms"]  # as on a gateway without the lifecycle
        absent = await run(p, "alarm_ack", {"alarm": "0190-abc", "by": "op-7"})
        assert (absent["status"], absent["reason"]) == ("error", "unsupported")
        alarms = FakeAlarms()
        gw.services.append(alarms)
        done = await run(p, "alarm_ack", {"alarm": "0190-abc", "by": "op-7", "note": "called back"})
        assert done["status"] == "ok" and done["result"]["ack"] == {"state": "acknowledged"}
        assert alarms.acks == [("0190-abc", "op-7", "called back")]
        unknown = await run(p, "alarm_ack", {"alarm": "0190-unknown"})
        assert (unknown["status"], unknown["reason"]) == ("error", "unknown_alarm")


async def test_upload_logs_bounded_and_redacted(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url, remote={"log_upload_max_bytes": 4096})
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        noisy = logging.getLogger("gateway.test-noise")
        for i in range(300):
            noisy.warning("line %d of noise to fill the buffer", i)
        noisy.warning("uplink password=hunter2-secret now in use")
        noisy.warning("the newest line")
        logs = await run(p, "upload_logs")
        text = logs["result"]["logs"]
        assert logs["result"]["truncated"] is True
        assert logs["result"]["bytes"] == len(text.encode()) <= 4096
        assert text.rstrip().endswith("the newest line")
        assert "hunter2-secret" not in text and "password=***" in text
        small = await run(p, "upload_logs", {"max_bytes": 500})
        assert small["result"]["bytes"] <= 500
        huge = await run(p, "upload_logs", {"max_bytes": 10_000_000})  # capped by the local limit
        assert huge["result"]["bytes"] <= 4096


async def test_restart_runs_once_after_its_result(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        service = commands_of(gw)
        calls: list[int] = []
        service.restarter = lambda: calls.append(len(service._pending))
        body = p.command("restart")
        await p.send(body)
        result = await p.result(body["id"])
        assert (result["status"], result["result"]) == ("ok", {"restarting": True, "exit_code": EXIT_RESTART})
        assert calls == [0]  # once, after the result was acknowledged by the broker
        await p.send(body)  # redelivered / replayed
        again = await p.result(body["id"], n=2)
        assert (again["status"], again["reason"]) == ("rejected", "duplicate")
        assert again["first"]["status"] == "ok"
        assert calls == [0]


async def test_default_restarter_requests_a_clean_exit(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url)
    async with Gateway(cfg) as gw:
        got = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, got.set)  # what `fbgw run` does with SIGTERM: stop cleanly
        try:
            default_restarter(gw)()
            async with asyncio.timeout(5):
                await got.wait()
        finally:
            loop.remove_signal_handler(signal.SIGTERM)
        assert gw.exit_code == EXIT_RESTART  # type: ignore[attr-defined]


async def test_restart_command_stops_a_real_gateway_cleanly(broker: Mosquitto, tmp_path: Path) -> None:
    conf = write_toml(tmp_path / "gw.toml", config_dict(tmp_path / "state", broker.url))
    proc = GatewayProcess(conf, tmp_path / "gw.log")
    async with Collector(broker.host, broker.port) as col:
        p = Platform(broker.host, broker.port, "gw-test", col)
        await asyncio.to_thread(proc.start)
        try:
            body = p.command("restart")
            await p.send(body)
            assert (await p.result(body["id"], timeout=15))["status"] == "ok"
            assert proc.proc is not None
            code = await asyncio.to_thread(proc.proc.wait, 20)
            # Clean: the retained status says it shut down (not the last will of a lost connection).
            await col.wait_for(
                lambda c: any(t == "fbgw/v1/gw-test/status" and b'"shutdown"' in m for t, m, _ in c.messages)
            )
            # EXIT_RESTART once `fbgw run` returns gw.exit_code (see docs/remote.md); 0 before that.
            assert code in (0, EXIT_RESTART), (tmp_path / "gw.log").read_text()[-2000:]
            # After systemd starts it again, the same command is not run a second time.
            await asyncio.to_thread(proc.start)
            await p.send(body)
            again = await p.result(body["id"], n=2, timeout=15)
            assert (again["status"], again["reason"]) == ("rejected", "duplicate")
            assert proc.alive()
        finally:
            if proc.alive():
                proc.terminate()


async def test_expiry_and_replay(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url, remote={"command_clock_skew_s": 30, "command_max_ttl_s": 3600})
    async with Collector(broker.host, broker.port) as col:
        p = Platform(broker.host, broker.port, "gw-test", col)
        async with Gateway(cfg) as gw:
            sim: Any = gw.drivers["sim"]
            expired = await run(p, "permit_join", {"seconds": 30}, ttl_s=-60)
            assert (expired["status"], expired["reason"]) == ("rejected", "expired")
            assert sim._pair_counter == 0  # not run
            within_skew = await run(p, "ping", ttl_s=-10)
            assert within_skew["status"] == "ok"
            too_far = await run(p, "ping", ttl_s=2 * 3600)
            assert (too_far["status"], too_far["reason"]) == ("rejected", "expiry_too_far")

            body = p.command("permit_join", {"seconds": 30}, cmd_id="join-once")
            await p.send(body)
            assert (await p.result("join-once"))["status"] == "ok"
            await p.send(body)
            dup = await p.result("join-once", n=2)
            assert (dup["status"], dup["reason"], dup["first"]["status"]) == ("rejected", "duplicate", "ok")
            assert sim._pair_counter == 1
        async with Gateway(cfg) as gw2:  # remembered across a restart
            await p.send(body)
            dup = await p.result("join-once", n=3)
            assert (dup["status"], dup["reason"]) == ("rejected", "duplicate")
            assert gw2.drivers["sim"]._pair_counter == 0  # type: ignore[attr-defined]


class UnsyncedClock(Clock):
    def synced(self) -> bool:
        return False


async def test_unsynced_clock_cannot_judge_expiry(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg, clock=UnsyncedClock()) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        old = await run(p, "ping", ttl_s=-3600)
        assert old["status"] == "ok" and old["clock_synced"] is False
        body = p.command("ping", ttl_s=-3600)
        await p.send(body)
        await p.result(body["id"])
        await p.send(body)
        assert (await p.result(body["id"], n=2))["reason"] == "duplicate"  # replays still refused


def envelope(**fields: Any) -> bytes:
    # Built at import time: valid for hours, so a long suite still sends it unexpired (max TTL is 24 h).
    base = {"id": "c-1", "cmd": "ping", "args": {}, "expires_at": int((time.time() + 6 * 3600) * 1000)}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not None}).encode()


BAD: list[tuple[bytes, str]] = [
    (b"not json", "not_json"),
    (b'"ping"', "not_json"),
    (envelope(padding="x" * 70_000), "too_large"),
    (envelope(cmd="format_disk"), "unknown_command"),
    (envelope(id=None), "missing_key"),
    (envelope(expires_at=None), "missing_key"),
    (envelope(expires_at="tomorrow"), "wrong_type"),
    (envelope(id="has spaces"), "out_of_range"),
    (envelope(colour="red"), "unknown_key"),
    (envelope(cmd="permit_join", args={"seconds": 10, "channel": 11}), "unknown_key"),
    (envelope(gateway="gw-other"), "wrong_gateway"),
]


async def test_bad_commands_are_rejected_with_a_reason(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        for payload, reason in BAD:
            n = len(p.results())
            await p.send(payload)
            await col.wait_for(lambda c, n=n: len(p.results()) > n)
            result = p.results()[-1]
            assert (result["status"], result["reason"]) == ("rejected", reason), (payload[:200], result)
            assert result["detail"]
        assert commands_of(gw).seen == {}  # nothing refused was remembered as run
        good = await run(p, "ping", cmd_id="c-2")
        assert good["status"] == "ok"


async def test_results_made_offline_are_sent_on_reconnect(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url)
    async with Gateway(cfg) as gw:
        service = commands_of(gw)
        broker.stop()
        for _ in range(100):
            if not gw.uplink.connected:
                break
            await asyncio.sleep(0.05)
        async with asyncio.timeout(10):
            result = await service.handle(envelope(id="offline-1"))
        assert result["status"] == "ok" and len(service._pending) == 1
        broker.start()
        async with Collector(broker.host, broker.port) as col:
            p = Platform(broker.host, broker.port, gw.id, col)
            got = await p.result("offline-1", timeout=15)
            assert got["status"] == "ok"
        assert not service._pending


async def test_disabled_services_do_not_listen(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url, remote={"commands_enabled": False, "config_enabled": False})
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        await p.push({"version": 1, "heartbeat_interval_s": 33})
        await p.send(p.command("ping", cmd_id="ignored"))
        await col.wait_for(lambda c: any(t.endswith("/status") for t, _, _ in c.messages))
        await asyncio.sleep(0.5)
        assert p.results() == [] and p.reports() == []
        assert gw.config.health.heartbeat_interval_s != 33
