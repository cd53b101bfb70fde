"""Uplink profiles on the rig: the platform switches the gateway to the ThingsBoard gateway API by remote config,
a call arrives in ThingsBoard's shapes, and the gateway is put back on its native protocol."""

from __future__ import annotations

import asyncio
import time

import pytest

from hil_tests.bringup import RigEdges
from hil_tests.harness import RigRunner
from hil_tests.observe import Platform, broker_address
from hil_tests.report import ScenarioResult
from tests.profiles.thingsboard_platform import ThingsBoardPlatform

pytestmark = [pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="session")]

SWITCH_TIMEOUT_S = 20.0


async def _profile_is(rig: RigRunner, name: str) -> None:
    assert rig.gateway is not None
    deadline = time.monotonic() + SWITCH_TIMEOUT_S
    while True:
        try:
            up = (await asyncio.to_thread(rig.gateway.get, "/api/status"))["uplink"]
            if up.get("profile") == name and up.get("state") == "online":
                return
        except OSError:  # restarting
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the gateway is not online with profile {name} after {SWITCH_TIMEOUT_S:g} s")
        await asyncio.sleep(0.1)


async def test_uplink_profile_thingsboard(
    rig: RigRunner, edges: RigEdges, platform: Platform, result: ScenarioResult
) -> None:
    """Pushed ``uplink.profile = "thingsboard"``: connect, telemetry and the alarm attribute as ThingsBoard
    documents them; then back to ``fbgw`` (local config), where the platform closes the call."""
    if rig.broker is None:
        pytest.skip("needs the suite's own broker (the gateway is switched away from the platform's topics)")
    assert rig.gateway is not None
    device = edges.call_device(rig)
    edge = edges.get(device.edge)
    assert edge is not None
    dev_id = rig.device_ids[device.name]
    host, port = broker_address(rig.broker_url)
    version = int(time.time() * 1000)
    alarm_id = None
    async with ThingsBoardPlatform(host, port) as tb:
        await platform.send_retained(
            "config/desired", {"version": version, "gateway": rig.gateway_id, "uplink": {"profile": "thingsboard"}}
        )
        try:
            await _profile_is(rig, "thingsboard")
        finally:
            await platform.send_retained("config/desired", None)
        t0 = time.monotonic()
        await edge.trigger(device, "tb-call")
        await tb.wait_for(lambda t: "tb-call" in t.traces(), timeout=15)
        result.latencies_ms.append((time.monotonic() - t0) * 1000)
        point = next(p for _, p in tb.points() if p["values"].get("trace") == "tb-call")
        assert point["values"]["event"] == "alarm.emergency_call", point
        alarm_id = point["values"]["event_id"]

        def raised(t: ThingsBoardPlatform) -> bool:
            return any(
                alarm.get("alarm.emergency_call", {}).get("id") == alarm_id
                for attrs in t.of("v1/gateway/attributes")
                for alarm in attrs.values()
            )

        await tb.wait_for(raised, timeout=10)
        assert any(c.get("type") for c in tb.of("v1/gateway/connect")), "no v1/gateway/connect"
        assert not tb.violations or all(
            v.startswith(f"unexpected topic fbgw/v1/{rig.gateway_id}/") for v in tb.violations
        ), tb.violations[:3]
        # delivered means deleted: wait until the outbox holds no alarm (ThingsBoard's PUBACKs are in)
        async with asyncio.timeout(10):
            while (await asyncio.to_thread(rig.gateway.get, "/api/status"))["outbox"]["alarms"]:
                await asyncio.sleep(0.05)
    # back to the native protocol: the pushed document is forgotten and the gateway restarted on its local config
    await asyncio.to_thread(rig.gateway.stop)
    (rig.state_dir / "remote" / "desired.json").unlink(missing_ok=True)
    await asyncio.to_thread(rig.gateway.start)
    await _profile_is(rig, "fbgw")
    assert alarm_id not in {ev["id"] for ev in platform.col.events}, "the call went out in both formats"
    await platform.close_alarm(alarm_id, time.monotonic() - 1)
    result.reason = f"device {device.name} ({dev_id}); latency: stimulus -> ThingsBoard telemetry received"
