"""The 433 MHz driver reading the simulated receiver module on a pty, through real pyserial-asyncio-fast."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from drivers.base import DriverConfigError
from drivers.rf433 import Rf433Driver
from gateway.registry import DeviceRegistry
from sims.rf433 import Rf433Simulator
from tests.drivers.ble.fakes import FakeSink
from tests.drivers.rf433.conftest import DriverFactory, receiving

pytestmark = pytest.mark.timeout(30)

CORD = 0x5A5A51


async def pair(driver: Rf433Driver, sim: Rf433Simulator, sink: FakeSink, code: int, kind: str, **opts: str) -> str:
    await driver.start_pairing(30)
    await sim.burst(code, frames=4, gap_ms=50)
    code_hex = f"{code:06x}"
    await sink.wait_for(
        lambda s: any(u.stage == "candidate" and u.info.get("code") == code_hex for u in s.pairing_updates)
    )
    device = await driver.adopt(code_hex, {"type": kind, "name": "cord", "room": "bathroom", **opts})
    await driver.stop_pairing()
    return device.id


async def test_pair_a_pull_cord_and_one_press_is_one_reading(
    sim: Rf433Simulator, make_driver: DriverFactory, sink: FakeSink, registry: DeviceRegistry
) -> None:
    driver = await make_driver()
    await receiving(sink)
    device_id = await pair(driver, sim, sink, CORD, "pull_cord")
    device = registry.get(device_id)
    assert device is not None and (device.type, device.room, device.address) == ("pull_cord", "bathroom", "5a5a51")
    assert sink.readings == []  # the pairing press is not an alarm

    await asyncio.sleep(0.4)  # the pairing burst is over
    await sim.burst(CORD, frames=10, gap_ms=60)  # one press: ~0.6 s of repeats
    await sink.wait_for(lambda s: len(s.readings) == 1)
    await asyncio.sleep(0.4)
    assert [(r.device, r.capability, r.value) for r in sink.readings] == [(device_id, "press", True)]
    assert driver.health().counters["frames_repeated"] >= 9

    await sim.burst(CORD, frames=3, gap_ms=60)  # a second press after a pause: a second reading
    await sink.wait_for(lambda s: len(s.readings) == 2)


async def test_text_format_module(sim: Rf433Simulator, make_driver: DriverFactory, sink: FakeSink) -> None:
    sim.format = "text"
    driver = await make_driver()
    await receiving(sink)
    device_id = await pair(driver, sim, sink, 0x00ABCD, "call_button")
    await asyncio.sleep(0.4)
    await sim.burst(0x00ABCD, frames=5, gap_ms=50)
    await sink.wait_for(lambda s: s.values(device_id, "press") == [True])


async def test_door_sensor_open_and_closed(sim: Rf433Simulator, make_driver: DriverFactory, sink: FakeSink) -> None:
    driver = await make_driver()
    await receiving(sink)
    address = 0x12345
    device_id = await pair(driver, sim, sink, (address << 4) | 0xA, "door")
    assert device_id == "rf433-12345"
    await asyncio.sleep(0.4)
    await sim.door(address, opened=False)
    await sim.door(address, opened=True)
    await sink.wait_for(lambda s: s.values(device_id, "contact") == ["closed", "open"])
    await sim.burst((address << 4) | 0x3, frames=2)  # data bits this sensor never sends for open/closed
    await asyncio.sleep(0.2)
    assert driver.health().counters["unknown_data"] == 1


async def test_smoke_sensor_alarm_clears_after_silence(
    sim: Rf433Simulator, make_driver: DriverFactory, sink: FakeSink
) -> None:
    driver = await make_driver(smoke_clear_s=1.5)
    await receiving(sink)
    device_id = await pair(driver, sim, sink, 0x777771, "smoke")
    await asyncio.sleep(0.4)  # the pairing burst is over
    for _ in range(3):  # in alarm, it keeps transmitting
        await sim.burst(0x777771, frames=3, gap_ms=50)
        await asyncio.sleep(0.3)
    assert sink.values(device_id, "smoke") == [True]  # one alarm, however many bursts
    await sink.wait_for(lambda s: s.values(device_id, "smoke") == [True, False], within=4)


async def test_unknown_codes_outside_pairing_are_counted(
    sim: Rf433Simulator, make_driver: DriverFactory, sink: FakeSink
) -> None:
    driver = await make_driver()
    await receiving(sink)
    await sim.burst(0x424242, frames=5, gap_ms=20)
    await asyncio.sleep(0.2)
    assert driver.health().counters["unknown_codes"] == 1 and sink.readings == []
    with pytest.raises(DriverConfigError, match="not heard"):
        await driver.adopt("424242", {"type": "pull_cord"})  # heard, but not in a pairing window
    with pytest.raises(DriverConfigError, match="type must be"):
        await driver.adopt("424242", {"type": "toaster"})


async def test_garbage_is_counted_and_reading_goes_on(
    sim: Rf433Simulator, make_driver: DriverFactory, sink: FakeSink
) -> None:
    driver = await make_driver()
    await receiving(sink)
    device_id = await pair(driver, sim, sink, CORD, "pull_cord")
    sim.garbage(20, seed=7)
    await asyncio.sleep(0.4)
    bad = driver.health().counters.get("frames_bad", 0)
    assert bad >= 20
    await sim.burst(CORD, frames=3, gap_ms=50)
    await sink.wait_for(lambda s: s.values(device_id, "press") == [True])
    assert driver.health().state == "up"


async def test_module_unplugged_and_plugged_back(
    sim: Rf433Simulator, make_driver: DriverFactory, sink: FakeSink
) -> None:
    driver = await make_driver()
    await receiving(sink)
    device_id = await pair(driver, sim, sink, CORD, "pull_cord")
    sim.unplug()
    await sink.wait_for(lambda s: s.radio_calls[-1][:2] == ("rf433", False))
    assert "lost" in sink.radio_calls[-1][2] and driver.health().state == "down"
    await asyncio.sleep(0.5)  # several reopen attempts fail while it is out
    assert sum(1 for c in sink.radio_calls if c[:2] == ("rf433", False)) == 1  # reported once
    sim.plug()
    await sink.wait_for(lambda s: s.radio_calls[-1][:2] == ("rf433", True))
    await sim.burst(CORD, frames=3, gap_ms=50)
    await sink.wait_for(lambda s: s.values(device_id, "press") == [True])
    assert driver.health().counters["port_lost"] == 1


async def test_module_absent_at_start(tmp_path: Path, make_driver: DriverFactory, sink: FakeSink) -> None:
    driver = await make_driver()
    await sink.wait_for(lambda s: bool(s.radio_calls))
    assert [c[:2] for c in sink.radio_calls] == [("rf433", False)]
    assert "not available" in sink.radio_calls[0][2] and driver.health().state == "down"
    module = Rf433Simulator(tmp_path / "ttyRF433")
    module.open()
    try:
        await receiving(sink)
    finally:
        module.unplug()


async def test_a_candidate_heard_too_long_ago_is_refused(
    sim: Rf433Simulator, make_driver: DriverFactory, sink: FakeSink
) -> None:
    driver = await make_driver(candidate_ttl_s=1)
    await receiving(sink)
    await driver.start_pairing(30)
    await sim.burst(0x313131, frames=2, gap_ms=50)
    await sink.wait_for(lambda s: any(u.info.get("code") == "313131" for u in s.pairing_updates))
    assert driver.candidates() == ["313131"]
    await asyncio.sleep(1.2)
    with pytest.raises(DriverConfigError, match="not heard recently"):
        await driver.adopt("313131", {"type": "call_button"})
    await sim.burst(0x202020, frames=2, gap_ms=50)  # any new code heard sweeps the stale ones out
    await sink.wait_for(lambda s: any(u.info.get("code") == "202020" for u in s.pairing_updates))
    assert driver.candidates() == ["202020"]
