"""Every device kind end to end: a stimulus at the rig's edge, the event where the platform sees it.

Each sample is a new alarm: calls are closed by the platform in between, detectors restored. Latency is from
the stimulus to the event's arrival at the platform-side subscriber. The timed rules of a bed (vitals out of
range, a bed exit) run on the rig's short thresholds (``RIG_RULES`` in :mod:`hil_tests.harness`).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.rules.settings import RulesSettings
from hil_tests.bringup import NO_DEVICE, RigEdges
from hil_tests.edges import BEDS, CALLS, CLEAR, RAISE, SimEdge
from hil_tests.harness import RigRunner
from hil_tests.observe import Platform, arrival, data_is
from hil_tests.report import ScenarioResult
from hil_tests.rig import DeviceSpec

pytestmark = [pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="session")]


async def test_alarm_end_to_end(
    rig: RigRunner, edges: RigEdges, platform: Platform, rig_device: str, result: ScenarioResult
) -> None:
    """Each device on the rig raises the right event, sample after sample."""
    device = rig.rig.device(rig_device)
    if (why := edges.cannot_drive(device)) is not None:
        pytest.skip(why)
    edge = edges.get(device.edge)
    assert edge is not None
    dev_id = rig.device_ids[device.name]
    _, raised, kind = RAISE[device.kind]
    for i in range(rig.rig.samples):
        trace = f"hil-{device.name}-{i}"
        t0 = time.monotonic()
        await edge.trigger(device, trace)
        t, ev = await platform.wait(t0, kind, dev_id, where=data_is("value", raised))
        result.latencies_ms.append((t - t0) * 1000)
        t1 = time.monotonic()
        if device.kind in CALLS:
            assert ev["priority"] == "alarm", ev
            await platform.close_alarm(ev["id"], t1)
        elif device.kind in CLEAR:
            await edge.clear(device, trace + "-clear")
            _, value, cleared = CLEAR[device.kind]
            await platform.wait(t1, cleared, dev_id, where=data_is("value", value))


async def test_tamper(
    rig: RigRunner, edges: RigEdges, platform: Platform, tamper_edge: str, result: ScenarioResult
) -> None:
    """A detector opened or a supervised loop cut: ``device.tamper``; restored: ``device.tamper.cleared``."""
    edge = edges.get(tamper_edge)
    if edge is None:
        pytest.skip(edges.absent(tamper_edge) or "")
    reasons = {d.name: edges.cannot_drive(d) or edge.tamper_absent(d) for d in rig.rig.devices_on(tamper_edge)}
    able = [d for d in rig.rig.devices_on(tamper_edge) if reasons[d.name] is None]
    if not able:
        why = "; ".join(sorted({str(r) for r in reasons.values()}))
        pytest.skip(f"no device on the {tamper_edge} edge has a tamper switch the rig can open: {why}")
    device = able[0]
    dev_id = rig.device_ids[device.name]
    delay_s = 0.0
    for i in range(rig.rig.samples):
        t0 = time.monotonic()
        delay_s = await edge.tamper(device, True, f"tamper-{i}")
        t, _ = await platform.wait(t0, "device.tamper", dev_id, timeout=15 + delay_s)
        result.latencies_ms.append((t - t0 - delay_s) * 1000)
        t1 = time.monotonic()
        await edge.tamper(device, False, f"tamper-{i}-off")
        await platform.wait(t1, "device.tamper.cleared", dev_id)
        if device.kind in CALLS:  # a cut loop first looks like a pull (a missed call is worse than a false one)
            found = [
                ev
                for t, _, ev in platform.col.arrivals
                if t >= t0 and ev["kind"] == "alarm.emergency_call" and ev["device"]["id"] == dev_id
            ]
            for ev in found:
                await platform.close_alarm(ev["id"], t0)
    result.reason = f"device {device.name}"
    if delay_s:
        result.reason += f"; latency counted from the end of the {delay_s:.1f} s supervision window"


def _bedside(rig: RigRunner, edges: RigEdges, name: str, what: str) -> tuple[SimEdge, DeviceSpec, RulesSettings]:
    """The device a bed scenario drives (readings injected on the sim edge) and the gateway's rule settings,
    or skip the scenario with the reason."""
    if name == NO_DEVICE:
        pytest.skip(f"not on this rig: no {what}")
    device = rig.rig.device(name)
    if device.edge != "sim" or edges.sim is None:
        pytest.skip(f"{device.name} is on the {device.edge} edge: the suite injects bed readings on the sim edge only")
    return edges.sim, device, RulesSettings.model_validate(rig.config.get("rules", {}))


async def test_vitals_out_of_range(
    rig: RigRunner, edges: RigEdges, platform: Platform, vitals_device: str, result: ScenarioResult
) -> None:
    """A heart rate out of range while in bed raises ``alarm.heart_rate_abnormal`` once it has lasted the
    rule's ``for_s`` (not at its first reading); back in range, ``alarm.heart_rate_abnormal.cleared``."""
    sim, device, rules = _bedside(rig, edges, vitals_device, "mattress or heart-rate monitor")
    vitals = rules.vitals
    if not vitals.enabled or vitals.for_s > 10:
        pytest.skip(f"the rig's vitals rule needs {vitals.for_s} s out of range (enabled: {vitals.enabled})")
    dev_id = rig.device_ids[device.name]
    high = min(300, vitals.heart_max + 30)
    normal = (vitals.heart_min + vitals.heart_max) // 2
    if device.kind in BEDS:  # vitals count only while the elder is in bed
        await sim.reading(device, "in_bed", True, "vitals-in-bed")
    for i in range(min(rig.rig.samples, 3)):
        t_first = time.monotonic()
        await sim.reading(device, "heart_rate", high, f"vitals-{i}-first")
        await asyncio.sleep(vitals.for_s + 0.2)
        early = arrival(platform.col, t_first, "alarm.heart_rate_abnormal", dev_id)
        assert early is None, f"raised before {vitals.for_s} s out of range: {early}"
        t0 = time.monotonic()
        await sim.reading(device, "heart_rate", high, f"vitals-{i}")
        t, ev = await platform.wait(t0, "alarm.heart_rate_abnormal", dev_id, trace=f"vitals-{i}")
        assert ev["priority"] == "alarm" and ev["data"]["value"] == high, ev
        assert ev["data"]["max"] == vitals.heart_max and ev["data"]["for_s"] >= vitals.for_s, ev
        result.latencies_ms.append((t - t0) * 1000)
        t1 = time.monotonic()
        await sim.reading(device, "heart_rate", normal, f"vitals-{i}-normal")
        await platform.wait(t1, "alarm.heart_rate_abnormal.cleared", dev_id, where=data_is("value", normal))
    result.reason = (
        f"device {device.name}; heart rate {high} (max {vitals.heart_max}) for {vitals.for_s} s; latency: the "
        f"reading {vitals.for_s} s into the run -> alarm; {normal} -> cleared"
    )


