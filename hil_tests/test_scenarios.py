"""End-to-end scenarios: a stimulus at the rig's edge, the result observed where the platform sees it.

Each records its latency (stimulus -> arrival at the platform-side subscriber) into the report. A scenario
whose edge the rig does not have is skipped with the reason, and the report says so: never a pass.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import aiomqtt
import pytest
import pytest_asyncio

from hil_tests.edges import RAISE, BleSimEdge, Edge, GpioEdge, SimEdge, ZigbeeSimEdge
from hil_tests.harness import ZIGBEE_KINDS, RigRunner, device_spec
from hil_tests.report import Report, ScenarioResult
from hil_tests.rig import DeviceSpec
from tests.support.collector import Collector

pytestmark = [pytest.mark.timeout(180), pytest.mark.asyncio(loop_scope="module")]

EVENT_TIMEOUT_S = 15.0


@pytest.fixture
def result(report: Report, request: pytest.FixtureRequest) -> ScenarioResult:
    return report.result(request.node.name.removeprefix("test_"))


async def publish(rig: RigRunner, topic: str, payload: dict[str, Any]) -> None:
    url = urlsplit(rig.broker_url)
    async with aiomqtt.Client(url.hostname or "127.0.0.1", url.port or 1883) as client:
        await client.publish(topic, json.dumps(payload).encode(), qos=1)


def arrival(col: Collector, since: float, kind: str, device_id: str | None = None,
            trace: str | None = None) -> tuple[float, dict[str, Any]] | None:
    for t, _, ev in col.arrivals:
        if t < since or ev["kind"] != kind:
            continue
        if device_id is not None and (ev.get("device") or {}).get("id") != device_id:
            continue
        if trace is not None and ev.get("trace") != trace:
            continue
        return t, ev
    return None


async def wait_event(col: Collector, since: float, kind: str, device_id: str | None = None,
                     trace: str | None = None, timeout: float = EVENT_TIMEOUT_S) -> tuple[float, dict[str, Any]]:
    await col.wait_for(lambda c: arrival(c, since, kind, device_id, trace) is not None, timeout=timeout)
    found = arrival(col, since, kind, device_id, trace)
    assert found is not None
    return found


class Edges:
    """The rig's edges, built once the rig is up."""

    def __init__(self, rig: RigRunner) -> None:
        assert rig.gateway is not None
        self.sim = SimEdge(rig.gateway.url, rig.device_ids)
        self.zigbee = ZigbeeSimEdge(rig.znp.control) if rig.znp else None
        self.ble = BleSimEdge(rig.bluez.control) if rig.bluez else None
        self.gpio = GpioEdge() if any(d.edge == "gpio" for d in rig.rig.devices) else None

    def for_device(self, device: DeviceSpec) -> Edge | None:
        return {"sim": self.sim, "zigbee": self.zigbee, "ble": self.ble, "gpio": self.gpio}[device.edge]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def edges(rig: RigRunner) -> Edges:
    edges = Edges(rig)
    if edges.zigbee is not None:
        await pair_zigbee(rig, edges.zigbee, [d for d in rig.rig.devices_on("zigbee")])
    return edges


async def pair_zigbee(rig: RigRunner, zigbee: ZigbeeSimEdge, devices: list[DeviceSpec]) -> list[float]:
    """Open permit-join with a platform command, let each simulated device join; returns join->ready times."""
    assert rig.gateway is not None
    deadline = time.monotonic() + 60  # the coordinator may still be forming its network
    while "permit_open=True" not in await zigbee.send("status"):
        assert time.monotonic() < deadline, "permit_join never opened the Zigbee network"
        await publish(rig, f"fbgw/v1/{rig.gateway_id}/cmd", {
            "id": f"hil-{uuid.uuid4().hex[:12]}", "gateway": rig.gateway_id, "cmd": "permit_join",
            "args": {"seconds": 120, "transport": "zigbee"}, "expires_at": int(time.time() * 1000) + 60_000})
        await asyncio.sleep(2.0)
    times = []
    for device in devices:
        t0 = time.monotonic()
        answer = await zigbee.send(f"join {ZIGBEE_KINDS[device.kind]}")  # "ok joined smoke-1 ieee=... nwk=..."
        words = dict(w.split("=", 1) for w in answer.split() if "=" in w)
        sim_name = answer.split()[2]
        dev_id = f"zb-{words['ieee']}"
        zigbee.sim_names[device.name] = sim_name
        rig.device_ids[device.name] = dev_id
        deadline = time.monotonic() + 30
        while not any(d["id"] == dev_id for d in await asyncio.to_thread(rig.gateway.devices)):
            assert time.monotonic() < deadline, f"{device.name} ({dev_id}) never became ready"
            await asyncio.sleep(0.1)
        times.append((time.monotonic() - t0) * 1000)
    return times


# ----------------------------------------------------------------------------------------------- alarms


