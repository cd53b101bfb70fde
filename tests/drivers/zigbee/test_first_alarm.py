"""A just-paired detector's first alarm is never lost to a request still in flight to it.

zigpy takes any frame from a device whose ZCL sequence number, endpoint, cluster and direction match a
request it is waiting on as that request's reply, and routes it no further. A heiman-style detector asks
to be enrolled as soon as its CIE address is written, so the driver answers that request while it is also
enrolling the device itself. If the device were reported ready with that answer still in flight, a first
alarm sent just after the answer's default response, numbered as the answer (the simulator's counter runs
in step with zigpy's here, as it did on the HIL rig), would be taken for that reply and dropped.

The race is made deterministic: the simulated detector asks to be enrolled right behind its default response
to the gateway's own Enroll Response, and holds its default response to the second Enroll Response (the
answer to its request) until the device is reported ready, or a second has passed; on "ready" that response
is released with the alarm right behind it (if "ready" comes before the answer reaches the detector, the alarm
follows its reply as soon as it does).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from drivers.base import PairingUpdate
from drivers.zigbee import ZigbeeDriver
from sims.znp import ZnpSimulator, zcl
from sims.znp.devices import IAS_ZONE
from tests.drivers.zigbee.conftest import Sink, running, wait_for

ENROLL_RESPONSE = 0x00


async def test_first_alarm_after_ready_is_not_taken_for_a_reply(
    sim: ZnpSimulator, sink: Sink, make_driver: Callable[..., ZigbeeDriver]
) -> None:
    on_ready: list[Callable[[str], None]] = []
    recorded = sink.pairing

    def pairing(update: PairingUpdate) -> None:
        recorded(update)
        if update.stage == "ready" and update.device is not None:
            for hook in on_ready:
                hook(update.device)

    sink.pairing = pairing  # type: ignore[method-assign]  # before the driver takes the sink's method
    driver = await running(make_driver(sim.path))
    await driver.start_pairing(60)
    dev = sim.join("gas")
    device_id = f"zb-{dev.ieee_hex}"
    original = dev.handle_zcl
    held: list[bytes] = []
    enroll_responses = 0
    alarm_sent_at_ready: list[bool] = []

    def handle_zcl(cluster: int, data: bytes) -> list[bytes]:
        nonlocal enroll_responses
        frame = zcl.ZclFrame.parse(data)
        replies = original(cluster, data)
        if cluster != IAS_ZONE:
            return replies
        if not frame.cluster_specific and frame.command == zcl.WRITE_ATTRS:
            dev.enroll_pending = False  # it asks below, at a fixed point instead of 20 ms later
        elif frame.cluster_specific and frame.command == ENROLL_RESPONSE:
            enroll_responses += 1
            if enroll_responses == 1:  # its "enroll me" crossed the gateway's own Enroll Response
                replies.append(dev.enroll_request()[1])
            elif enroll_responses == 2:  # the answer to that request: its reply waits for "ready"
                held.extend(replies)
                if alarm_sent_at_ready:  # "ready" came first: reply, and the alarm right behind it
                    release()
                    sim.alarm(dev.name)
                return []
        return replies

    dev.handle_zcl = handle_zcl  # type: ignore[method-assign]

    def release() -> None:
        for reply in held:
            sim.net.device_zcl(dev, IAS_ZONE, reply)
        held.clear()

    def ready(ready_id: str) -> None:
        """The detector alarms the moment the gateway lists it, right behind its reply to the answer (written
        in one go, before the host reads: numbered after that reply, as a device's next frame is)."""
        if ready_id != device_id:
            return
        alarm_sent_at_ready.append(True)
        if enroll_responses >= 2:  # the reply is held (or was sent before "ready"): alarm now
            release()
            sim.alarm(dev.name)

    on_ready.append(ready)
    await wait_for(lambda: enroll_responses >= 2 or "failed" in sink.stages(device_id), 10, "two enroll responses")
    await asyncio.sleep(1.0)
    if held:  # not reported ready while the answer is in flight: let it go; the alarm follows "ready"
        release()
    await wait_for(lambda: "ready" in sink.stages(device_id) or "failed" in sink.stages(device_id), 10, "ready")
    assert "failed" not in sink.stages(device_id), [u.detail for u in sink.updates if u.device == device_id]
    assert alarm_sent_at_ready == [True]
    await wait_for(lambda: True in sink.values(device_id, "gas"), 5, "the first alarm")
