"""Local feedback: patterns and their timing on a recording output sink, espeak-ng prompts, never blocking."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from pathlib import Path

import pytest

from gateway.config import parse_config
from gateway.feedback import PATTERNS, STATES, Feedback, Speaker, open_outputs
from gateway.feedback.audio import Player
from gateway.feedback.outputs import NullOutputs
from gateway.settings.feedback import FeedbackSettings
from tests.drivers.gpio.fakes import RecordingOutputs as Recorder

pytestmark = pytest.mark.timeout(30)

SCALE = 0.1  # every pattern 10x faster: call_sent blinks 20/20 ms


class BrokenOutputs:
    def set(self, output: str, on: bool) -> None:
        raise OSError(5, "Input/output error")

    def close(self) -> None:
        pass


async def started(rec: Recorder, **kw: object) -> Feedback:
    fb = Feedback(kw.pop("settings", FeedbackSettings()), outputs=rec, scale=SCALE, **kw)  # type: ignore[arg-type]
    await fb.start()
    return fb


def assert_schedule(changes: list[tuple[float, bool]], expected_ms: list[int], late_ms: float = 10) -> None:
    """Each change happens at its nominal offset from the first: never early; typically at most ``late_ms``
    late (median), and no single one more than 100 ms late (a busy 2-core machine can stall the loop once).
    Patterns run on deadlines, so one late change does not shift the ones after it."""
    t0 = changes[0][0]
    nominal = list(itertools.accumulate([0, *expected_ms]))
    assert len(changes) >= len(nominal), (changes, nominal)
    lateness = [(t - t0) * 1000 - want for (t, _), want in zip(changes, nominal, strict=False)]
    assert min(lateness) >= -2, f"a change came early: {lateness}"
    assert statistics.median(lateness) <= late_ms, f"changes late: {lateness}"
    assert max(lateness) <= 100, f"a change came very late: {lateness}"


def test_every_state_has_a_distinct_pattern() -> None:
    assert set(STATES) == {
        "normal",
        "raised",
        "call_sent",
        "sms_sent",
        "call_received",
        "escalated",
        "not_sent",
        "uplink_down",
        "test_received",
        "cancelled",
        "reminder",
        "checkin_received",
    }
    looks = [(p.led, p.buzzer) for p in PATTERNS.values()]
    assert len(set(looks)) == len(looks)


async def test_normal_heartbeat_at_start() -> None:
    rec = Recorder()
    fb = await started(rec)
    try:
        await asyncio.sleep(0.75)  # heartbeat: 10 on / 290 off at this scale
        led = rec.changes("led")
        assert [on for _, on in led[:4]] == [True, False, True, False]
        assert_schedule(led[:4], [10, 290, 10])
        assert rec.changes("buzzer") == [(rec.changes("buzzer")[0][0], False)]
        assert fb.current == "normal"
    finally:
        await fb.stop()


async def test_call_sent_fast_blink_and_three_beeps() -> None:
    rec = Recorder()
    fb = await started(rec)
    try:
        await asyncio.sleep(0.01)
        fb.signal("call_sent", device_id="gpio-cord")
        await asyncio.sleep(0.4)
        t0 = fb.state_since
        assert fb.current == "call_sent" and fb.device_id == "gpio-cord"
        led = rec.changes("led", since=t0)
        assert [on for _, on in led[:6]] == [True, False, True, False, True, False]
        assert_schedule(led[:8], [20] * 7)
        beeps = rec.changes("buzzer", since=t0)
        assert [on for _, on in beeps] == [True, False, True, False, True, False]  # three beeps, then silence
        assert_schedule(beeps, [15] * 5)
        assert rec.level("buzzer") is False
    finally:
        await fb.stop()


async def test_call_received_steady_light_one_long_tone_then_back_to_normal() -> None:
    rec = Recorder()
    fb = await started(rec, settings=FeedbackSettings(received_hold_s=0.5))
    try:
        fb.signal("call_sent")
        await asyncio.sleep(0.1)
        fb.signal("call_received")
        await asyncio.sleep(0.2)
        t0 = fb.state_since
        assert fb.current == "call_received"
        assert [on for _, on in rec.changes("led", since=t0)] == [True]  # steady
        tone = rec.changes("buzzer", since=t0)
        assert [on for _, on in tone] == [True, False]
        assert_schedule(tone, [80])
        await asyncio.sleep(0.45)
        assert fb.current == "normal"  # help has had time to arrive
    finally:
        await fb.stop()


async def test_uplink_down_double_blink_and_repeat_signal_does_not_restart() -> None:
    rec = Recorder()
    fb = await started(rec)
    try:
        fb.signal("uplink_down")
        await asyncio.sleep(0.005)
        t0 = fb.state_since
        for _ in range(20):
            fb.signal("uplink_down")
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        led = rec.changes("led", since=t0)
        assert_schedule(led[:6], [10, 15, 10, 165, 10])
        assert fb.stats["changes"] == 1
        assert [on for _, on in rec.changes("buzzer", since=t0)] == [False]  # silent
    finally:
        await fb.stop()


async def test_escalated_frantic_blink() -> None:
    rec = Recorder()
    fb = await started(rec)
    try:
        fb.signal("escalated")
        await asyncio.sleep(0.2)
        t0 = fb.state_since
        assert_schedule(rec.changes("led", since=t0)[:8], [8] * 7)
        assert [on for _, on in rec.changes("buzzer", since=t0)].count(True) == 3
    finally:
        await fb.stop()


async def test_signal_never_blocks_or_raises() -> None:
    rec = Recorder()
    fb = await started(rec)
    try:
        before = len(rec.log)
        t = time.perf_counter()
        for state in itertools.islice(itertools.cycle(STATES), 10_000):
            fb.signal(state, device_id="x")
        elapsed = time.perf_counter() - t
        assert len(rec.log) == before  # nothing ran in the caller: the background task does the work
        assert elapsed < 0.5
        fb.signal("no-such-state")
        fb.signal(None)  # type: ignore[arg-type]
        fb.signal(["call_sent"])  # type: ignore[arg-type]
        assert fb.stats["ignored"] == 3
        assert fb.current == STATES[(10_000 - 1) % len(STATES)]
    finally:
        await fb.stop()


async def test_broken_outputs_do_not_reach_the_caller() -> None:
    fb = Feedback(outputs=BrokenOutputs(), scale=SCALE)
    await fb.start()
    try:
        fb.signal("call_sent")
        await asyncio.sleep(0.1)
        assert fb.stats["output_errors"] > 0
        assert fb._runner is not None and not fb._runner.done()
    finally:
        await fb.stop()


async def test_signal_before_start_is_shown_at_start() -> None:
    rec = Recorder()
    fb = Feedback(outputs=rec, scale=SCALE)
    fb.signal("uplink_down")
    assert rec.log == []
    await fb.start()
    try:
        await asyncio.sleep(0.05)
        assert fb.current == "uplink_down"
        assert_schedule(rec.changes("led")[:3], [10, 15])
    finally:
        await fb.stop()


async def test_stop_switches_outputs_off_and_closes() -> None:
    rec = Recorder()
    fb = await started(rec)
    fb.signal("call_received")
    await asyncio.sleep(0.02)
    assert rec.level("led") is True
    await fb.stop()
    assert rec.level("led") is False and rec.level("buzzer") is False
    assert rec.closed


async def test_missing_output_lines_are_named_and_feedback_keeps_running() -> None:
    settings = FeedbackSettings(led_chip="/dev/gpiochip9", led_line=22, buzzer_line="BUZZER")
    outputs, errors = open_outputs(settings)
    assert errors == [
        "feedback led (/dev/gpiochip9 line 22): no such GPIO chip /dev/gpiochip9",
        "feedback buzzer (/dev/gpiochip9 line BUZZER): no such GPIO chip /dev/gpiochip9",
    ]
    outputs.close()
    assert isinstance(open_outputs(FeedbackSettings())[0], NullOutputs)  # no lines configured

    fb = Feedback(settings)
    await fb.start()
    try:
        assert fb.errors == errors and fb.status()["errors"] == errors
        fb.signal("call_sent")
        await asyncio.sleep(0.02)
        assert fb.current == "call_sent"
    finally:
        await fb.stop()


async def test_feedback_section_parses_and_rejects_typos(tmp_path: Path) -> None:
    raw = {
        "gateway": {"id": "gw", "state_dir": str(tmp_path)},
        "feedback": {
            "led_chip": "/dev/gpiochip0",
            "led_line": 22,
            "buzzer_line": 23,
            "speaker": True,
            "voice": "cmn",
            "prompts": {"call_sent": "已呼叫"},
        },
    }
    cfg = parse_config(raw)
    assert cfg.feedback.buzzer_chip_path == "/dev/gpiochip0" and cfg.feedback.speaker
    fb = Feedback(cfg.feedback, prompts_root=tmp_path / "prompts")
    assert fb.prompt("call_sent", "call") == fb.prompt("call_sent", "smoke") == "已呼叫"
    assert isinstance(fb.speaker, Player) and fb.speaker.files.voice == "cmn"
    assert Feedback(cfg.feedback).speaker is None  # nowhere to keep the prompt audio: no voice
    with pytest.raises(ValueError, match="led_pin"):
        parse_config({**raw, "feedback": {"led_pin": 22}})
    with pytest.raises(ValueError, match="prompts"):
        parse_config({**raw, "feedback": {"prompts": {"panic": "x"}}})
    with pytest.raises(ValueError, match="prompts"):
        parse_config({**raw, "feedback": {"prompts": {"fire.call_sent": "x"}}})
    smoke = parse_config({**raw, "feedback": {"prompts": {"smoke.call_sent": "快跑"}}})
    fb = Feedback(smoke.feedback)
    assert fb.prompt("call_sent", "smoke") == "快跑" and "送达" in fb.prompt("call_sent", "gas")
    with pytest.raises(ValueError, match="quiet_hours"):
        parse_config({**raw, "feedback": {"quiet_hours": "22-7"}})


async def test_reconfigure_switches_prompts_and_keeps_state(tmp_path: Path) -> None:
    raw = {"gateway": {"id": "gw", "state_dir": str(tmp_path)}}
    rec = Recorder()
    fb = Feedback(parse_config(raw).feedback, outputs=rec, scale=SCALE)
    await fb.start()
    try:
        fb.signal("uplink_down")
        await fb.reconfigure(parse_config({**raw, "feedback": {"prompts": {"uplink_down": "网络断了"}}}))
        assert fb.prompt("uplink_down", None) == "网络断了"
        assert fb.current == "uplink_down" and fb._runner is not None
    finally:
        await fb.stop()


# ---------------------------------------------------------------------------- voice (real espeak-ng)


async def test_prompt_spoken_with_espeak_ng(tmp_path: Path) -> None:
    speaker = Speaker("cmn", wav_dir=tmp_path)
    fb = Feedback(FeedbackSettings(speaker=True), outputs=Recorder(), speaker=speaker, scale=SCALE)
    await fb.start()
    try:
        fb.signal("call_sent")
        await asyncio.sleep(0.01)
        await speaker.wait()
        assert speaker.errors == 0, speaker.last_error
        assert [p.name for p in speaker.files] == ["0001-call.call_sent.wav"]
        wav = speaker.files[0].read_bytes()
        assert wav[:4] == b"RIFF" and len(wav) > 10_000  # a second or more of speech, not an empty header
        assert fb.status()["voice"]["spoken"] == 1
    finally:
        await fb.stop()


async def test_speech_does_not_hold_up_the_loop_and_newer_prompt_cuts_off_older(tmp_path: Path) -> None:
    speaker = Speaker("cmn", rate=80, wav_dir=tmp_path)
    long_text = "请注意。" * 200
    lags: list[float] = []
    speaker.say(long_text, tag="long")
    loop = asyncio.get_running_loop()
    for _ in range(20):  # synthesising the long text takes ~0.5 s of CPU; the loop must keep turning
        t = loop.time()
        await asyncio.sleep(0.01)
        lags.append(loop.time() - t - 0.01)
    assert max(lags) < 0.15  # spawning the child takes a few ms; blocking on it would take ~0.5 s
    speaker.say("平台已收到您的呼叫。", tag="short")
    await speaker.wait()
    assert [p.name for p in speaker.files] == ["0002-short.wav"]  # the long one was cut off
    assert speaker.errors == 0


async def test_missing_speech_program_is_counted_not_raised() -> None:
    speaker = Speaker(command="/nonexistent/espeak-ng")
    fb = Feedback(FeedbackSettings(speaker=True), outputs=Recorder(), speaker=speaker, scale=SCALE)
    await fb.start()
    try:
        fb.signal("escalated")
        await asyncio.sleep(0.01)
        await speaker.wait()
        assert speaker.errors == 1 and "cannot run /nonexistent/espeak-ng" in speaker.last_error
        assert fb.current == "escalated"
    finally:
        await fb.stop()
