"""Services run on a ServiceContext of fakes: no broker, no Gateway (tests/support/context.py)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from core.devices import Device
from drivers.base import Reading
from gateway.alarms.service import AlarmService
from gateway.feedback import Feedback
from gateway.health.watchdog import WatchdogService
from gateway.outbox import Row
from gateway.remote.commands import CommandService
from gateway.testmode.service import TestModeService
from tests.support.context import fake_context


class FakeFeedback:
    """The FeedbackDisplay port: remembers what the home was told to show."""

    def __init__(self) -> None:
        self.current = "normal"
        self.shown: list[str] = []
        self.kinds: list[str | None] = []

    def signal(self, state: str, *, device_id: str | None = None, kind: str | None = None) -> None:
        self.current = state
        self.shown.append(state)
        self.kinds.append(kind)


BUTTON = Device("btn-1", "call_button", "sim", name="Pull cord", room="bathroom", capabilities=["press"])


async def _until(predicate: Any, timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_alarm_service_runs_the_lifecycle_on_fakes(tmp_path: Path) -> None:
    core = fake_context(tmp_path)
    feedback = FakeFeedback()
    service = AlarmService(core.ctx, feedback)
    await service.start()
    assert core.uplink.topics.alarm_ack in core.uplink.handlers  # listens for the platform's acks

    [call] = await core.ctx.emit(core.rules.on_reading(Reading("btn-1", "press", True), BUTTON))
    assert call.kind == "alarm.emergency_call"
    core.uplink.delivered.emit([Row(call.seq or 0, 0, call.to_bytes())])  # the broker's PUBACK
    await _until(lambda: "alarm.sent" in core.kinds())
    assert feedback.current == "call_sent"

    core.uplink.go(False)  # the connection drops: calls cannot get through now
    assert feedback.current == "uplink_down"
    core.uplink.go(True)
    assert feedback.current == "call_sent"  # back: where the open alarm stands

    result = await service.ack(call.id, by="op-7", note="on the way")
    assert result == {"state": "acknowledged", "alarm": call.id}
    ack = next(e for e in core.emitted if e.kind == "alarm.acknowledged")
    assert ack.data["by"] == "op-7"
    assert feedback.current == "call_received"
    core.uplink.go(False)
    assert feedback.current == "call_received"  # help is coming: a lost connection does not change that
    with pytest.raises(LookupError):
        await service.ack("0190-never-raised")
    await service.stop()
    core.uplink.go(True)
    assert len(core.uplink.state_changed) == 0 and len(core.ctx.committed) == 0  # every listener let go


async def test_a_failing_feedback_never_breaks_the_alarm(tmp_path: Path) -> None:
    class BrokenFeedback(FakeFeedback):
        def signal(self, state: str, *, device_id: str | None = None, kind: str | None = None) -> None:
            raise RuntimeError("amplifier on fire")

    core = fake_context(tmp_path)
    service = AlarmService(core.ctx, BrokenFeedback())
    await service.start()
    [call] = await core.ctx.emit(core.rules.on_reading(Reading("btn-1", "press", True), BUTTON))
    core.uplink.delivered.emit([Row(call.seq or 0, 0, call.to_bytes())])
    await _until(lambda: "alarm.sent" in core.kinds())
    assert service.stats["listener_errors"] >= 1
    await service.stop()


class FakeCoreHealth:
    """The CoreHealth port with tasks and a writer the test controls."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.tasks: dict[str, asyncio.Task[Any] | None] = {}
        self.writer: asyncio.Future[None] | None = None

    def core_tasks(self) -> dict[str, asyncio.Task[Any] | None]:
        return self.tasks

    def probe_writer(self) -> asyncio.Future[None] | None:
        return self.writer


class FakeNotifier:
    def __init__(self) -> None:
        self.sent: list[tuple[str, ...]] = []

    def notify(self, *fields: str) -> bool:
        self.sent.append(fields)
        return True

    def close(self) -> None:
        return None


