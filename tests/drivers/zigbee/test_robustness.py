"""Tamper, battery, offline timeouts, losing the stick, garbage on the line, malformed ZCL, re-enrolment,
removal and the permit-join window: real zigpy-znp against the simulator."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from zigpy_znp.exceptions import CommandNotRecognized, SecurityError
from zigpy_znp.zigbee.application import ControllerApplication as ZnpApplication

from gateway.registry import DeviceRegistry
from sims.znp import SimError, ZnpSimulator
from sims.znp.frames import Subsystem
from tests.drivers.zigbee.conftest import Sink, pair, running, wait_for

pytestmark = pytest.mark.timeout(60)


async def test_tamper_battery_and_flags(sim: ZnpSimulator, make_driver, sink: Sink) -> None:
    driver = await running(make_driver(sim.path))
    smoke = await pair(driver, sim, sink, "smoke")
    sim.set_status("smoke-1", "tamper", True)
    await wait_for(lambda: sink.values(smoke, "tamper") == [True], 10, "tamper true")
    sim.set_status("smoke-1", "tamper", False)
    await wait_for(lambda: sink.values(smoke, "tamper") == [True, False], 10, "tamper restored")
    sim.set_status("smoke-1", "battery_low", True)
    await wait_for(lambda: sink.values(smoke, "battery_low") == [True], 10, "battery low")
    sim.battery("smoke-1", 40)
    await wait_for(lambda: sink.values(smoke, "battery") == [40], 10, "battery 40 %")
    battery = next(r for r in sink.readings if r.capability == "battery")
    assert battery.meta["battery_voltage"] == pytest.approx(2.4)
    # The smoke alarm itself was never raised: every smoke reading so far says "no smoke".
    assert all(v is False for v in sink.values(smoke, "smoke"))


async def test_gas_sensor_mains_fault_and_trouble(sim: ZnpSimulator, make_driver, sink: Sink) -> None:
    driver = await running(make_driver(sim.path))
    gas = await pair(driver, sim, sink, "gas")
    sim.set_status("gas-1", "mains_fault", True)
    sim.set_status("gas-1", "trouble", True)
    await wait_for(lambda: sink.values(gas, "mains_fault") == [True] and sink.values(gas, "trouble") == [True])
    sim.set_status("gas-1", "alarm", True)
    await wait_for(lambda: True in sink.values(gas, "gas"), 10, "gas alarm")


async def test_offline_after_timeout_by_power_class_and_back(sim: ZnpSimulator, make_driver, sink: Sink) -> None:
    driver = await running(make_driver(sim.path, offline_after_battery_s=1.0, offline_after_mains_s=30.0))
    door = await pair(driver, sim, sink, "door")
    gas = await pair(driver, sim, sink, "gas")
    sim.silence("door-1")
    sim.silence("gas-1")
    await asyncio.sleep(0.1)  # a frame already on its way may still land
    heard = driver.availability.last_seen(door)
    assert heard is not None
    await wait_for(lambda: (door, False) in [(d, up) for d, up, _ in sink.avail], 10, "door offline")
    assert time.monotonic() - heard >= 0.8  # the 1 s budget counts from the last frame heard, not earlier
    assert "1 s" in next(reason for d, up, reason in sink.avail if d == door)
    assert all(d != gas for d, _, _ in sink.avail)  # mains device: 30 s budget not used up
    sim.silence("door-1", False)  # comes back and announces itself
    await wait_for(lambda: (door, True, "heard again") in sink.avail, 10, "door online again")


async def test_a_failed_offline_report_does_not_end_the_watch(
    sim: ZnpSimulator, make_driver, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = await running(make_driver(sim.path, offline_after_battery_s=1.0))
    door = await pair(driver, sim, sink, "door")
    leak = await pair(driver, sim, sink, "leak")
    record = sink.availability

    async def flaky(device_id: str, online: bool, reason: str = "") -> None:
        if device_id == door and not online:
            raise RuntimeError("intake bug")
        await record(device_id, online, reason)

    monkeypatch.setattr(sink, "availability", flaky)
    sim.silence("door-1")
    sim.silence("leak-1")
    await wait_for(lambda: (leak, False) in [(d, up) for d, up, _ in sink.avail], 10, "leak offline")
    assert driver.counters["sink_errors"] >= 1
    sim.silence("leak-1", False)
    await wait_for(lambda: (leak, True, "heard again") in sink.avail, 10, "leak online again")


async def test_stick_unplugged_and_replugged(sim: ZnpSimulator, make_driver, sink: Sink) -> None:
    driver = await running(make_driver(sim.path))
    smoke = await pair(driver, sim, sink, "smoke")
    sim.unplug()
    await wait_for(lambda: [up for _, up, _ in sink.radios] == [False], 10, "radio lost")
    assert sink.radios[0][0] == "zigbee" and "lost" in sink.radios[0][2]
    assert driver.health().state == "down"
    await asyncio.sleep(0.5)  # a few reconnect attempts against a missing port
    sim.replug()
    await wait_for(lambda: [up for _, up, _ in sink.radios] == [False, True], 20, "radio restored")
    await wait_for(lambda: driver.health().state == "up", 10, "driver up")
    await wait_for(lambda: sim.running, 10, "network resumed on the stick")
    sim.alarm("smoke-1")
    await wait_for(lambda: True in sink.values(smoke, "smoke"), 10, "alarm after reconnect")
    assert driver.counters["radio_lost"] == 1


async def test_start_returns_promptly_without_stick_and_connects_later(tmp_path: Path, make_driver, sink: Sink) -> None:
    link = tmp_path / "late-tty"
    driver = make_driver(str(link))
    t0 = time.monotonic()
    await driver.start()
    assert time.monotonic() - t0 < 0.5
    await wait_for(lambda: sink.radios and sink.radios[0][1] is False, 5, "radio reported absent")
    await driver.start_pairing(30)
    assert sink.updates[-1].stage == "failed"
    async with ZnpSimulator(link=link, latency_s=0.002):
        await wait_for(lambda: driver.health().state == "up", 20, "connected once the stick appears")
        assert [up for _, up, _ in sink.radios] == [False, True]
        await driver.stop()


@pytest.mark.parametrize("error", [CommandNotRecognized, SecurityError])
async def test_radio_stack_error_at_start_is_logged_reported_and_retried(
    sim: ZnpSimulator, make_driver, sink: Sink, monkeypatch: pytest.MonkeyPatch, caplog, error: type[Exception]
) -> None:
    """zigpy-znp's own exceptions derive from Exception, not from anything the driver expects from a stick."""
    real_connect = ZnpApplication.connect
    attempts = 0

    async def connect_failing_once(self: ZnpApplication) -> None:
        nonlocal attempts
        attempts += 1
        await real_connect(self)  # the real MT handshake with the simulated stick, then the stack gives up
        if attempts == 1:
            raise error("SYS.Version not recognized by this firmware")

    monkeypatch.setattr(ZnpApplication, "connect", connect_failing_once)
    caplog.set_level(logging.WARNING, logger="drivers.zigbee.driver")
    driver = make_driver(sim.path)
    await driver.start()
    await wait_for(lambda: driver.health().state == "up", 20, "network up after the retry")
    assert attempts == 2
    assert [(transport, up) for transport, up, _ in sink.radios] == [("zigbee", False), ("zigbee", True)]
    assert f"{error.__name__}: SYS.Version not recognized" in sink.radios[0][2]
    assert driver.counters["connect_failures"] == 1
    logged = [r for r in caplog.records if error.__name__ in r.getMessage() and "retrying" in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # an unexpected stack error keeps its traceback
    # The network really runs on the stick: pairing opens there.
    await driver.start_pairing(5)
    assert sim.permit_open


async def test_garbage_and_bad_frames_are_counted_not_fatal(sim: ZnpSimulator, make_driver, sink: Sink) -> None:
    driver = await running(make_driver(sim.path))
    smoke = await pair(driver, sim, sink, "smoke")
    sim.inject_garbage(bytes(range(256)) * 2)  # noise, including stray SOF bytes
    sim.areq(0x0E, 0x77, b"\x01\x02")  # well-framed, unknown command
    sim.areq(Subsystem.AF, 0x81, b"\x00\x00\x05")  # AF_INCOMING_MSG cut short
    sim.bad_frame("smoke-1")  # a truncated IAS zone notification from the device
    await wait_for(lambda: driver.counters.get("frames_bad", 0) >= 1, 10, "malformed ZCL counted")
    await wait_for(lambda: driver.counters.get("radio_frames_unknown", 0) >= 1, 10, "unknown frame counted")
    await wait_for(lambda: driver.counters.get("radio_frames_bad", 0) >= 1, 10, "bad frame counted")
    sim.alarm("smoke-1")
    await wait_for(lambda: True in sink.values(smoke, "smoke"), 10, "alarm still gets through")
    assert driver.health().state == "up"
    assert driver.health().counters["frames_bad"] >= 1
    assert sink.radios == []


async def test_paired_device_asking_to_enroll_after_restart_is_answered(
    sim: ZnpSimulator, make_driver, sink: Sink, registry: DeviceRegistry
) -> None:
    driver = await running(make_driver(sim.path))
    smoke = await pair(driver, sim, sink, "smoke")
    zone_id = registry.get(smoke).params["zone_id"]  # type: ignore[union-attr]
    await driver.stop()
    simdev = sim.devices["smoke-1"]
    simdev.enrolled, simdev.zone_id = False, 0xFF  # the sensor was power-cycled and lost its enrolment

    again = await running(make_driver(sim.path))
    sim.enroll_request("smoke-1")
    await wait_for(lambda: simdev.enrolled, 10, "enroll response")
    assert simdev.zone_id == zone_id
    assert again.counters["enroll_requests"] == 1
    sim.alarm("smoke-1")
    await wait_for(lambda: True in sink.values(smoke, "smoke"), 10, "alarm after re-enrolment")


async def test_remove_asks_device_to_leave(
    sim: ZnpSimulator, make_driver, sink: Sink, registry: DeviceRegistry
) -> None:
    driver = await running(make_driver(sim.path))
    door = await pair(driver, sim, sink, "door")
    await driver.remove(door)
    assert registry.get(door) is None
    await wait_for(lambda: "door-1" not in sim.devices, 10, "device left the simulated network")
    await asyncio.sleep(0.2)
    assert all(d != door for d, _, _ in sink.avail)  # a removed device leaving is not "offline"


async def test_permit_join_window(sim: ZnpSimulator, make_driver, sink: Sink) -> None:
    driver = await running(make_driver(sim.path))
    with pytest.raises(SimError):
        sim.join("smoke")  # closed network: nobody joins
    await driver.start_pairing(1000)
    assert 250 < sim.net.permit_until - time.monotonic() <= 254
    assert sink.updates[-1].stage == "open" and sink.updates[-1].remaining_s == 254
    await driver.stop_pairing()
    assert not sim.permit_open
    assert sink.updates[-1].stage == "closed"
    await driver.start_pairing(1)
    await wait_for(lambda: sink.updates[-1].stage == "closed", 5, "window closes by itself")
