"""Prompt audio: rendered by espeak-ng, played by aplay through ALSA's file plugin (the played samples are captured
and compared), volume applied, and a broken speaker reported to the platform as a device fault."""

from __future__ import annotations

import asyncio
import shutil
import wave
from pathlib import Path

import pytest

from gateway.feedback import Feedback
from gateway.feedback.audio import MANIFEST, Player, PromptFiles, has_playback_device, scaled_wav
from gateway.feedback.build_prompts import build
from gateway.settings.feedback import FeedbackSettings
from tests.drivers.gpio.fakes import RecordingOutputs
from tests.support.context import fake_context

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(shutil.which("aplay") is None, reason="alsa-utils (aplay) is installed by scripts/setup"),
]


def capture_device(path: Path) -> str:
    """ALSA's file plugin (predefined in alsa.conf): what aplay plays is written to ``path`` as a WAV."""
    return f"file:FILE={path},FORMAT=wav"


def frames(path: Path) -> bytes:
    with wave.open(str(path)) as w:
        return w.readframes(w.getnframes())


async def test_prompt_plays_through_alsa_and_is_captured(tmp_path: Path) -> None:
    files = PromptFiles(tmp_path / "prompts", "zh-CN", voice="cmn", rate=150)
    player = Player(files, device=capture_device(tmp_path / "out.wav"))
    player.say("测试信号已收到。", tag="test_received")
    await player.wait()
    assert player.errors == 0, player.last_error
    rendered = files.default_file("test_received")
    assert rendered.is_file() and (tmp_path / "prompts" / "zh-CN" / MANIFEST).is_file()
    played, said = frames(tmp_path / "out.wav"), frames(rendered)
    assert played[: len(said)] == said  # the sink got exactly the prompt's samples,
    assert not played[len(said) :].strip(b"\0")  # then the silence that fills ALSA's last period
    assert [p.tag for p in player.played] == ["test_received"]

    mtime = rendered.stat().st_mtime_ns
    player.say("测试信号已收到。", tag="test_received")  # rendered once; played again from the file
    await player.wait()
    assert rendered.stat().st_mtime_ns == mtime and player.spoken == 2
    player.say("测试已收到。", tag="test_received")  # the text changed (an override): rendered again
    await player.wait()
    assert rendered.stat().st_mtime_ns != mtime


async def test_pack_file_wins_and_volume_scales(tmp_path: Path) -> None:
    files = PromptFiles(tmp_path, "zh-CN", voice="cmn", rate=150)
    default = await files.file_for("call.call_sent", "呼叫已送达服务平台，正在等待回应。")
    pack = files.pack_file("call.call_sent")
    pack.parent.mkdir(parents=True)
    pack.write_bytes(scaled_wav(default, 50))  # a "dialect" recording: here the default at half volume
    assert await files.file_for("call.call_sent", "whatever the table says") == pack
    loud = max(abs(int.from_bytes(frames(default)[i : i + 2], "little", signed=True)) for i in range(0, 20000, 2))
    half = frames(pack)
    quiet = max(abs(int.from_bytes(half[i : i + 2], "little", signed=True)) for i in range(0, 20000, 2))
    assert quiet == pytest.approx(loud / 2, abs=1)

    player = Player(files, device="null", volume=50)
    player.say("x", tag="call.call_sent")
    await player.wait()
    assert player.errors == 0 and player.played[0].path == pack


async def test_build_prompts_renders_every_prompt(tmp_path: Path) -> None:
    count = await build(tmp_path, ["en"], rate=300)
    wavs = sorted((tmp_path / "en").glob("*.wav"))
    assert count == len(wavs) == 8 * 6 + 4  # every kind and state; test received, reminder, check-in, cancelled
    assert (tmp_path / "en" / "smoke.not_sent.wav").stat().st_size > 10_000


async def test_speaker_fault_is_reported_and_cleared(tmp_path: Path) -> None:
    core = fake_context(tmp_path / "state")
    settings = FeedbackSettings(speaker=True, audio_device="nosuchcard")
    fb = Feedback(
        settings, outputs=RecordingOutputs(), scale=0.01, prompts_root=tmp_path / "prompts", report=core.ctx.emit
    )
    assert isinstance(fb.speaker, Player)
    await fb.start()
    try:
        fb.signal("test_received")
        await asyncio.sleep(0.05)
        await fb.speaker.wait()
        await asyncio.sleep(0.05)
        assert core.kinds() == ["device.speaker_fault"]
        fault = core.emitted[0]
        assert fault.priority.name == "ALERT" and "nosuchcard" in fault.data["reason"]
        fb.signal("test_received")  # still broken: reported once, not on every prompt
        await asyncio.sleep(0.05)
        await fb.speaker.wait()
        assert core.kinds() == ["device.speaker_fault"] and fb.speaker.errors == 2

        fb.speaker.device = "null"  # the amplifier is fixed
        fb.signal("test_received")
        await asyncio.sleep(0.05)
        await fb.speaker.wait()
        await asyncio.sleep(0.05)
        assert core.kinds() == ["device.speaker_fault", "device.speaker_fault.cleared"]
    finally:
        await fb.stop()