async def test_alarm_end_to_end(rig: RigRunner, edges: Edges, platform: Collector, rig_device: str,
                                result: ScenarioResult) -> None:
    """Every device kind's alarm (or state change) arrives as the right event, sample after sample."""
    device = device_spec(rig.rig, rig_device)
    edge = edges.for_device(device)
    if edge is None:
        pytest.skip(f"edge {device.edge!r} is not on rig {rig.rig.name}")
    dev_id = rig.device_ids.get(device.name, device.name)
    _, _, kind = RAISE[device.kind]
    for i in range(rig.rig.samples):
        trace = f"hil-{device.name}-{i}"
        t0 = time.monotonic()
        await edge.trigger(device, trace)
        t, ev = await wait_event(platform, t0, kind, dev_id)
        result.latencies_ms.append((t - t0) * 1000)
        if ev["priority"] == "alarm" and device.kind in ("call_button", "pull_cord"):
            t1 = time.monotonic()  # the platform closes the call, so the next press is a new call
            await publish(rig, f"fbgw/v1/{rig.gateway_id}/alarms/ack", {"alarm": ev["id"], "action": "close"})
            await wait_event(platform, t1, "alarm.resolved")
        else:
            t1 = time.monotonic()
            await edge.clear(device, trace + "-clear")
            if device.kind != "door":
                await wait_event(platform, t1, f"{kind}.cleared", dev_id)
            else:
                await wait_event(platform, t1, "state.door", dev_id)


async def test_tamper(rig: RigRunner, edges: Edges, platform: Collector, result: ScenarioResult) -> None:
    """A detector opened (or a cut loop) is reported as device.tamper, and its restore as cleared."""
    candidates = [d for d in rig.rig.devices_on("sim") if d.kind in ("smoke", "door", "gas")]
    if not candidates:
        pytest.skip(f"no device on rig {rig.rig.name} whose tamper switch the rig can drive")
    device = candidates[0]
    for i in range(rig.rig.samples):
        t0 = time.monotonic()
        await edges.sim.tamper(device, True, f"tamper-{i}")
        t, _ = await wait_event(platform, t0, "device.tamper", device.name)
        result.latencies_ms.append((t - t0) * 1000)
        t1 = time.monotonic()
        await edges.sim.tamper(device, False, f"tamper-{i}-off")
        await wait_event(platform, t1, "device.tamper.cleared", device.name)


# ------------------------------------------------------------------------------------- failures


def _first_call_device(rig: RigRunner) -> DeviceSpec:
    sims = [d for d in rig.rig.devices_on("sim") if d.kind in ("call_button", "pull_cord")]
    if not sims:
        pytest.skip(f"rig {rig.rig.name} has no simulated call device to press while breaking things")
    return sims[0]


async def test_alarm_while_broker_down_then_up(rig: RigRunner, edges: Edges, platform: Collector,
                                               result: ScenarioResult) -> None:
    """An alarm made while the broker is away arrives once it is back (latency counted from its return)."""
    if rig.broker is None:
        pytest.skip("the rig's broker is not started by the suite, so it cannot stop it")
    device = _first_call_device(rig)
    for i in range(min(rig.rig.samples, 3)):
        rig.broker.stop()
        trace = f"down-{i}"
        await edges.sim.trigger(device, trace)  # accepted: committed to the outbox while offline
        await asyncio.sleep(1.0)
        rig.broker.start()
        back = time.monotonic()
        t, ev = await wait_event(platform, 0, "alarm.emergency_call", device.name, trace=trace, timeout=20)
        result.latencies_ms.append(max(0.0, t - back) * 1000)
        await publish(rig, f"fbgw/v1/{rig.gateway_id}/alarms/ack", {"alarm": ev["id"], "action": "close"})


async def test_gateway_killed_and_restarted(rig: RigRunner, edges: Edges, platform: Collector,
                                            result: ScenarioResult) -> None:
    """kill -9 in the middle of a stream of presses: every press the gateway accepted reaches the platform."""
    assert rig.gateway is not None
    device = _first_call_device(rig)
    accepted: list[str] = []
    for i in range(40):
        trace = f"kill-{i}"
        try:
            await edges.sim.trigger(device, trace)
            accepted.append(trace)
        except (aiohttp.ClientError, RuntimeError):
            break
        if i == 20:
            rig.gateway.kill9()
    t_restart = time.monotonic()
    await asyncio.to_thread(rig.gateway.start)
    await platform.wait_for(lambda c: set(accepted) <= c.traces(), timeout=30)
    last = max(t for t, _, ev in platform.arrivals if ev.get("trace") in accepted)
    result.latencies_ms.append(max(0.0, last - t_restart) * 1000)
    result.reason = f"{len(accepted)} accepted presses, all delivered; latency: restart -> last one delivered"
    assert len(accepted) >= 21
    for _, _, ev in platform.arrivals:  # close the call those presses opened, for the scenarios after this
        if ev["kind"] == "alarm.emergency_call" and ev.get("trace") in accepted:
            await publish(rig, f"fbgw/v1/{rig.gateway_id}/alarms/ack", {"alarm": ev["id"], "action": "close"})


