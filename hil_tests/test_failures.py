"""Things breaking around the gateway: the broker away, the gateway killed, a radio unplugged.

No alarm the gateway accepted may be lost, and everything must work again once the fault is gone.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from hil_tests.bringup import RigEdges
from hil_tests.edges import CALLS, CLEAR, RAISE, Edge, Radio, SimEdge
from hil_tests.harness import RigRunner
from hil_tests.observe import Platform, data_is
from hil_tests.report import ScenarioResult
from hil_tests.rig import DeviceSpec

pytestmark = [pytest.mark.timeout(150), pytest.mark.asyncio(loop_scope="session")]


async def raise_and_settle(
    rig: RigRunner,
    platform: Platform,
    edge: Edge,
    device: DeviceSpec,
    trace: str,
    timeout: float = 60.0,
    retry_s: float = 3.0,
) -> float:
    """Make ``device`` raise until its event arrives (a radio may still be coming up), then clear or close
    it again; returns the latency of the stimulus that got through, in ms."""
    dev_id = rig.device_ids[device.name]
    kind = RAISE[device.kind][2]
    deadline = time.monotonic() + timeout
    first = time.monotonic()
    stimuli: list[float] = []
    while True:
        stimuli.append(time.monotonic())
        await edge.trigger(device, trace)
        try:  # an event from any attempt counts (a late one may land just before the next attempt)
            t, _ = await platform.wait(first, kind, dev_id, timeout=min(retry_s, deadline - stimuli[-1]))
            break
        except TimeoutError:
            if time.monotonic() >= deadline:
                raise
    t0 = max(s for s in stimuli if s <= t)
    t1 = time.monotonic()
    if device.kind in CALLS:  # every press that got through opened or repeated the call: close what is open
        for t_call, _, call in list(platform.col.arrivals):
            if t_call >= first and call["kind"] == kind and call["device"]["id"] == dev_id:
                await platform.close_alarm(call["id"], t1)
    elif device.kind in CLEAR:
        await edge.clear(device, trace + "-clear")
        _, value, cleared = CLEAR[device.kind]
        await platform.wait(t1, cleared, dev_id, where=data_is("value", value))
    return (t - t0) * 1000


async def test_alarm_while_broker_down_then_up(
    rig: RigRunner, edges: RigEdges, platform: Platform, result: ScenarioResult
) -> None:
    """An alarm raised while the broker is away arrives once it is back (latency counted from its return)."""
    if rig.broker is None:
        pytest.skip("not on this rig: the rig's broker is not started by the suite, so the suite cannot stop it")
    assert rig.gateway is not None
    device = edges.call_device(rig)
    edge = edges.get(device.edge)
    assert edge is not None
    dev_id = rig.device_ids[device.name]
    for i in range(min(rig.rig.samples, 3)):
        await asyncio.to_thread(rig.broker.stop)
        t_press = time.monotonic()
        await edge.trigger(device, f"down-{i}")  # the gateway commits it to its outbox while offline
        await asyncio.sleep(1.0)
        status = await asyncio.to_thread(rig.gateway.get, "/api/status")
        assert status["uplink"]["state"] != "online", status["uplink"]
        assert status["outbox"]["alarms"] >= 1, f"the call is not waiting in the outbox: {status['outbox']}"
        await asyncio.to_thread(rig.broker.start)
        back = time.monotonic()
        t, ev = await platform.wait(t_press, "alarm.emergency_call", dev_id, timeout=30)
        result.latencies_ms.append((t - back) * 1000)
        await platform.close_alarm(ev["id"], back)
    result.reason = (
        f"device {device.name}; latency: broker back -> alarm delivered (includes the uplink reconnect backoff)"
    )


async def test_alarm_while_broker_frozen(
    rig: RigRunner, edges: RigEdges, platform: Platform, result: ScenarioResult
) -> None:
    """The broker hangs with its sockets open (SIGSTOP) as a call is made: the keepalive would take up to two
    periods to notice; the gateway gives the silent connection up once the call has waited ``alarm_stall_s``,
    and the call arrives as soon as the broker thaws (latency counted from the thaw)."""
    if rig.broker is None:
        pytest.skip("not on this rig: the rig's broker is not started by the suite, so the suite cannot freeze it")
    assert rig.gateway is not None
    device = edges.call_device(rig)
    edge = edges.get(device.edge)
    assert edge is not None
    dev_id = rig.device_ids[device.name]
    status = await asyncio.to_thread(rig.gateway.get, "/api/status")
    aborts = status["uplink"]["stall_aborts"]
    await asyncio.to_thread(rig.broker.pause)
    try:
        t_press = time.monotonic()
        await edge.trigger(device, "frozen")
        while status["uplink"]["stall_aborts"] == aborts:
            assert time.monotonic() < t_press + 20, f"the stalled call never ended the session: {status['uplink']}"
            await asyncio.sleep(0.25)
            status = await asyncio.to_thread(rig.gateway.get, "/api/status")
        noticed = time.monotonic() - t_press
    finally:
        await asyncio.to_thread(rig.broker.resume)
    back = time.monotonic()
    t, ev = await platform.wait(t_press, "alarm.emergency_call", dev_id, timeout=30)
    result.latencies_ms.append((t - back) * 1000)
    await platform.close_alarm(ev["id"], back)
    result.reason = (
        f"device {device.name}; the stalled connection given up {noticed:.1f} s after the press; "
        "latency: broker thawed -> alarm delivered"
    )


async def _press_until_killed(sim: SimEdge, device: DeviceSpec, accepted: list[str], killed: asyncio.Event) -> int:
    """Presses as fast as the gateway answers, until it is killed; returns how many were refused or lost."""
    lost, i = 0, 0
    while not killed.is_set():
        try:
            accepted.extend(await sim.press(device, f"kill-{i}"))
        except (aiohttp.ClientError, RuntimeError, TimeoutError):
            lost += 1
            await asyncio.sleep(0.05)
        i += 1
    return lost


async def _back_up(rig: RigRunner) -> None:
    """Whatever a failed scenario left down (the gateway, the suite's broker) is started again for the next."""
    assert rig.gateway is not None
    if rig.gateway.proc is None or rig.gateway.proc.poll() is not None:
        await asyncio.to_thread(rig.gateway.start)
    if rig.broker is not None and rig.broker.proc is None:
        await asyncio.to_thread(rig.broker.start)


async def test_gateway_killed_and_restarted(
    rig: RigRunner, edges: RigEdges, platform: Platform, result: ScenarioResult
) -> None:
    """kill -9 in the middle of a stream of presses, while committed presses are still waiting in the outbox
    (the suite's broker is stopped): the gateway restarts, the broker returns, and every press the gateway
    answered (committed) reaches the platform, checked by event id; then each of the rig's edges works again.

    On a rig whose broker the suite did not start the presses are delivered as they go: only those not yet
    seen by the platform at the restart show recovery, and the notes say so."""
    assert rig.gateway is not None
    notes: list[str] = []
    sim_calls = [d for d in rig.rig.devices_on("sim") if d.kind in CALLS]
    broker = rig.broker  # the suite's own: stopped, so that the kill finds committed events undelivered
    accepted: list[str] = []
    outbox: dict[str, Any] = {}  # the restarted gateway's outbox, before the broker returns
    try:
        if broker is not None:
            await asyncio.to_thread(broker.stop)
        if edges.sim is not None and sim_calls:
            killed = asyncio.Event()
            pressing = asyncio.create_task(_press_until_killed(edges.sim, sim_calls[0], accepted, killed))
            await asyncio.sleep(1.5)
            await asyncio.to_thread(rig.gateway.kill9)  # in the middle of a press, as likely as not
            seen_at_kill = {ev["id"] for ev in platform.col.events}
            killed.set()
            await pressing
        else:
            notes.append("no simulated call device: no press stream during the kill")
            await asyncio.to_thread(rig.gateway.kill9)
            seen_at_kill = set()
        t_restart = time.monotonic()
        startup_s = await asyncio.to_thread(rig.gateway.start)
        if broker is not None:
            outbox = (await asyncio.to_thread(rig.gateway.get, "/api/status"))["outbox"]
            t_back = time.monotonic()  # nothing can reach the platform before the broker runs again
            await asyncio.to_thread(broker.start)
            pending = [i for i in accepted if i not in seen_at_kill]
        else:
            t_back = t_restart
            seen_at_restart = {ev["id"] for ev in platform.col.events}  # delivered before the gateway died
            pending = [i for i in accepted if i not in seen_at_restart]
    finally:
        await _back_up(rig)
    if edges.sim is not None and sim_calls:
        assert len(accepted) >= 10, f"only {len(accepted)} presses were answered before the kill"
    if broker is not None:
        assert len(pending) == len(accepted), f"{len(accepted) - len(pending)} delivered while the broker was down"
        assert outbox["rows"] >= len(pending), f"the restarted gateway's outbox lacks committed presses: {outbox}"
    want = set(accepted)
    await platform.col.wait_for(lambda c: want <= {ev["id"] for ev in c.events}, timeout=30)
    if accepted:
        first_arrival: dict[str, float] = {}
        for t, _, ev in platform.col.arrivals:
            first_arrival.setdefault(ev["id"], t)
        if broker is not None:
            assert pending, "no committed press was still undelivered at the kill"
        if pending:
            latency_ms = (max(first_arrival[i] for i in pending) - t_back) * 1000
            assert latency_ms > 0, f"the last undelivered press came {-latency_ms:.0f} ms before the gateway was back"
            result.latencies_ms.append(latency_ms)
        if broker is not None:
            how = "the suite's broker was stopped during the presses; latency: broker started -> last one delivered"
        else:
            how = "the rig's broker is not the suite's: it stayed up and presses were delivered as they went; " + (
                "latency: gateway restarted -> last undelivered one delivered" if pending else "no latency sample"
            )
        when = "at the kill" if broker is not None else "when the gateway restarted"
        notes.append(
            f"{len(accepted)} committed presses, {len(pending)} undelivered {when}, all delivered after the "
            f"restart (gateway up in {startup_s:.1f} s); {how}"
        )
        for _, _, ev in list(platform.col.arrivals):  # close the call the stream opened
            if ev["id"] in want and ev["kind"] == "alarm.emergency_call":
                await platform.close_alarm(ev["id"], t_restart)
    for edge_name in ("gpio", "ble", "zigbee", "rf433"):  # after the restart, each radio and line works again
        edge = edges.get(edge_name)
        devices = edges.drivable(rig, edge_name)
        if edge is None or not devices:
            continue
        latency = await raise_and_settle(rig, platform, edge, devices[0], f"after-restart-{edge_name}")
        notes.append(f"{edge_name} {devices[0].name} delivered after restart ({latency:.0f} ms)")
    result.reason = "; ".join(notes)


async def test_radio_unplugged_and_back(
    rig: RigRunner, edges: RigEdges, platform: Platform, radio: str, result: ScenarioResult
) -> None:
    """The radio disappears: ``gateway.radio_lost``; it returns: ``gateway.radio_restored``; alarms flow."""
    edge = edges.get(radio)
    if edge is None or not isinstance(edge, Radio):
        pytest.skip(edges.absent(radio) or f"the rig cannot unplug its {radio} radio")
    t0 = time.monotonic()
    await edge.unplug()
    t, lost = await platform.wait(t0, "gateway.radio_lost", where=data_is("transport", radio), timeout=60)
    result.latencies_ms.append((t - t0) * 1000)
    t1 = time.monotonic()
    await edge.replug()
    t2, _ = await platform.wait(t1, "gateway.radio_restored", where=data_is("transport", radio), timeout=90)
    why = lost["data"]["reason"][:80].strip()
    notes = [f"latency: unplug -> radio_lost ({why}); replug -> restored {(t2 - t1) * 1000:.0f} ms"]
    devices = edges.drivable(rig, radio)
    if devices:
        latency = await raise_and_settle(rig, platform, edge, devices[0], f"after-replug-{radio}")
        notes.append(f"{devices[0].name} delivered after replug ({latency:.0f} ms)")
    result.reason = "; ".join(notes)
