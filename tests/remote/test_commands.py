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

from core.clock import Clock
from gateway.alarms.service import AlarmService
from gateway.app import Gateway
from gateway.ports import EXIT_RESTART
from gateway.remote.commands import CommandService
from gateway.tools.local_broker import Mosquitto
from gateway.web.signin_code import hash_code
from tests.remote.platform import Platform
from tests.support.collector import Collector
from tests.support.gateway import GatewayProcess, config_dict, make_config, write_toml
from tests.web.conftest import client_for, prelogin

pytestmark = pytest.mark.timeout(60)


def commands_of(gw: Gateway) -> CommandService:
    service = gw.services.remote_commands
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
        web: Any = gw.services.web
        assert not web.window.is_open
        done = await run(p, "open_install_window", {"seconds": 600})
        assert (done["status"], done["result"]) == ("ok", {"seconds": 600})
        assert web.window.is_open and 590 <= web.window.remaining_s() <= 600
        web.close_install_window()
        default = await run(p, "open_install_window")  # no seconds: the configured length
        assert default["status"] == "ok" and default["result"]["seconds"] == cfg.web.install_window_s


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
    """Stands in for the alarm lifecycle service: the AlarmAcks port the command uses."""

    def __init__(self) -> None:
        self.acks: list[tuple[str, str, str]] = []

    async def ack(self, alarm_id: str, by: str = "platform", note: str = "", action: str = "ack") -> dict[str, Any]:
        if alarm_id == "0190-unknown":
            raise LookupError(alarm_id)
        self.acks.append((alarm_id, by, note))
        return {"state": "acknowledged"}


