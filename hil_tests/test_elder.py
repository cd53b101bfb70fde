"""What the elder sees and hears, read back on the rig: the LED and buzzer lines and the prompts that reached the
loudspeaker, in order and against the rig file's latency budgets.

On the simulated rig the feedback outputs are fake output lines whose changes the gateway process logs
(``feedback.log``), and the loudspeaker is ``hil_tests.audio_sink`` standing in for ``aplay``: every WAV the
gateway plays is kept, and a prompt is recognised by its bytes being those of one of the gateway's rendered
prompt files (``<state>/prompts/<lang>/<kind>.<state>.wav``). A rig with no read-back skips these with the
reason.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from hil_tests.bringup import RigEdges
from hil_tests.edges import SimEdge
from hil_tests.harness import RigRunner
from hil_tests.observe import Platform, data_is
from hil_tests.report import ScenarioResult

pytestmark = [pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="session")]

LANG = "zh-CN"


class Elder:
    """Reads back what the elder would see and hear since the scenario started."""

    def __init__(self, rig: RigRunner) -> None:
        assert rig.audio_dir is not None and rig.feedback_log is not None
        self.audio, self.log = rig.audio_dir, rig.feedback_log
        self.prompts = rig.state_dir / "prompts"

    def heard(self, since: float) -> list[tuple[float, str]]:
        """(monotonic s, prompt tag) of each prompt played since ``since``; "?" for audio matching no prompt."""
        known: dict[bytes, str] = {}
        for directory in (self.prompts / LANG, self.prompts / "pack" / LANG):
            for wav in directory.glob("*.wav") if directory.is_dir() else ():
                known[wav.read_bytes()] = wav.stem
        out = []
        for wav in sorted(self.audio.glob("*.wav")) if self.audio.is_dir() else ():
            t = int(wav.stem) / 1e9
            if t >= since:
                out.append((t, known.get(wav.read_bytes(), "?")))
        return out

    def outputs(self, since: float, output: str) -> list[tuple[float, bool]]:
        """(monotonic s, level) of each change of ``output`` ("led", "buzzer") since ``since``."""
        out = []
        for line in self.log.read_text().splitlines() if self.log.exists() else ():
            t_ns, name, level = line.split()
            if name == output and int(t_ns) / 1e9 >= since:
                out.append((int(t_ns) / 1e9, level == "1"))
        return out

    async def hears(self, since: float, tag: str, timeout: float = 15.0) -> float:
        """Wait until prompt ``tag`` has played since ``since``; returns when it started."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, heard in self.heard(since):
                if heard == tag:
                    return t
            await asyncio.sleep(0.05)
        raise AssertionError(f"prompt {tag} not heard within {timeout:g} s; heard {self.tags(since)}")

    def tags(self, since: float) -> list[str]:
        return [tag for _, tag in self.heard(since)]


def _elder(rig: RigRunner, edges: RigEdges) -> tuple[Elder, SimEdge]:
    if rig.audio_dir is None:
        pytest.skip("not on this rig: no read-back of the LED/buzzer lines and the loudspeaker")
    sim = edges.get("sim")
    if not isinstance(sim, SimEdge):
        pytest.skip("not on this rig: no sim edge to press a call button on")
    return Elder(rig), sim


def _call_device(rig: RigRunner, edges: RigEdges):  # type: ignore[no-untyped-def]
    return next(d for d in rig.rig.devices_on("sim") if d.kind in ("call_button", "pull_cord"))


