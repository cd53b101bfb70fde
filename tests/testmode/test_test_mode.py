"""Installation test mode: flagged events, no escalation, "test received", ends by itself, survives a restart;
and end to end on a real broker through the platform's ``test_mode`` command."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from core.devices import Device
from drivers.base import Reading
from gateway.alarms.service import AlarmService
from gateway.app import Gateway
from gateway.feedback import Feedback
from gateway.outbox import Row
from gateway.settings.feedback import FeedbackSettings
from gateway.testmode.service import STATE_FILE, TestModeService
from gateway.tools.local_broker import Mosquitto
from tests.drivers.gpio.fakes import RecordingOutputs
from tests.remote.platform import Platform
from tests.support.collector import Collector
from tests.support.context import fake_context
from tests.support.gateway import make_config

pytestmark = pytest.mark.timeout(60)

BUTTON = Device("btn-1", "call_button", "sim", name="Pull cord", room="bedroom", capabilities=["press"])


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_test_press_is_flagged_never_escalates_and_mode_ends_by_itself(tmp_path: Path) -> None:
    core = fake_context(tmp_path)
    feedback = Feedback(FeedbackSettings(speaker=False), outputs=RecordingOutputs(), scale=0.01)
    test_mode = TestModeService(core.ctx)
    test_mode.recheck_s = 0.05  # the fake clock jumps: look at it often
    alarms = AlarmService(core.ctx, feedback)
    changes: list[bool] = []
    test_mode.changed.connect(changes.append)
    for service in (feedback, test_mode, alarms):
        await service.start()
    try:
        with pytest.raises(ValueError):
            await test_mode.start_test(0, by="tech")
        result = await test_mode.start_test(10, by="tech-3")
        assert result["active"] and test_mode.test_mode_active and changes == [True]
        started = core.emitted[-1]
        assert started.kind == "gateway.test_mode_started" and started.data["by"] == "tech-3"
        assert started.data["until_ts"] == core.clock.wall_ms() + 600_000

        [call] = await core.ctx.emit(core.rules.on_reading(Reading("btn-1", "press", True), BUTTON))
        assert call.kind == "alarm.emergency_call" and call.data["test"] is True
        core.uplink.delivered.emit([Row(call.seq or 0, 0, call.to_bytes())])
        await _until(lambda: "alarm.sent" in core.kinds())
        sent = next(e for e in core.emitted if e.kind == "alarm.sent")
        assert sent.data["test"] is True  # the lifecycle of a test alarm is flagged too
        await asyncio.sleep(0.05)
        assert [tag for _, tag, _ in feedback.said] == ["test_received"]  # not "call sent": nobody is coming
        assert feedback.said[0][2] == "测试信号已收到。"

        core.clock.advance(301)  # past the escalation interval: a test alarm never escalates
        assert [d.kind for d in core.rules.tick()] == []
        core.clock.advance(300)  # the ten minutes are up: test mode ends by itself
        await _until(lambda: "gateway.test_mode_ended" in core.kinds(), timeout=5)
        ended = core.emitted[-1]
        assert ended.data == {"reason": "expired", "by": "gateway"} and not test_mode.test_mode_active
        resolved = core.emitted[-2]
        assert resolved.kind == "alarm.resolved" and resolved.data["reason"] == "test_ended"
        assert resolved.data["alarm"] == call.id and not core.rules.book.open
        assert changes == [True, False] and not (tmp_path / STATE_FILE).exists()

        [real] = await core.ctx.emit(core.rules.on_reading(Reading("btn-1", "press", True), BUTTON))
        assert real.kind == "alarm.emergency_call" and "test" not in real.data  # a real call again
        await asyncio.sleep(0.05)
        assert feedback.current == "raised"
    finally:
        for service in (alarms, test_mode, feedback):
            await service.stop()


async def test_restart_in_the_middle_resumes_and_after_the_deadline_ends(tmp_path: Path) -> None:
    core = fake_context(tmp_path)
    first = TestModeService(core.ctx)
    await first.start()
    await first.start_test(5, by="tech")
    await first.stop()

    core.clock.advance(60)  # restarted a minute later: still on, same deadline
    again = TestModeService(core.ctx)
    await again.start()
    assert again.test_mode_active and again.until_ms == first.until_ms
    [call] = await core.ctx.emit(core.rules.on_reading(Reading("btn-1", "press", True), BUTTON))
    assert call.data["test"] is True
    await again.stop()

    core.clock.advance(600)  # restarted after the deadline: ends at once, and the platform hears it
    late = TestModeService(core.ctx)
    await late.start()
    assert not late.test_mode_active and core.kinds()[-1] == "gateway.test_mode_ended"
    assert core.emitted[-1].data["reason"] == "expired"
    result = await late.end_test("tech")  # ending it again changes nothing
    assert result == {"active": False} and core.kinds().count("gateway.test_mode_ended") == 1
    await late.stop()


async def test_test_mode_end_to_end_on_the_broker(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        p = Platform(broker.host, broker.port, gw.id, col)
        body = p.command("test_mode", {"minutes": 30, "by": "installer-9"})
        await p.send(body)
        result = await p.result(body["id"])
        assert result["status"] == "ok" and result["result"]["active"] is True, result
        await col.wait_for(lambda c: any(e["kind"] == "gateway.test_mode_started" for e in c.events))

        await gw.drivers["sim"].inject("btn-1", "press", True, trace="test-press")  # type: ignore[attr-defined]
        await col.wait_for(lambda c: any(e["kind"] == "alarm.emergency_call" for e in c.events))
        call = next(e for e in col.events if e["kind"] == "alarm.emergency_call")
        assert call["data"]["test"] is True  # the flag is on the broker

        stop = p.command("test_mode", {"minutes": 0, "by": "installer-9"})
        await p.send(stop)
        assert (await p.result(stop["id"]))["result"] == {"active": False}
        await col.wait_for(lambda c: any(e["kind"] == "gateway.test_mode_ended" for e in c.events))
        ended = next(e for e in col.events if e["kind"] == "gateway.test_mode_ended")
        assert ended["data"] == {"reason": "stopped", "by": "installer-9"}
        bad = p.command("test_mode", {"minutes": 1000})
        await p.send(bad)
        assert (await p.result(bad["id"]))["status"] == "rejected"


async def test_second_path_sends_nothing_in_test_mode(tmp_path: Path) -> None:
    """The real test-mode service is the second path's TestMode: no SMS for a test press; a real one after."""
    from gateway.failover.service import SecondPath
    from tests.failover.fakes import FakeModem
    from tests.failover.test_second_path import CORD, settings

    cfg = make_config(tmp_path, "mqtt://127.0.0.1:9", modem=settings())
    core = fake_context(tmp_path, cfg)
    feedback = Feedback(FeedbackSettings(speaker=False), outputs=RecordingOutputs(), scale=0.01)
    test_mode = TestModeService(core.ctx)
    alarms = AlarmService(core.ctx, feedback)
    modem = FakeModem()
    path = SecondPath(core.ctx, alarms, modem, test_mode)
    for service in (feedback, test_mode, alarms, path):
        await service.start()
    try:
        await test_mode.start_test(10, by="tech")
        await core.ctx.emit(core.rules.on_reading(Reading("cord-1", "press", True), CORD))
        await asyncio.sleep(1.5)  # past sms_after_s with no PUBACK
        assert modem.sms == []  # a technician's test: nobody's phone rings
        await test_mode.end_test("tech")
        await core.ctx.emit(core.rules.on_reading(Reading("cord-1", "press", True), CORD))
        await _until(lambda: len(modem.sms) == 3)  # a real call: every contact texted
    finally:
        for service in (path, alarms, test_mode, feedback):
            await service.stop()