async def test_alarm_ack(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        alarms = FakeAlarms()
        gw.services.remote_commands.alarms = alarms  # the AlarmAcks port, as services.py wires it
        done = await run(p, "alarm_ack", {"alarm": "0190-abc", "by": "op-7", "note": "called back"})
        assert done["status"] == "ok" and done["result"]["ack"] == {"state": "acknowledged"}
        assert alarms.acks == [("0190-abc", "op-7", "called back")]
        unknown = await run(p, "alarm_ack", {"alarm": "0190-unknown"})
        assert (unknown["status"], unknown["reason"]) == ("error", "unknown_alarm")


async def test_alarm_ack_through_the_real_alarm_lifecycle(broker: Mosquitto, tmp_path: Path) -> None:
    """With the gateway's own alarm service: a real call is acknowledged by the command, the lifecycle event
    says by whom, a repeat changes nothing and an id the gateway never raised is ``unknown_alarm``."""
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        alarms = gw.services.alarms
        assert isinstance(alarms, AlarmService)
        await gw.drivers["sim"].inject("btn-1", "press", True, trace="call")  # type: ignore[attr-defined]
        await col.wait_for(lambda c: any(e["kind"] == "alarm.emergency_call" for e in c.events))
        call = next(e for e in col.events if e["kind"] == "alarm.emergency_call")

        done = await run(p, "alarm_ack", {"alarm": call["id"], "by": "op-7", "note": "calling back"})
        assert (done["status"], done["reason"]) == ("ok", None), done
        assert done["result"] == {"alarm": call["id"], "ack": {"state": "acknowledged", "alarm": call["id"]}}
        await col.wait_for(lambda c: any(e["kind"] == "alarm.acknowledged" for e in c.events))
        acked = [e for e in col.events if e["kind"] == "alarm.acknowledged"]
        assert len(acked) == 1 and acked[0]["device"]["id"] == "btn-1"
        assert (acked[0]["data"]["alarm"], acked[0]["data"]["by"], acked[0]["data"]["note"]) == (
            call["id"],
            "op-7",
            "calling back",
        )
        assert [a["state"] for a in alarms.status()["open_alarms"]] == ["acknowledged"]

        again = await run(p, "alarm_ack", {"alarm": call["id"]})
        assert again["status"] == "ok" and again["result"]["ack"]["state"] == "acknowledged"
        unknown = await run(p, "alarm_ack", {"alarm": "01940c4e-7a11-7c3e-9d5b-2f1c0a9b8e77"})
        assert (unknown["status"], unknown["reason"]) == ("error", "unknown_alarm")
        await asyncio.sleep(0.3)
        assert len([e for e in col.events if e["kind"] == "alarm.acknowledged"]) == 1  # one event for two acks


async def sign_in_status(gw: Gateway, code: str) -> int:
    """HTTP status of a sign-in with ``code`` through the technician page's form, by a new browser (200: in)."""
    async with client_for(gw) as client:
        token = await prelogin(client)
        headers = {"Accept": "application/json"}
        resp = await client.post("/login", data={"_csrf": token, "code": code}, headers=headers)
        return int(resp.status)


async def test_set_installer_code_replaces_the_sign_in_code(
    broker: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The code the platform issues signs in on the real page, the old one no longer does, and the code is
    nowhere to be read afterwards: not in the result, the logs, the uploaded logs or the state directory."""
    caplog.set_level(logging.DEBUG)
    state = tmp_path / "state"
    cfg = make_config(state, broker.url, web={"discovery": False})
    new_code = "4821-KX-9930"
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        web: Any = gw.services.web
        old_code = web.signin_code_for_console
        assert old_code and web.window.is_open  # first boot: generated code, install window open
        async with client_for(gw) as client:
            token = await prelogin(client)
            signed_in = await client.post("/login", data={"_csrf": token, "code": old_code})
            assert signed_in.status == 200 and (await client.get("/api/overview")).status == 200
            done = await run(p, "set_installer_code", {"code": new_code})
            assert (done["status"], done["reason"], done["result"]) == ("ok", None, {"set": True})
            assert (await client.get("/api/overview")).status == 401  # the old code's session has ended
        assert await sign_in_status(gw, new_code) == 200
        assert await sign_in_status(gw, old_code) == 401

        for bad in ("12345", "4821 9930", "密码密码密码", "x" * 65, 48219930):
            refused = await run(p, "set_installer_code", {"code": bad})
            assert refused["status"] == "rejected" and refused["reason"] in ("out_of_range", "wrong_type")
            assert str(bad) not in json.dumps(refused, ensure_ascii=False)
        assert await sign_in_status(gw, new_code) == 200  # unchanged by the refused ones
        logs = (await run(p, "upload_logs"))["result"]["logs"]
    assert "installer code replaced" in logs
    assert new_code not in logs
    assert not [r for r in caplog.records if new_code in r.getMessage()]
    sent_by_gateway = [payload for topic, payload, _ in col.messages if topic != p.topics.cmd]
    assert sent_by_gateway and all(new_code.encode() not in payload for payload in sent_by_gateway)
    for path in state.rglob("*"):
        if path.is_file():
            assert new_code.encode() not in path.read_bytes(), path


async def test_set_installer_code_refused_when_the_local_config_sets_it(broker: Mosquitto, tmp_path: Path) -> None:
    """A hash in the local config wins at every start, so a platform code would not last: ``unsupported``."""
    pinned = "pinned-code-1"
    cfg = make_config(tmp_path / "state", broker.url, web={"installer_code_hash": hash_code(pinned)})
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        refused = await run(p, "set_installer_code", {"code": "4821-9930"})
        assert (refused["status"], refused["reason"]) == ("error", "unsupported")
        assert "installer_code_hash" in refused["detail"]
        web: Any = gw.services.web
        assert await web.check_code(pinned) and not await web.check_code("4821-9930")


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
        # The subscriber can see the result before the gateway has handled the broker's PUBACK for it.
        await col.wait_for(lambda c: bool(calls), 5)
        assert calls == [0]  # once, after the result was acknowledged by the broker
        await p.send(body)  # redelivered / replayed
        again = await p.result(body["id"], n=2)
        assert (again["status"], again["reason"]) == ("rejected", "duplicate")
        assert again["first"]["status"] == "ok"
        assert calls == [0]


async def test_restart_waits_until_its_result_is_delivered(broker: Mosquitto, tmp_path: Path) -> None:
    """A restart whose result could only be queued (the connection dropped) happens after the result has gone
    out on the next connection, not before: the platform always learns that the gateway restarted on request."""
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port, client_id="platform-restart") as col, Gateway(cfg) as gw:
        service = commands_of(gw)
        calls: list[int] = []
        service.restarter = lambda: calls.append(len(service._pending))
        broker.stop()
        for _ in range(100):
            if not gw.uplink.connected:
                break
            await asyncio.sleep(0.05)
        async with asyncio.timeout(10):
            result = await service.handle(envelope(id="restart-offline", cmd="restart"))
        assert result["status"] == "ok" and len(service._pending) == 1
        await asyncio.sleep(0.3)
        assert calls == []  # the result is not out: no restart yet
        broker.start()
        p = Platform(broker.host, broker.port, gw.id, col)
        delivered = await p.result("restart-offline", timeout=15)
        assert delivered["result"] == {"restarting": True, "exit_code": EXIT_RESTART}
        async with asyncio.timeout(5):
            while not calls:
                await asyncio.sleep(0.02)
        assert calls == [0]  # once, after the result left the queue


async def test_restart_port_requests_a_clean_exit(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url)
    async with Gateway(cfg) as gw:
        got = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, got.set)  # what `fbgw run` does with SIGTERM: stop cleanly
        try:
            gw.request_restart()
            async with asyncio.timeout(5):
                await got.wait()
        finally:
            loop.remove_signal_handler(signal.SIGTERM)
        assert gw.exit_code == EXIT_RESTART


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
            # The documented status, so systemd knows a restart was asked for (docs/remote.md §2.3).
            assert code == EXIT_RESTART, (tmp_path / "gw.log").read_text()[-2000:]
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