async def test_missing_aplay_is_a_fault_not_a_crash(tmp_path: Path) -> None:
    faults: list[str] = []
    files = PromptFiles(tmp_path, "en", voice="en", rate=300)
    player = Player(files, command="/nonexistent/aplay", on_fault=faults.append)
    player.say("Test received.", tag="test_received")
    await player.wait()
    assert player.errors == 1 and faults and "cannot run /nonexistent/aplay" in faults[0]


async def test_quiet_hours_silence_only_non_alarm_prompts(tmp_path: Path) -> None:
    from datetime import datetime

    night = datetime(2026, 12, 7, 23, 30)
    settings = FeedbackSettings(speaker=False, quiet_hours="22:00-07:00", raised_prompt_delay_s=0)
    fb = Feedback(settings, outputs=RecordingOutputs(), scale=0.01, local_now=lambda: night)
    await fb.start()
    try:
        assert fb.quiet_now()
        fb.signal("test_received")
        await asyncio.sleep(0.05)
        fb.signal("call_sent", kind="alarm.smoke")
        await asyncio.sleep(0.05)
        assert [tag for _, tag, _ in fb.said] == ["smoke.call_sent"]  # alarms are never quiet
    finally:
        await fb.stop()
    day = FeedbackSettings(quiet_hours="22:00-07:00")
    assert not Feedback(day, local_now=lambda: datetime(2026, 12, 7, 12, 0)).quiet_now()
    assert Feedback(day, local_now=lambda: datetime(2026, 12, 7, 6, 59)).quiet_now()


def test_auto_speaker_looks_for_a_playback_device(tmp_path: Path) -> None:
    pcm = tmp_path / "pcm"
    pcm.write_text("00-00: ALC887 Analog : ALC887 Analog : playback 1 : capture 1\n")
    assert has_playback_device(pcm)
    pcm.write_text("00-00: mic : mic : capture 1\n")
    assert not has_playback_device(pcm)
    assert not has_playback_device(tmp_path / "none")


class NoRestart:
    def request_restart(self) -> None:
        raise AssertionError("not expected")


async def test_prompt_pack_pushed_with_a_checksum(tmp_path: Path) -> None:
    """The platform's ``prompt_pack`` command: fetched from a URL, checked against its sha256, then played."""
    import hashlib
    import io
    import json
    import tarfile

    from aiohttp import web

    from gateway.remote.commands import CommandService
    from gateway.testmode.service import TestModeService
    from tests.support.broker import free_port

    files = PromptFiles(tmp_path / "render", "zh-CN", voice="cmn", rate=300)
    recording = (await files.file_for("call.call_sent", "呼叫已送达。")).read_bytes()  # stands in for a dialect
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, body in (("call.call_sent.wav", recording), ("../evil.wav", recording), ("notes.txt", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    archive = buf.getvalue()
    digest = hashlib.sha256(archive).hexdigest()

    app = web.Application()

    async def serve(_: web.Request) -> web.Response:
        return web.Response(body=archive)

    app.router.add_get("/pack.tar", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()

    core = fake_context(tmp_path / "state")
    feedback = Feedback(FeedbackSettings(speaker=True, audio_device="null"), prompts_root=tmp_path / "prompts")
    service = CommandService(
        core.ctx,
        alarms=None,  # type: ignore[arg-type]
        window=None,  # type: ignore[arg-type]
        codes=None,  # type: ignore[arg-type]
        restart=NoRestart(),
        test_mode=TestModeService(core.ctx),
        packs=feedback,
    )

    def cmd(args: dict[str, object], cmd_id: str) -> bytes:
        body = {"id": cmd_id, "cmd": "prompt_pack", "args": args, "expires_at": core.clock.wall + 60_000}
        return json.dumps(body).encode()

    url = f"http://127.0.0.1:{port}/pack.tar"
    try:
        bad = await service.handle(cmd({"language": "zh-CN", "url": url, "sha256": "0" * 64}, "p-1"))
        assert bad["status"] == "error" and "sha256 mismatch" in bad["detail"]
        assert not (tmp_path / "prompts" / "pack").exists()  # nothing unpacked from an unchecked archive
        ok = await service.handle(cmd({"language": "zh-CN", "url": url, "sha256": digest}, "p-2"))
        assert ok["status"] == "ok" and ok["result"]["prompts"] == 1, ok
        installed = sorted(p.name for p in (tmp_path / "prompts" / "pack" / "zh-CN").iterdir())
        assert installed == ["call.call_sent.wav"]  # the path trick and the stray file were left out
        assert isinstance(feedback.speaker, Player)
        feedback.speaker.say("呼叫已送达服务平台，正在等待回应。", tag="call.call_sent")
        await feedback.speaker.wait()
        assert feedback.speaker.played[-1].path.parent.name == "zh-CN"
        assert feedback.speaker.played[-1].path.parent.parent.name == "pack"
        gone = await service.handle(cmd({"language": "zh-CN", "sha256": ""}, "p-3"))
        assert gone["result"] == {"language": "zh-CN", "removed": True}
        assert not (tmp_path / "prompts" / "pack" / "zh-CN").exists()
    finally:
        await runner.cleanup()
