"""The platform talking to the gateway: a device paired in, a config pushed, an alarm acknowledged."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import time

import pytest

from hil_tests.bringup import RigEdges, pair_zigbee
from hil_tests.edges import CLEAR
from hil_tests.harness import RigRunner
from hil_tests.observe import Platform, data_is, retained
from hil_tests.report import ScenarioResult
from hil_tests.rig import DeviceSpec

pytestmark = [pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="session")]


def _landed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


async def test_pairing_a_device(rig: RigRunner, edges: RigEdges, platform: Platform, result: ScenarioResult) -> None:
    """A new Zigbee detector joins through a platform ``permit_join``, is interviewed, enrolled, and alarms."""
    if edges.zigbee is None:
        pytest.skip(edges.absent("zigbee") or "")
    new = DeviceSpec(name="zb-paired-in-run", kind="gas", edge="zigbee")
    result.latencies_ms.extend(await pair_zigbee(rig, platform, edges.zigbee, [new]))
    dev_id = rig.device_ids[new.name]
    t0 = time.monotonic()
    await edges.zigbee.trigger(new, "paired")
    t, _ = await platform.wait(t0, "alarm.gas", dev_id)
    t1 = time.monotonic()
    await edges.zigbee.clear(new, "paired-clear")
    await platform.wait(t1, CLEAR["gas"][2], dev_id)
    result.reason = f"{dev_id}; latency: join -> device ready in the gateway; its first alarm {(t - t0) * 1000:.0f} ms"


async def test_config_push(rig: RigRunner, platform: Platform, result: ScenarioResult) -> None:
    """A desired document (retained, as the platform publishes it) is applied and reported back retained."""
    if not _landed("gateway.remote.desired"):
        pytest.skip("remote config (fbgw/v1/{gw}/config/desired) has not landed in this gateway")
    assert rig.gateway is not None
    version = int(time.time() * 1000)  # strictly increasing, also across runs on a rig's kept state
    named = next(iter(rig.device_ids.values()), None)
    doc: dict[str, object] = {"version": version, "gateway": rig.gateway_id, "rules": {"battery_low_pct": 25}}
    if named is not None:
        doc["devices"] = {named: {"room": f"hil-{version % 10_000}"}}
    t0 = time.monotonic()
    await platform.send_retained("config/desired", doc)

    def reported() -> dict[str, object] | None:
        for topic, payload, _ in reversed(platform.col.messages):
            if topic == platform.topic("config/reported") and payload:
                report = json.loads(payload)
                if report.get("version") == version:
                    return dict(report)
        return None

    try:
        await platform.col.wait_for(lambda c: reported() is not None, timeout=15)
        latency_ms = (time.monotonic() - t0) * 1000
        report = reported()
        assert report is not None and report["state"] == "applied", report
        kept = await retained(rig.broker_url, platform.topic("config/reported"))
        assert kept is not None, "config/reported is not retained"
        payload, flag = kept
        assert flag and json.loads(payload)["version"] == version, (flag, payload[:200])
        if named is not None:  # the document's effect is visible on the gateway itself
            devices = {d["id"]: d for d in await asyncio.to_thread(rig.gateway.devices)}
            assert devices[named]["room"] == f"hil-{version % 10_000}"
        result.latencies_ms.append(latency_ms)
    finally:
        await platform.send_retained("config/desired", None)  # clear the retained document (ignored by the gateway)
    result.reason = "latency: desired published -> config/reported (state applied) received"


async def test_alarm_ack_loop(rig: RigRunner, edges: RigEdges, platform: Platform, result: ScenarioResult) -> None:
    """Alarm -> platform ack -> ``alarm.acknowledged`` -> platform close -> ``alarm.resolved``."""
    if not _landed("gateway.alarms.book"):
        pytest.skip("the alarm lifecycle (fbgw/v1/{gw}/alarms/ack) has not landed in this gateway")
    device = edges.call_device(rig)
    edge = edges.get(device.edge)
    assert edge is not None
    dev_id = rig.device_ids[device.name]
    for i in range(rig.rig.samples):
        t0 = time.monotonic()
        await edge.trigger(device, f"ack-{i}")
        _, ev = await platform.wait(t0, "alarm.emergency_call", dev_id)
        t1 = time.monotonic()
        await platform.ack(ev["id"])
        t, ack = await platform.wait(t1, "alarm.acknowledged", where=data_is("alarm", ev["id"]))
        assert ack["data"]["by"] == "hil" and ack["device"]["id"] == dev_id, ack
        result.latencies_ms.append((t - t1) * 1000)
        await platform.close_alarm(ev["id"], t1)
    result.reason = f"device {device.name}; latency: ack published -> alarm.acknowledged received"
