"""Every device kind end to end: a stimulus at the rig's edge, the event where the platform sees it.

Each sample is a new alarm: calls are closed by the platform in between, detectors restored. Latency is from
the stimulus to the event's arrival at the platform-side subscriber.
"""

from __future__ import annotations

import time

import pytest

from hil_tests.bringup import RigEdges
from hil_tests.edges import CALLS, CLEAR, RAISE
from hil_tests.harness import RigRunner
from hil_tests.observe import Platform, data_is
from hil_tests.report import ScenarioResult

pytestmark = [pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="session")]


async def test_alarm_end_to_end(
    rig: RigRunner, edges: RigEdges, platform: Platform, rig_device: str, result: ScenarioResult
) -> None:
    """Each device on the rig raises the right event, sample after sample."""
    device = rig.rig.device(rig_device)
    edge = edges.get(device.edge)
    if edge is None:
        pytest.skip(edges.absent(device.edge) or "")
    dev_id = rig.device_ids[device.name]
    _, _, kind = RAISE[device.kind]
    for i in range(rig.rig.samples):
        trace = f"hil-{device.name}-{i}"
        t0 = time.monotonic()
        await edge.trigger(device, trace)
        t, ev = await platform.wait(t0, kind, dev_id)
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
    reasons = {d.name: edge.tamper_absent(d) for d in rig.rig.devices_on(tamper_edge)}
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
