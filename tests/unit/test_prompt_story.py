"""The whole story as the elder hears it: a call, a smoke alarm and a gas alarm, online and offline.

The alarm service runs on a context of fakes (tests/support/context.py) with the real rule engine and the real
feedback service; every prompt handed to the voice is asserted, in order and word for word, so no prompt claims
a delivery, an SMS or an answer that did not happen.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from core.devices import Device
from core.events import Event, EventDraft, Priority
from drivers.base import Reading
from gateway.alarms.service import AlarmService
from gateway.feedback import Feedback
from gateway.feedback.prompts import KINDS, LANGUAGES, PROMPTS, prompt_kind
from gateway.outbox import Row
from gateway.settings.feedback import FeedbackSettings
from tests.drivers.gpio.fakes import RecordingOutputs
from tests.support.context import FakeCore, fake_context

pytestmark = pytest.mark.timeout(30)

BUTTON = Device("btn-1", "call_button", "sim", name="Pull cord", room="bedroom", capabilities=["press"])
SMOKE = Device("smk-1", "smoke", "sim", name="Smoke", room="kitchen", capabilities=["smoke"])
GAS = Device("gas-1", "gas", "sim", name="Gas", room="kitchen", capabilities=["gas"])

DELAY = 0.2  # the "sending" prompt waits this long for the broker


class Story:
    def __init__(self, core: FakeCore, feedback: Feedback, alarms: AlarmService) -> None:
        self.core, self.feedback, self.alarms = core, feedback, alarms

    async def read(self, device: Device, capability: str, value: Any) -> Event:
        [event] = await self.core.ctx.emit(self.core.rules.on_reading(Reading(device.id, capability, value), device))
        await self.settle()
        return event

    def puback(self, event: Event) -> None:
        self.core.uplink.delivered.emit([Row(event.seq or 0, 0, event.to_bytes())])

    async def escalate(self) -> None:
        self.core.clock.advance(301)  # default escalate_after_s = 300
        drafts = self.core.rules.tick()
        assert [d.kind for d in drafts] == ["alarm.escalated"]
        await self.core.ctx.emit(drafts)
        await self.settle()

    async def sms_sent(self, alarm: Event, ok: bool = True) -> None:
        """What the failover service commits once the second path sent the alarm."""
        data = {"alarm": alarm.id, "kind": alarm.kind, "message": "fallback", "contact": "daughter", "ok": ok}
        await self.core.ctx.emit([EventDraft("alarm.sms_sent", Priority.ALERT, alarm.device, data)])
        await self.settle()

    async def ack(self, alarm: Event) -> None:
        await self.alarms.ack(alarm.id, by="op-1")
        await self.settle()

    async def settle(self, seconds: float = 0.05) -> None:
        await asyncio.sleep(seconds)

    def heard(self) -> list[str]:
        return [tag for _, tag, _ in self.feedback.said]

    def texts(self) -> list[str]:
        return [text for _, _, text in self.feedback.said]


@pytest.fixture
async def story(tmp_path: Path) -> Any:
    core = fake_context(tmp_path)
    settings = FeedbackSettings(speaker=False, raised_prompt_delay_s=DELAY)
    feedback = Feedback(settings, outputs=RecordingOutputs(), scale=0.01)
    alarms = AlarmService(core.ctx, feedback)
    await feedback.start()
    await alarms.start()
    yield Story(core, feedback, alarms)
    await alarms.stop()
    await feedback.stop()


def zh(kind: str, state: str) -> str:
    return PROMPTS[(prompt_kind(kind), state)]["zh-CN"]  # type: ignore[index]


async def test_call_online(story: Story) -> None:
    call = await story.read(BUTTON, "press", True)
    story.puback(call)  # the broker has it well within the "sending" delay: only "delivered" is said
    await story.settle(DELAY + 0.1)
    await story.escalate()
    await story.ack(call)
    assert story.heard() == ["call.call_sent", "call.escalated", "call.call_received"]
    assert story.texts() == [
        "呼叫已送达服务平台，正在等待回应。",
        "暂时没有回应，正在继续呼叫。",
        "工作人员已收到呼叫，救助正在赶来，请保持冷静。",
    ]


async def test_call_online_slow_broker_says_sending_first(story: Story) -> None:
    call = await story.read(BUTTON, "press", True)
    await story.settle(DELAY + 0.1)  # no PUBACK yet: "sending", never "sent"
    assert story.heard() == ["call.raised"]
    story.puback(call)
    await story.settle()
    assert story.texts() == ["正在发送呼叫，请稍候。", "呼叫已送达服务平台，正在等待回应。"]


async def test_call_offline_then_sms_then_back_online(story: Story) -> None:
    story.core.uplink.go(False)
    await story.settle()
    assert story.heard() == []  # no alarm open: the network light only
    call = await story.read(BUTTON, "press", True)
    await story.sms_sent(call, ok=False)  # no modem: nothing was sent, nothing is said
    await story.sms_sent(call)
    story.core.uplink.go(True)
    story.puback(call)
    await story.settle(DELAY + 0.1)
    await story.ack(call)
    assert story.texts() == [
        "网络不通，呼叫没能发出，请用电话求助。",
        "已用短信发出呼叫，正在等待回应。",
        "呼叫已送达服务平台，正在等待回应。",
        "工作人员已收到呼叫，救助正在赶来，请保持冷静。",
    ]


async def test_smoke_online(story: Story) -> None:
    smoke = await story.read(SMOKE, "smoke", True)
    story.puback(smoke)
    await story.settle(DELAY + 0.1)
    await story.ack(smoke)
    assert story.texts() == [
        "检测到烟雾。请马上离开家，不要乘电梯。报警已送达服务平台，正在等待回应。",
        "检测到烟雾。请马上离开家，不要乘电梯。工作人员已收到报警，救助正在赶来，请保持冷静。",
    ]
    assert "呼叫已发出" not in "".join(story.texts())  # the old one-size prompt is gone


async def test_smoke_offline_no_second_path(story: Story) -> None:
    story.core.uplink.go(False)
    smoke = await story.read(SMOKE, "smoke", True)
    await story.escalate()  # five minutes on, still nothing has left the box: the same honest prompt again
    story.core.uplink.go(True)
    await story.settle(DELAY + 0.1)  # back, not yet at the broker: "sending"
    story.puback(smoke)
    await story.settle()
    assert story.heard() == ["smoke.not_sent", "smoke.not_sent", "smoke.raised", "smoke.call_sent"]
    assert story.texts()[0] == "检测到烟雾。请马上离开家，不要乘电梯。网络不通，报警没能发出，请用电话求助。"
    assert all("联系您的紧急联系人" not in t for t in story.texts())


async def test_gas_online_and_offline(story: Story) -> None:
    gas = await story.read(GAS, "gas", True)
    story.puback(gas)
    await story.settle(DELAY + 0.1)
    story.core.uplink.go(False)  # delivered already: the light shows the network is down, nothing is unsaid
    await story.settle()
    await story.escalate()  # the alarm reached the platform before: "still trying" is true
    story.core.uplink.go(True)
    await story.ack(gas)
    advice = "检测到燃气泄漏。不要开关任何电器，打开窗户，马上离开家。"
    assert story.texts() == [
        advice + "报警已送达服务平台，正在等待回应。",
        advice + "暂时没有回应，正在继续呼叫。",
        advice + "工作人员已收到报警，救助正在赶来，请保持冷静。",
    ]


async def test_gas_offline_then_delivered(story: Story) -> None:
    story.core.uplink.go(False)
    gas = await story.read(GAS, "gas", True)
    story.core.uplink.go(True)
    story.puback(gas)
    await story.settle(DELAY + 0.1)
    assert story.heard() == ["gas.not_sent", "gas.call_sent"]


async def test_cancel_is_confirmed_and_never_closes(story: Story) -> None:
    call = await story.read(BUTTON, "press", True)
    story.puback(call)
    await story.settle()
    [cancel] = await story.core.ctx.emit(story.core.rules.on_reading(Reading("btn-1", "press", True), BUTTON))
    await story.settle()
    assert cancel.kind == "alarm.cancel_requested"
    assert cancel.data["by"] == "elder" and cancel.data["how"] == "second_press"
    assert story.heard()[-1] == "cancelled" and "等待平台确认" in story.texts()[-1]
    assert story.core.rules.book.open  # still open: only the platform closes it
    assert "alarm.resolved" not in story.core.kinds()


def test_table_covers_every_kind_state_and_language() -> None:
    for (kind, state), texts in PROMPTS.items():
        for lang in LANGUAGES:
            assert texts[lang], (kind, state, lang)
        assert ("离开家" in texts["zh-CN"]) == (kind in ("smoke", "gas")), kind
    assert len(PROMPTS) == len(KINDS) * 6
    assert PROMPTS[("leak", "call_sent")]["en"] == (
        "Water leak detected. If it is safe, turn off the tap. The alarm has reached the service centre. "
        "Waiting for an answer."
    )
    assert (
        PROMPTS[("call", "not_sent")]["en"] == "The network is down. Your call could not be sent. Please use the phone."
    )
    for state in ("raised", "not_sent", "escalated"):  # nothing before the broker's PUBACK claims a delivery
        assert "送达" not in PROMPTS[("call", state)]["zh-CN"] and "赶来" not in PROMPTS[("call", state)]["zh-CN"]
    assert prompt_kind("alarm.inactivity") == "fall" and prompt_kind("alarm.no_breathing") == "vitals"
    assert prompt_kind("alarm.something_new") == "other"


async def test_configured_im_ok_gesture_asks_to_cancel_any_time(tmp_path: Path) -> None:
    """A configured gesture ("double_press" of a multi-function button) asks to cancel the open call even after
    the second-press window; a long press never does. The call stays open: the platform decides."""
    from gateway.config import parse_config

    raw = {
        "gateway": {"id": "gw-test", "state_dir": str(tmp_path)},
        "rules": {"alarms": {"cancel_gestures": ["double_press"], "cancel_window_s": 10}},
    }
    core = fake_context(tmp_path, parse_config(raw))
    feedback = Feedback(FeedbackSettings(speaker=False, raised_prompt_delay_s=0), scale=0.01)
    alarms = AlarmService(core.ctx, feedback)
    await feedback.start()
    await alarms.start()
    try:
        await core.ctx.emit(core.rules.on_reading(Reading("btn-1", "press", True), BUTTON))
        core.clock.advance(60)  # well past the second-press window
        held = core.rules.on_reading(Reading("btn-1", "press", True, meta={"event": "long_press"}), BUTTON)
        assert [d.kind for d in held] == ["alarm.repeated"]
        [cancel] = await core.ctx.emit(
            core.rules.on_reading(Reading("btn-1", "press", True, meta={"event": "double_press"}), BUTTON)
        )
        await asyncio.sleep(0.05)
        assert cancel.kind == "alarm.cancel_requested" and cancel.data["how"] == "gesture:double_press"
        assert feedback.said[-1][1] == "cancelled" and core.rules.book.open
    finally:
        await alarms.stop()
        await feedback.stop()
    with pytest.raises(ValueError):
        parse_config({**raw, "rules": {"alarms": {"cancel_gestures": ["long_press"]}}})