async def test_bed_exit(
    rig: RigRunner, edges: RigEdges, platform: Platform, bed_device: str, result: ScenarioResult
) -> None:
    """Out of bed at night and not back within ``return_within_s``: ``alarm.bed_exit`` (not before that);
    back in bed: ``alarm.bed_exit.cleared``."""
    sim, device, rules = _bedside(rig, edges, bed_device, "mattress")
    limit_s = rules.bed_exit.return_within_s
    if not rules.bed_exit.enabled or limit_s > 10:
        pytest.skip(f"the rig's bed exit rule waits {limit_s} s (enabled: {rules.bed_exit.enabled})")
    if str(rules.night) != "00:00-24:00":
        pytest.skip(f"the rig's night window is {rules.night_window}: a bed exit counts only at night")
    dev_id = rig.device_ids[device.name]
    await sim.reading(device, "in_bed", True, "bed-in")
    for i in range(min(rig.rig.samples, 3)):
        t_out = time.monotonic()
        await sim.reading(device, "in_bed", False, f"bed-out-{i}")
        t, ev = await platform.wait(t_out, "alarm.bed_exit", dev_id, timeout=limit_s + 10)
        assert t - t_out >= limit_s, f"alarm.bed_exit {t - t_out:.2f} s after getting up, before {limit_s} s"
        assert ev["priority"] == "alarm" and ev["data"]["threshold_s"] == limit_s, ev
        result.latencies_ms.append((t - t_out - limit_s) * 1000)
        t1 = time.monotonic()
        await sim.reading(device, "in_bed", True, f"bed-in-{i}")
        await platform.wait(t1, "alarm.bed_exit.cleared", dev_id)
    result.reason = (
        f"device {device.name}; out of bed, not back within {limit_s} s (night window {rules.night_window}); "
        "latency: from the end of that time (includes the rules' 1 s tick)"
    )