async def test_radio_unplugged_and_back(rig: RigRunner, edges: Edges, platform: Collector,
                                        result: ScenarioResult) -> None:
    """The Zigbee coordinator disappears: gateway.radio_lost; it comes back: restored, and alarms flow again."""
    if edges.zigbee is None:
        pytest.skip(f"rig {rig.rig.name} cannot unplug its Zigbee coordinator (no simulator)")
    t0 = time.monotonic()
    await edges.zigbee.send("unplug")
    t, _ = await wait_event(platform, t0, "gateway.radio_lost", timeout=60)
    result.latencies_ms.append((t - t0) * 1000)
    t1 = time.monotonic()
    await edges.zigbee.send("replug")
    await wait_event(platform, t1, "gateway.radio_restored", timeout=90)
    zb = [d for d in rig.rig.devices_on("zigbee") if d.kind == "smoke"]
    if zb:
        t2 = time.monotonic()
        await edges.zigbee.trigger(zb[0], "after-replug")
        await wait_event(platform, t2, "alarm.smoke", rig.device_ids[zb[0].name], timeout=30)
        await edges.zigbee.clear(zb[0], "after-replug-clear")


async def test_pairing_a_device(rig: RigRunner, edges: Edges, platform: Collector, result: ScenarioResult) -> None:
    """A new Zigbee detector joins through a platform permit_join, is interviewed, enrolled and alarms."""
    if edges.zigbee is None:
        pytest.skip(f"rig {rig.rig.name} has no simulated Zigbee device to pair")
    new = DeviceSpec(name="zb-paired-in-run", kind="gas", edge="zigbee")
    times = await pair_zigbee(rig, edges.zigbee, [new])
    result.latencies_ms.extend(times)
    t0 = time.monotonic()
    await edges.zigbee.trigger(new, "paired")
    await wait_event(platform, t0, "alarm.gas", rig.device_ids[new.name])
    await edges.zigbee.clear(new, "paired-clear")
    result.reason = "latency: join -> device ready in the gateway"


async def test_config_push(rig: RigRunner, platform: Collector, result: ScenarioResult) -> None:
    """A desired document is applied and reported (retained) with state applied."""
    version = int(time.time())
    t0 = time.monotonic()
    await publish(rig, f"fbgw/v1/{rig.gateway_id}/config/desired",
                  {"version": version, "rules": {"battery_low_pct": 25}})

    def reported(c: Collector) -> dict[str, Any] | None:
        for topic, payload, _ in reversed(c.messages):
            if topic.endswith("/config/reported"):
                doc = json.loads(payload)
                if doc.get("version") == version:
                    return doc
        return None

    await platform.wait_for(lambda c: reported(c) is not None, timeout=EVENT_TIMEOUT_S)
    result.latencies_ms.append((time.monotonic() - t0) * 1000)
    doc = reported(platform)
    assert doc is not None and doc["state"] == "applied", doc
    assert doc["effective"]["rules"]["battery_low_pct"] == 25


async def test_alarm_ack_loop(rig: RigRunner, edges: Edges, platform: Collector, result: ScenarioResult) -> None:
    """Alarm -> platform ack -> alarm.acknowledged -> platform close -> alarm.resolved."""
    device = _first_call_device(rig)
    for i in range(rig.rig.samples):
        t0 = time.monotonic()
        await edges.sim.trigger(device, f"ack-{i}")
        _, ev = await wait_event(platform, t0, "alarm.emergency_call", device.name, trace=f"ack-{i}")
        t1 = time.monotonic()
        await publish(rig, f"fbgw/v1/{rig.gateway_id}/alarms/ack", {"alarm": ev["id"], "by": "hil"})
        t, ack = await wait_event(platform, t1, "alarm.acknowledged")
        assert ack["data"].get("alarm") == ev["id"] or ev["id"] in json.dumps(ack["data"])
        result.latencies_ms.append((t - t1) * 1000)
        await publish(rig, f"fbgw/v1/{rig.gateway_id}/alarms/ack", {"alarm": ev["id"], "action": "close"})
        await wait_event(platform, t1, "alarm.resolved")
    result.reason = "latency: ack published -> alarm.acknowledged received"


async def test_gpio_pull_cord(rig: RigRunner, edges: Edges, platform: Collector, result: ScenarioResult) -> None:
    """A relay on a GPIO output pulls the cord on a GPIO input: alarm.emergency_call."""
    cords = rig.rig.devices_on("gpio")
    if edges.gpio is None or not cords:
        pytest.skip(f"rig {rig.rig.name} has no GPIO output wired to an input (the simulated rig's fake lines "
                    "live inside the gateway process; tests/drivers/gpio covers that path end to end)")
    for i in range(rig.rig.samples):
        t0 = time.monotonic()
        await edges.gpio.trigger(cords[0], f"gpio-{i}")
        t, ev = await wait_event(platform, t0, "alarm.emergency_call", cords[0].name)
        result.latencies_ms.append((t - t0) * 1000)
        await publish(rig, f"fbgw/v1/{rig.gateway_id}/alarms/ack", {"alarm": ev["id"], "action": "close"})