async def test_elder_call_online(rig: RigRunner, edges: RigEdges, platform: Platform, result: ScenarioResult) -> None:
    """A call: "reached the service centre" (not before the broker has it), then, unanswered past the
    escalation interval, "no answer yet, still trying", then on the platform's ack "help is on the way" with
    a steady light. Latency: press -> its prompt starts; escalation event -> its prompt; ack -> its prompt."""
    elder, sim = _elder(rig, edges)
    device = _call_device(rig, edges)
    dev_id = rig.device_ids[device.name]
    t0 = time.monotonic()
    await sim.press(device, "elder-online")
    _, call = await platform.wait(t0, "alarm.emergency_call", dev_id)
    try:
        t_sent = await elder.hears(t0, "call.call_sent")
        result.latencies_ms.append((t_sent - t0) * 1000)
        assert any(on for _, on in elder.outputs(t0, "buzzer")), "no beep with the call"
        t_esc, _ = await platform.wait(t0, "alarm.escalated", dev_id, where=data_is("alarm", call["id"]), timeout=20)
        t_heard = await elder.hears(t_esc - 0.5, "call.escalated")
        result.latencies_ms.append(max(0.0, t_heard - t_esc) * 1000)
        t_ack = time.monotonic()
        await platform.ack(call["id"])
        t_help = await elder.hears(t_ack, "call.call_received")
        result.latencies_ms.append((t_help - t_ack) * 1000)
        await asyncio.sleep(0.5)
        led = elder.outputs(t0, "led")
        late = [(t, on) for t, on in led if t > t_help + 0.1]
        assert led and led[-1][1] and not late, f"the light is not steady on once help is coming: {led[-4:]}"
        assert elder.tags(t0) == ["call.call_sent", "call.escalated", "call.call_received"], elder.tags(t0)
    finally:
        await platform.close_alarm(call["id"], t0)  # the next scenario's press is a new call either way
    result.reason = f"device {device.name}; heard {' -> '.join(elder.tags(t0))}"


async def test_elder_call_offline(rig: RigRunner, edges: RigEdges, platform: Platform, result: ScenarioResult) -> None:
    """Broker down: the call cannot leave the box, and the elder hears so ("use the phone"), never "sent";
    broker back: "reached the service centre". Latency: press -> "not sent"; broker back -> "sent"."""
    elder, sim = _elder(rig, edges)
    if rig.broker is None:
        pytest.skip("not on this rig: the rig's broker is not started by the suite, so the suite cannot stop it")
    device = _call_device(rig, edges)
    dev_id = rig.device_ids[device.name]
    await asyncio.to_thread(rig.broker.stop)
    try:
        await asyncio.sleep(1.0)  # the gateway has seen the connection go
        t0 = time.monotonic()
        await sim.press(device, "elder-offline")
        t_not = await elder.hears(t0, "call.not_sent")
        result.latencies_ms.append((t_not - t0) * 1000)
        assert "call.call_sent" not in elder.tags(t0)
    finally:
        await asyncio.to_thread(rig.broker.start)
    back = time.monotonic()
    _, call = await platform.wait(t0, "alarm.emergency_call", dev_id, timeout=30)
    try:
        t_sent = await elder.hears(back, "call.call_sent", timeout=30)
        result.latencies_ms.append((t_sent - back) * 1000)
        tags = elder.tags(t0)
        assert tags[0] == "call.not_sent" and tags[-1] == "call.call_sent", tags
    finally:
        await platform.close_alarm(call["id"], back)
    result.reason = f"heard {' -> '.join(tags)}; latency: press -> 'not sent', broker back -> 'sent'"


