"""What an IAS zone device's status says when it is enrolled is reported once it is ready.

Many sensors notify only on a change: a leak sensor fitted in a spot that is already wet, or a detector already
sounding while it is paired (the technician's test press during the interview, which reaches the gateway before
the device is known), would otherwise say nothing until it changes again. The driver reads the zone status
while enrolling; here the simulated device's status is set while it is being interviewed (unenrolled, it sends
no notification, as the IAS Zone specification has it), and the readings the driver gives once it is ready are
checked: conditions that are on (an alarm, a tamper switch open) are reported, nothing else is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from drivers.zigbee import ZigbeeDriver
from sims.znp import ZnpSimulator
from tests.drivers.zigbee.conftest import Sink, running, wait_for


async def _pair_with(sim: ZnpSimulator, sink: Sink, driver: ZigbeeDriver, kind: str, bits: tuple[str, ...] = ()) -> str:
    await driver.start_pairing(60)
    dev = sim.join(kind)
    for bit in bits:
        sim.set_status(dev.name, bit, True)
    device_id = f"zb-{dev.ieee_hex}"
    await wait_for(lambda: {"ready", "failed"} & set(sink.stages(device_id)), 20, f"{kind} ready")
    assert "failed" not in sink.stages(device_id), [u.detail for u in sink.updates if u.device == device_id]
    return device_id


async def _readings_settle() -> None:
    """Readings travel through the driver's queue after "ready"; give them a moment (they need far less)."""
    await asyncio.sleep(0.3)


async def test_a_leak_sensor_already_wet_alarms_when_it_is_ready(
    sim: ZnpSimulator, sink: Sink, make_driver: Callable[..., ZigbeeDriver]
) -> None:
    driver = await running(make_driver(sim.path))
    device_id = await _pair_with(sim, sink, driver, "leak", ("alarm",))
    await wait_for(lambda: sink.values(device_id, "leak"), 5, "the leak reported")
    await _readings_settle()
    assert sink.values(device_id, "leak") == [True]
    reading = next(r for r in sink.readings if r.device == device_id and r.capability == "leak")
    assert reading.meta["zone_status"] & 0x0001


async def test_a_door_state_is_left_to_its_next_change(
    sim: ZnpSimulator, sink: Sink, make_driver: Callable[..., ZigbeeDriver]
) -> None:
    """Open or closed is a state, not an alarm: the platform hears it when the door next moves."""
    driver = await running(make_driver(sim.path))
    opened = await _pair_with(sim, sink, driver, "door", ("alarm", "tamper"))
    await wait_for(lambda: sink.values(opened, "tamper"), 5, "the tamper flag")
    await _readings_settle()
    assert sink.values(opened, "contact") == []
    sim.set_status(next(d.name for d in sim.net.devices.values() if f"zb-{d.ieee_hex}" == opened), "alarm", False)
    await wait_for(lambda: sink.values(opened, "contact") == ["closed"], 5, "the next change")


async def test_a_clear_detector_reports_only_its_raised_flags_and_a_button_no_press(
    sim: ZnpSimulator, sink: Sink, make_driver: Callable[..., ZigbeeDriver]
) -> None:
    driver = await running(make_driver(sim.path))
    smoke = await _pair_with(sim, sink, driver, "smoke", ("tamper",))
    button = await _pair_with(sim, sink, driver, "button", ("alarm",))
    await wait_for(lambda: sink.values(smoke, "tamper"), 5, "the tamper flag")
    await _readings_settle()
    assert sink.values(smoke, "tamper") == [True]
    assert sink.values(smoke, "smoke") == []  # "no alarm" is what a new device is taken to be
    # A button's alarm bit may be left set by an earlier press: it is not a call now.
    assert [r.capability for r in sink.readings if r.device == button and r.capability == "press"] == []
    # ... and its next press is one.
    sim.set_status(next(d.name for d in sim.net.devices.values() if f"zb-{d.ieee_hex}" == button), "alarm", True)
    await wait_for(lambda: sink.values(button, "press"), 5, "the next press")
