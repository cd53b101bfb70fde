"""The platform talking to the gateway: a device paired in, a config pushed, an alarm acknowledged."""

from __future__ import annotations

import asyncio
import json
import secrets
import time

import pytest

from gateway.tools.flood import INBOUND, flood
from hil_tests.bringup import RigEdges, pair_zigbee
from hil_tests.edges import CALLS, CLEAR, RAISE, BleSimEdge, Rf433SimEdge, ZigbeeSimEdge
from hil_tests.harness import RigRunner
from hil_tests.observe import Platform, broker_address, data_is, retained
from hil_tests.report import ScenarioResult
from hil_tests.rig import DeviceSpec
from hil_tests.technician import Technician

pytestmark = [pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="session")]


async def test_pairing_a_device(
    rig: RigRunner, edges: RigEdges, platform: Platform, transport: str, result: ScenarioResult
) -> None:
    """A new device is added the way it is on site, and its first alarm arrives.

    zigbee: a detector joins after a platform ``permit_join``, is interviewed and enrolled.
    ble: the platform opens the install window, the technician signs in on the page, starts pairing, the
    button advertises, and the technician adds it with its bindkey.
    rf433: the same page flow; the technician pulls the new cord, the page lists the code heard, and the
    technician adds it as a pull cord.
    """
    edge = edges.get(transport)
    if edge is None:
        pytest.skip(edges.absent(transport) or "")
    if isinstance(edge, ZigbeeSimEdge):
        new = DeviceSpec(name="zb-paired-in-run", kind="gas", edge="zigbee")
        result.latencies_ms.extend(await pair_zigbee(rig, platform, edge, [new]))
        how = "latency: join -> device ready in the gateway"
    elif isinstance(edge, Rf433SimEdge):
        new = DeviceSpec(name="rf433-paired-in-run", kind="pull_cord", edge="rf433", code="a5c3e1")
        result.latencies_ms.append(await pair_rf433(rig, platform, edge, new))
        how = "latency: code pressed -> device added on the page"
    else:
        assert isinstance(edge, BleSimEdge)
        new = DeviceSpec(
            name="ble-paired-in-run",
            kind="call_button",
            edge="ble",
            mac="3C:2E:F5:00:0A:01",
            bindkey=secrets.token_hex(16),
        )
        result.latencies_ms.append(await pair_ble(rig, platform, edge, new))
        how = "latency: adopt asked on the page -> device added"
    dev_id = rig.device_ids[new.name]
    _, _, kind = RAISE[new.kind]
    t0 = time.monotonic()
    await edge.trigger(new, "paired")
    t, ev = await platform.wait(t0, kind, dev_id)
    t1 = time.monotonic()
    if new.kind in CALLS:
        await platform.close_alarm(ev["id"], t1)
    else:
        await edge.clear(new, "paired-clear")
        await platform.wait(t1, CLEAR[new.kind][2], dev_id)
    result.reason = f"{dev_id}; {how}; its first alarm {(t - t0) * 1000:.0f} ms"


async def test_pairing_a_xiaomi_sensor(
    rig: RigRunner, edges: RigEdges, platform: Platform, result: ScenarioResult
) -> None:
    """A Xiaomi MiBeacon door sensor (encrypted) is added on the technician page with its bindkey, like a
    BTHome device (a wrong bindkey refused); its door opening reaches the platform as ``state.door``."""
    edge = edges.get("ble")
    if edge is None:
        pytest.skip(edges.absent("ble") or "")
    if not isinstance(edge, BleSimEdge):
        pytest.skip("the suite cannot open a real Xiaomi sensor's door: pair one in the lab")
    new = DeviceSpec(
        name="ble-xiaomi-paired-in-run",
        kind="door",
        edge="ble",
        family="mibeacon",
        model="MCCGQ02HL",
        mac="E4:AA:EC:00:0A:02",
        bindkey=secrets.token_hex(16),
    )
    adopt_ms = await pair_ble(rig, platform, edge, new)
    result.latencies_ms.append(adopt_ms)
    dev_id = rig.device_ids[new.name]
    t0 = time.monotonic()
    await edge.clear(new, "xiaomi-closed")  # the sensor was left open by the pairing adverts
    await platform.wait(t0, "state.door", dev_id, where=data_is("value", "closed"))
    t1 = time.monotonic()
    await edge.trigger(new, "xiaomi-open")
    t2, _ev = await platform.wait(t1, "state.door", dev_id, where=data_is("value", "open"))
    result.reason = (
        f"{dev_id}; latency: adopt asked on the page -> device added; door opened -> state.door "
        f"{(t2 - t1) * 1000:.0f} ms"
    )


