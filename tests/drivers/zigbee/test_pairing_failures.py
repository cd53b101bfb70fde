"""Pairing that cannot finish must end in "failed" with a reason, soon enough for the technician at the bed:
a device that never answers its interview, one that ignores the CIE address write, and a full zone table.
Real zigpy-znp against the simulator over a pty."""

from __future__ import annotations

import asyncio
import time

import pytest
from zigpy_znp.exceptions import CommandNotRecognized

from core.devices import Device
from drivers.base import PairingUpdate
from drivers.zigbee import ZigbeeDriver, enroll
from gateway.registry import DeviceRegistry
from sims.znp import ZnpSimulator
from sims.znp.devices import IAS_ZONE
from tests.drivers.zigbee.conftest import Sink, running, wait_for

pytestmark = pytest.mark.timeout(60)


def failure_of(sink: Sink, device_id: str) -> PairingUpdate:
    return next(u for u in sink.updates if u.device == device_id and u.stage == "failed")


async def join_and_wait_for_failure(
    driver: ZigbeeDriver, sim: ZnpSimulator, sink: Sink, within: float, **behaviour: object
) -> tuple[str, float]:
    """Join a smoke detector that behaves as ``behaviour`` says; returns its id and the seconds to "failed"."""
    await driver.start_pairing(60)
    dev = sim.join("smoke")
    for name, value in behaviour.items():
        setattr(dev, name, value)  # before the host's first request reaches the device
    device_id = f"zb-{dev.ieee_hex}"
    t0 = time.monotonic()
    await wait_for(lambda: "failed" in sink.stages(device_id), within, "pairing failed")
    return device_id, time.monotonic() - t0


async def test_device_that_never_answers_its_interview_fails_within_the_interview_timeout(
    sim: ZnpSimulator, make_driver, sink: Sink, registry: DeviceRegistry
) -> None:
    driver = await running(make_driver(sim.path, interview_timeout_s=2.0))
    device_id, elapsed = await join_and_wait_for_failure(driver, sim, sink, 10, answers_zdo=False)
    # zigpy alone would retry the node descriptor read for over 80 s; the driver's deadline decides.
    assert 1.8 <= elapsed < 6
    failed = failure_of(sink, device_id)
    assert "interview" in failed.detail and "2 s" in failed.detail
    assert sink.stages(device_id) == ["joined", "interview", "failed"]
    assert driver.counters["interview_failures"] == 1
    await asyncio.sleep(0.5)
    assert sink.stages(device_id) == ["joined", "interview", "failed"]  # nothing after the verdict
    assert registry.get(device_id) is None


async def test_device_ignoring_the_cie_address_write_fails_enrolment_with_the_step(
    sim: ZnpSimulator, make_driver, sink: Sink, registry: DeviceRegistry
) -> None:
    driver = await running(make_driver(sim.path, enroll_step_timeout_s=1.0))
    device_id, elapsed = await join_and_wait_for_failure(driver, sim, sink, 15, ignored_clusters={IAS_ZONE})
    assert elapsed < 10
    failed = failure_of(sink, device_id)
    assert failed.detail == "write CIE address failed: no answer (timed out)"
    assert sink.stages(device_id) == ["joined", "interview", "failed"]
    assert driver.counters["enroll_failures"] == 1
    assert registry.get(device_id) is None
    simdev = sim.devices["smoke-1"]
    assert not simdev.enrolled and not simdev.cie_written


async def test_pairing_fails_with_a_reason_when_every_zone_id_is_taken(
    sim: ZnpSimulator, make_driver, sink: Sink, registry: DeviceRegistry
) -> None:
    for zone_id in range(255):  # 0x00..0xFE; 0xFF means "not enrolled"
        ieee = f"00:0d:6f:00:00:00:{zone_id >> 8:02x}:{zone_id & 0xFF:02x}"
        params = {"zone_id": zone_id, "zone_type": 0x0015, "power_source": "battery"}
        await registry.upsert(Device(f"zb-{ieee.replace(':', '')}", "door", "zigbee", address=ieee, params=params))
    driver = await running(make_driver(sim.path))
    assert driver._zone_id_for("zb-000d6f0000000007") == 7  # paired devices keep theirs, full or not
    device_id, _ = await join_and_wait_for_failure(driver, sim, sink, 20)
    assert "no free IAS zone id" in failure_of(sink, device_id).detail
    assert registry.get(device_id) is None
    # The detector asking to be enrolled on its own is refused the same way: counted, never a crashed task.
    failures = driver.counters.get("enroll_failures", 0)
    sim.enroll_request("smoke-1")
    await wait_for(lambda: driver.counters.get("enroll_failures", 0) == failures + 1, 10, "enroll request refused")
    assert driver.counters["enroll_requests"] == 1
    assert not sim.devices["smoke-1"].enrolled


async def test_unexpected_stack_error_during_enrolment_still_ends_in_failed(
    sim: ZnpSimulator, make_driver, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def configure(*_: object, **__: object) -> enroll.Profile:
        raise CommandNotRecognized("AF.DataRequestExt")  # a radio library error outside enroll.RADIO_ERRORS

    monkeypatch.setattr(enroll, "configure", configure)
    driver = await running(make_driver(sim.path))
    device_id, _ = await join_and_wait_for_failure(driver, sim, sink, 15)
    assert failure_of(sink, device_id).detail == "pairing failed: CommandNotRecognized: AF.DataRequestExt"
    assert driver._adopting == set()  # a later interview of the same device is not ignored