async def test_watchdog_pings_only_while_core_is_healthy(tmp_path: Path) -> None:
    core = fake_context(tmp_path)
    health = FakeCoreHealth()
    alive = asyncio.get_running_loop().create_task(asyncio.sleep(3600))
    dead = asyncio.get_running_loop().create_task(asyncio.sleep(0))
    await asyncio.sleep(0.01)
    health.tasks = {"uplink": alive, "rules-tick": alive, "outbox-writer": alive}
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    health.writer = done
    notifier = FakeNotifier()
    dog = WatchdogService(core.ctx, health, notifier, env={"WATCHDOG_USEC": "2000000"})  # type: ignore[arg-type]
    assert dog.check() == []
    dog.tick()
    assert ("WATCHDOG=1",) in notifier.sent

    health.tasks["rules-tick"] = dead  # a core task has died: no ping, and systemd is asked to act now
    notifier.sent.clear()
    dog.tick()
    assert ("WATCHDOG=1",) not in notifier.sent and ("WATCHDOG=trigger",) in notifier.sent
    assert dog.problems == ["rules-tick"]

    health.tasks["rules-tick"] = alive
    health.writer = asyncio.get_running_loop().create_future()  # the writer thread takes no more work
    dog.probe.timeout_s = 0.05
    assert dog.check() == []  # a probe just started
    time.sleep(0.06)
    assert dog.check() == ["outbox-writer-stalled"]
    alive.cancel()


class FakeWindow:
    def __init__(self) -> None:
        self.opened: list[float | None] = []
        self.window_is_open = False

    def open_install_window(self, seconds: float | None = None, by: str = "platform") -> int:
        if seconds is not None and seconds <= 0:
            raise ValueError("seconds must be positive")
        self.opened.append(seconds)
        self.window_is_open = True
        return int(seconds or 3600)


class FakeAcks:
    def __init__(self) -> None:
        self.acks: list[tuple[str, str]] = []

    async def ack(self, alarm_id: str, by: str = "platform", note: str = "", action: str = "ack") -> dict[str, Any]:
        if alarm_id == "unknown":
            raise LookupError(alarm_id)
        self.acks.append((alarm_id, by))
        return {"state": "acknowledged", "alarm": alarm_id}


class FakeCodes:
    async def set_installer_code(self, code: str) -> None:
        return None


class FakeRestart:
    def __init__(self) -> None:
        self.requested = 0

    def request_restart(self) -> None:
        self.requested += 1


def _cmd(now_ms: int, name: str, args: dict[str, Any] | None = None, cmd_id: str = "c-1") -> bytes:
    expires = now_ms + 60_000
    return json.dumps({"id": cmd_id, "cmd": name, "args": args or {}, "expires_at": expires}).encode()


async def test_commands_reach_other_services_only_through_ports(tmp_path: Path) -> None:
    core = fake_context(tmp_path, gateway_id="gw-test")
    acks, window, restart = FakeAcks(), FakeWindow(), FakeRestart()
    service = CommandService(
        core.ctx,
        alarms=acks,
        window=window,
        codes=FakeCodes(),
        restart=restart,
        test_mode=TestModeService(core.ctx),
        packs=Feedback(),
    )

    ok = await service.handle(_cmd(core.clock.wall, "alarm_ack", {"alarm": "0190-a", "by": "op-7"}, "c-1"))
    assert (ok["status"], ok["result"]["ack"]["state"]) == ("ok", "acknowledged")
    assert acks.acks == [("0190-a", "op-7")]
    unknown = await service.handle(_cmd(core.clock.wall, "alarm_ack", {"alarm": "unknown"}, "c-2"))
    assert (unknown["status"], unknown["reason"]) == ("error", "unknown_alarm")

    opened = await service.handle(_cmd(core.clock.wall, "open_install_window", {"seconds": 600}, "c-3"))
    assert opened["result"] == {"seconds": 600} and window.opened == [600]

    again = await service.handle(_cmd(core.clock.wall, "open_install_window", {"seconds": 600}, "c-3"))  # a replayed id
    assert again["status"] == "rejected" and window.opened == [600]

    restarted = await service.handle(_cmd(core.clock.wall, "restart", {}, "c-4"))
    assert restarted["status"] == "ok"
    assert restart.requested == 1  # after the result went out (the fake uplink takes it at once)
    published = [json.loads(p) for t, p, _ in core.uplink.published if t == core.uplink.topics.cmd_result]
    assert [r["id"] for r in published] == ["c-1", "c-2", "c-3", "c-3", "c-4"]