async def pair_ble(rig: RigRunner, platform: Platform, ble: BleSimEdge, new: DeviceSpec) -> float:
    """The technician's BLE flow on the gateway's page; returns the adopt time in ms."""
    assert rig.gateway is not None and new.mac and new.bindkey
    opened = await platform.command("open_install_window", {"seconds": 900})
    assert opened["status"] == "ok", opened
    async with Technician(rig.gateway.url, rig.installer_code) as tech:
        await tech.sign_in()
        status, body = await tech.post("/api/pairing/ble/start", {"seconds": 60})
        assert status == 200, body
        await ble.trigger(new, "pairing-advert")  # the technician presses the new button
        wrong = {"address": new.mac, "type": new.kind, "bindkey": secrets.token_hex(16)}
        status, body = await tech.post("/api/pairing/ble/adopt", wrong)  # a mistyped bindkey is refused
        assert status != 200 and "bindkey" in body.get("error", ""), (status, body)
        await ble.trigger(new, "pairing-advert")
        t0 = time.monotonic()
        adopt = asyncio.create_task(
            tech.post(
                "/api/pairing/ble/adopt",
                {"address": new.mac, "type": new.kind, "name": new.name, "room": new.room, "bindkey": new.bindkey},
            )
        )
        while not adopt.done():  # and presses it again while the page waits for a fresh advert
            await asyncio.wait({adopt}, timeout=1.0)
            if not adopt.done():
                await ble.trigger(new, "pairing-advert")
        status, body = await adopt
        took_ms = (time.monotonic() - t0) * 1000
        assert status == 200, body
        assert body["device"]["has_secret"] is True, body
        await tech.post("/api/pairing/ble/stop", {})
    rig.device_ids[new.name] = str(body["device"]["id"])
    return took_ms


async def pair_rf433(rig: RigRunner, platform: Platform, rf433: Rf433SimEdge, new: DeviceSpec) -> float:
    """The technician's 433 MHz flow on the gateway's page; returns press -> added in ms."""
    assert rig.gateway is not None and new.code
    opened = await platform.command("open_install_window", {"seconds": 900})
    assert opened["status"] == "ok", opened
    async with Technician(rig.gateway.url, rig.installer_code) as tech:
        await tech.sign_in()
        status, body = await tech.post("/api/pairing/rf433/start", {"seconds": 60})
        assert status == 200, body
        status, body = await tech.post("/api/pairing/rf433/adopt", {"address": new.code, "type": new.kind})
        assert status == 422 and "not heard" in body.get("error", ""), (status, body)  # not pressed yet
        t0 = time.monotonic()
        await rf433.trigger(new, "pairing-press")  # the technician pulls the new cord
        while True:  # the page lists what it heard
            async with tech.http.get(rig.gateway.url + "/api/pairing/rf433") as resp:
                state = await resp.json()
            if new.code in json.dumps(state):
                break
            assert time.monotonic() < t0 + 15, f"the page never listed code {new.code}: {state}"
            await asyncio.sleep(0.1)
        adopt = {"address": new.code, "type": new.kind, "name": new.name, "room": new.room}
        status, body = await tech.post("/api/pairing/rf433/adopt", adopt)
        took_ms = (time.monotonic() - t0) * 1000
        assert status == 200, body
        await tech.post("/api/pairing/rf433/stop", {})
    rig.device_ids[new.name] = str(body["device"]["id"])
    await asyncio.sleep(0.5)  # the rest of the pairing burst is over before the first real press
    return took_ms


async def test_config_push(rig: RigRunner, platform: Platform, result: ScenarioResult) -> None:
    """A desired document (retained, as the platform publishes it) is applied and reported back retained."""
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