async def test_elder_test_mode(rig: RigRunner, edges: RigEdges, platform: Platform, result: ScenarioResult) -> None:
    """Test mode from the platform: a press is flagged ``test`` on the broker, the elder hears "test received"
    (no alarm prompt), it never escalates, and ending test mode is seen by the platform."""
    elder, sim = _elder(rig, edges)
    device = _call_device(rig, edges)
    dev_id = rig.device_ids[device.name]
    t0 = time.monotonic()
    started = await platform.command("test_mode", {"minutes": 5, "by": "hil"})
    assert started["status"] == "ok", started
    await platform.wait(t0, "gateway.test_mode_started")
    t1 = time.monotonic()
    try:
        await sim.press(device, "elder-test")
        t_heard = await elder.hears(t1, "test_received")
        result.latencies_ms.append((t_heard - t1) * 1000)
        _, call = await platform.wait(t1, "alarm.emergency_call", dev_id)
        assert call["data"].get("test") is True, call["data"]
        await asyncio.sleep(6.5)  # past the rig's escalation interval
        escalated = [
            e for e in platform.col.events if e["kind"] == "alarm.escalated" and e["data"]["alarm"] == call["id"]
        ]
        assert not escalated, "a test alarm escalated"
        assert elder.tags(t1) == ["test_received"], elder.tags(t1)
    finally:  # ending test mode resolves the test alarm: the next scenario's press is a real call
        ended = await platform.command("test_mode", {"minutes": 0, "by": "hil"})
    assert ended["result"] == {"active": False}, ended
    await platform.wait(t1, "gateway.test_mode_ended")
    await platform.wait(t1, "alarm.resolved", where=data_is("alarm", call["id"]))
    result.reason = "latency: press -> 'test received' starts"


async def test_elder_mains_cut(rig: RigRunner, edges: RigEdges, platform: Platform, result: ScenarioResult) -> None:
    """The UPS HAT's mains-loss line: cut -> ``power.mains_lost``; back -> ``power.mains_restored``."""
    mains = [name for name, raw in _inputs(rig) if raw.get("kind") == "mains_detect"]
    if rig.wiring is None or not mains:
        pytest.skip("not on this rig: no mains-loss line (a GPIO input of kind mains_detect) the suite can cut")
    dev_id = "gpio-" + mains[0]
    for _ in range(min(rig.rig.samples, 3)):
        t0 = time.monotonic()
        await rig.wiring.set(mains[0], True)
        t, _ = await platform.wait(t0, "power.mains_lost", dev_id)
        result.latencies_ms.append((t - t0) * 1000)
        t1 = time.monotonic()
        await rig.wiring.set(mains[0], False)
        await platform.wait(t1, "power.mains_restored", dev_id)
    result.reason = f"line {mains[0]}; latency: line cut -> power.mains_lost at the platform"


def _inputs(rig: RigRunner) -> list[tuple[str, dict[str, object]]]:
    return [(str(raw["name"]), raw) for raw in rig.rig.gpio.inputs]


async def test_audio_sink_keeps_what_it_is_given(tmp_path: Path) -> None:
    """The loudspeaker stand-in itself (no rig): aplay's arguments, the WAV on stdin, one file per prompt."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "hil_tests.audio_sink", str(tmp_path), "-q", "-D", "hil", "-t", "wav", "-"]
    await asyncio.to_thread(subprocess.run, cmd, input=b"RIFF....WAVE", cwd=repo, check=True, timeout=30)
    [kept] = list(tmp_path.glob("*.wav"))
    assert kept.read_bytes() == b"RIFF....WAVE"


async def test_a_row_over_its_budget_fails() -> None:
    """The report's budget check itself (no rig): p99 over the rig file's budget is a failure, named."""
    from hil_tests.report import Report

    report = Report("r")
    report.budgets = {"elder_call_online": 500.0, "alarm_end_to_end": 100.0}
    fast = report.result("elder_call_online")
    fast.latencies_ms = [100.0, 450.0]
    assert report.over_budget(fast) == ""
    slow = report.result("alarm_end_to_end[gpio-cord]")  # budgeted by the name before "["
    slow.latencies_ms = [20.0, 180.0]
    assert report.over_budget(slow) == "over budget: p99 180 ms > 100 ms"
    assert report.over_budget(report.result("tamper[ble]")) == ""  # no budget: never over
    assert "| 500 |" in report.markdown(
        {
            **report.meta,
            "fbgw": "x",
            "host": "h",
            "python": "3",
            "started": "s",
            "duration_s": 1,
            "counts": report.counts(),
        }
    )
