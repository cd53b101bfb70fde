"""A whole gateway with the GPIO driver on pipe-backed lines, a real Mosquitto and the feedback service.

The gateway loads the driver by name and calls ``create_driver(section, ctx)`` itself, so the fake lines go in
through ``drivers.gpio.default_line_factory``; the feedback outputs through ``open_outputs``.

"Call sent" is signalled by the alarm lifecycle service ("alarms") when the broker has acknowledged the alarm.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import drivers.gpio
import gateway.feedback.outputs
from drivers.sim import SimDriver
from gateway.app import Gateway
from gateway.feedback import Feedback
from gateway.settings.feedback import FeedbackSettings
from tests.drivers.gpio.conftest import CHIP, cord
from tests.drivers.gpio.fakes import FakeLines, RecordingOutputs
from tests.support.broker import Mosquitto
from tests.support.collector import Collector
from tests.support.gateway import make_config

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLines]:
    fake = FakeLines()
    monkeypatch.setattr(drivers.gpio, "default_line_factory", fake)
    yield fake
    fake.close()


@pytest.fixture
def outputs(monkeypatch: pytest.MonkeyPatch) -> RecordingOutputs:
    rec = RecordingOutputs()
    monkeypatch.setattr(gateway.feedback.outputs, "open_outputs", lambda settings: (rec, []))
    return rec


async def test_pull_cord_press_reaches_broker_as_emergency_call_with_call_sent_feedback(
    tmp_path: Path, broker: Mosquitto, lines: FakeLines, outputs: RecordingOutputs
) -> None:
    pipe = lines.add(CHIP, 17, level=True)  # NC loop closed
    gpio = {"enabled": True, "inputs": [cord("bathroom-cord", 17, debounce_ms=30, long_press_ms=3000)]}
    cfg = make_config(tmp_path / "s", broker.url, drivers={"gpio": gpio}, feedback={"led_line": 22, "buzzer_line": 23})
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        feedback = gw.services.feedback
        assert isinstance(feedback, Feedback)
        assert feedback.settings == FeedbackSettings(led_line=22, buzzer_line=23)
        assert gw.services.alarms is not None
        assert gw.drivers["gpio"].health().state == "up"

        ts_ns = pipe.edges([False, True, False, True, False])[0]  # a pull, with contact bounce
        await col.wait_for(lambda c: "alarm.emergency_call" in c.kinds())
        topic, event = next((t, ev) for _, t, ev in col.arrivals if ev["kind"] == "alarm.emergency_call")
        assert topic == f"fbgw/v1/{cfg.gateway.id}/alarms"
        assert event["priority"] == "alarm"
        assert event["device"] == {
            "id": "gpio-bathroom-cord",
            "type": "pull_cord",
            "room": "bathroom",
            "transport": "gpio",
        }
        assert event["data"]["event"] == "press"
        assert col.kinds().count("alarm.emergency_call") == 1  # one press despite the bounce

        for _ in range(100):
            if feedback.current == "call_sent":
                break
            await asyncio.sleep(0.02)
        assert feedback.current == "call_sent" and feedback.device_id == "gpio-bathroom-cord"
        await asyncio.sleep(0.9)  # three beeps take 750 ms
        since = feedback.state_since
        beeps = outputs.changes("buzzer", since)
        assert [on for _, on in beeps] == [True, False, True, False, True, False]
        blink = outputs.changes("led", since)
        assert len(blink) >= 4 and [on for _, on in blink[:4]] == [True, False, True, False]
        assert 0.195 <= blink[1][0] - blink[0][0] <= 0.3  # the "call sent" fast blink: 200 ms
        reading_ms = gw.intake.seen["gpio-bathroom-cord"].meta["ts_ns"] // 1_000_000
        assert reading_ms == ts_ns // 1_000_000  # the kernel time of the first edge
    assert outputs.closed and outputs.level("led") is False and outputs.level("buzzer") is False


async def test_missing_line_is_reported_and_the_gateway_keeps_running(
    tmp_path: Path, broker: Mosquitto, lines: FakeLines, outputs: RecordingOutputs
) -> None:
    gpio = {"enabled": True, "inputs": [cord("bedroom-button", 27, chip="/dev/gpiochip9", contact="no")]}
    cfg = make_config(tmp_path / "s", broker.url, drivers={"gpio": gpio})
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        assert gw.drivers["gpio"].health().state == "down"
        await col.wait_for(lambda c: "gateway.radio_lost" in c.kinds())
        lost = next(ev for ev in col.events if ev["kind"] == "gateway.radio_lost")
        assert lost["data"]["transport"] == "gpio"
        assert "'bedroom-button' (/dev/gpiochip9 line 27): no such GPIO chip" in lost["data"]["reason"]
        status = {d["transport"]: d for d in gw.status()["drivers"]}
        assert status["gpio"]["state"] == "down" and "/dev/gpiochip9 line 27" in status["gpio"]["detail"]

        sim = gw.drivers["sim"]
        assert isinstance(sim, SimDriver)
        await sim.inject("btn-1", "press", True, trace="still-works")
        await col.wait_for(lambda c: "still-works" in c.traces())


async def test_holding_the_install_button_opens_the_install_window(
    tmp_path: Path, broker: Mosquitto, lines: FakeLines, outputs: RecordingOutputs
) -> None:
    pipe = lines.add(CHIP, 5, level=False)  # normally-open push button, idle
    button = cord("install", 5, kind="install_button", room="", contact="no", long_press_ms=300)
    state = tmp_path / "s"
    (state / "web").mkdir(parents=True)
    (state / "web" / "commissioned").write_text("0\n")  # a box in service: the page starts closed
    cfg = make_config(state, broker.url, drivers={"gpio": {"enabled": True, "inputs": [button]}})
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        web = gw.services.web
        assert web is not None and not web.window.is_open
        pipe.edges([True, False])  # a short press: nothing
        await asyncio.sleep(0.6)
        assert not web.window.is_open
        pipe.edges([True])  # held down past long_press_ms
        await col.wait_for(lambda c: "install.window_requested" in c.kinds())
        assert web.window.is_open and web.window.opened_by == "install button gpio-install"
        assert "alarm.emergency_call" not in col.kinds()
        pipe.edges([False])