async def test_device_list(rig: RigRunner, platform: Platform, result: ScenarioResult) -> None:
    """The retained device list names every device the gateway has; a name pushed by the platform arrives as
    ``device.renamed`` and in the republished list."""
    assert rig.gateway is not None
    listed: dict[str, dict[str, object]] = {}
    for _ in range(20):  # a device paired by an earlier scenario is listed once its change is published
        kept = await retained(rig.broker_url, platform.topic("devices"))
        assert kept is not None and kept[1], "fbgw/v1/{gateway}/devices is not retained"
        listed = {d["id"]: d for d in json.loads(kept[0])["devices"]}
        if set(listed) == {d["id"] for d in await asyncio.to_thread(rig.gateway.devices)}:
            break
        await asyncio.sleep(0.25)
    assert set(listed) == {d["id"] for d in await asyncio.to_thread(rig.gateway.devices)}
    named = sorted(listed)[0]
    version = int(time.time() * 1000)
    new_name = f"hil-name-{version % 10_000}"
    t0 = time.monotonic()
    await platform.send_retained(
        "config/desired", {"version": version, "gateway": rig.gateway_id, "devices": {named: {"name": new_name}}}
    )
    try:
        t, ev = await platform.wait(t0, "device.renamed", named)
        assert ev["data"]["name"] == new_name and ev["data"]["before"]["name"] == listed[named]["name"], ev
        result.latencies_ms.append((t - t0) * 1000)

        def republished() -> bool:
            for topic, payload, _ in reversed(platform.col.messages):
                if topic == platform.topic("devices") and payload:
                    return any(d["id"] == named and d["name"] == new_name for d in json.loads(payload)["devices"])
            return False

        await platform.col.wait_for(lambda c: republished(), timeout=10)
    finally:
        await platform.send_retained("config/desired", None)
    result.reason = f"{len(listed)} devices listed; latency: name pushed -> device.renamed received"


async def test_alarm_ack_loop(rig: RigRunner, edges: RigEdges, platform: Platform, result: ScenarioResult) -> None:
    """Alarm -> platform ack -> ``alarm.acknowledged`` -> platform close -> ``alarm.resolved``."""
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


#: Hostile messages per inbound topic in ``ack_after_a_flood`` (QoS 1, as the platform's broker delivers them).
FLOOD_PER_TOPIC = 1000


async def test_ack_after_a_flood(rig: RigRunner, edges: RigEdges, platform: Platform, result: ScenarioResult) -> None:
    """A burst of hostile messages on every inbound topic (``gateway.tools.flood``); the gateway sheds it, says so
    in its status, and the alarm -> ack -> ``alarm.acknowledged`` loop still works right after."""
    device = edges.call_device(rig)
    edge = edges.get(device.edge)
    assert edge is not None
    dev_id = rig.device_ids[device.name]
    host, port = broker_address(platform.broker_url)
    sent = await asyncio.to_thread(flood, host, port, platform.gateway_id, FLOOD_PER_TOPIC, qos=1)
    deadline = time.monotonic() + 60
    while True:  # until the gateway has taken the whole burst in
        lanes = (await asyncio.to_thread(rig.gateway.get, "/api/status"))["uplink"]["inbound"]
        if all(lanes[t]["received"] >= FLOOD_PER_TOPIC for t in INBOUND):
            break
        assert time.monotonic() < deadline, lanes
        await asyncio.sleep(0.2)
    dropped = sum(lanes[t]["queue_full"] + lanes[t]["rate_limited"] + lanes[t]["too_large"] for t in INBOUND)
    t0 = time.monotonic()
    await edge.trigger(device, "after-flood")
    _, ev = await platform.wait(t0, "alarm.emergency_call", dev_id)
    t1 = time.monotonic()
    await platform.ack(ev["id"])
    t, ack = await platform.wait(t1, "alarm.acknowledged", where=data_is("alarm", ev["id"]))
    assert ack["data"]["by"] == "hil", ack
    result.latencies_ms.append((t - t1) * 1000)
    await platform.close_alarm(ev["id"], t1)
    result.reason = (
        f"{sent['messages']:,.0f} hostile messages first ({dropped:,} shed); "
        "latency: ack published -> alarm.acknowledged received"
    )
