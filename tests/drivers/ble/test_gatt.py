"""GATT devices through bleak's BlueZ client on the mocked BlueZ: heart rate, mattress, link loss."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from drivers.ble.driver import BleDriver
from drivers.ble.profiles.heart_rate import HeartRateProfile
from drivers.ble.profiles.mattress import encode_status
from gateway.registry import DeviceRegistry
from sims.bluez import BluezControl
from sims.bluez.devices import (
    SimGattDevice,
    add_bed_sensor,
    add_heart_rate_sensor,
    heart_rate_measurement,
)
from tests.drivers.ble.conftest import DriverFactory, add_device, scanning
from tests.drivers.ble.fakes import FakeSink, poll_until

pytestmark = pytest.mark.timeout(30)

HRM = "C0:FF:EE:00:00:01"
BED = "C0:FF:EE:00:00:02"


async def subscribed(bluez: BluezControl, sim: SimGattDevice) -> None:
    await poll_until(lambda: bluez.is_notifying(sim.characteristic))


async def connected_driver(bluez: BluezControl, make_driver: DriverFactory, sim: SimGattDevice) -> BleDriver:
    driver = await make_driver()
    await scanning(driver)
    await bluez.advertise(sim.address, uuids=[])  # the strap advertises; the driver connects to it
    await subscribed(bluez, sim)
    return driver


async def test_heart_rate_notifications_8_and_16_bit(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, registry: DeviceRegistry
) -> None:
    sim = await add_heart_rate_sensor(bluez, HRM)
    dev = await add_device(registry, HRM, "heart_rate", profile="heart_rate")
    await connected_driver(bluez, make_driver, sim)
    assert await bluez.notify(sim.characteristic, heart_rate_measurement(72))
    assert await bluez.notify(sim.characteristic, heart_rate_measurement(260, wide=True))
    assert await bluez.notify(sim.characteristic, heart_rate_measurement(65, contact=False))  # strap off: dropped
    assert await bluez.notify(sim.characteristic, heart_rate_measurement(66, contact=True))
    assert await bluez.notify(sim.characteristic, b"\x01\x50")  # 16-bit flag but one byte: bad frame
    await sink.wait_for(lambda s: len(s.values(dev.id, "heart_rate")) == 3)
    assert sink.values(dev.id, "heart_rate") == [72, 260, 66]


async def test_mattress_in_bed_heart_and_breath_rate(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, registry: DeviceRegistry
) -> None:
    sim = await add_bed_sensor(bluez, BED)
    dev = await add_device(registry, BED, "mattress", profile="mattress")
    driver = await connected_driver(bluez, make_driver, sim)
    await bluez.notify(sim.characteristic, encode_status(True, 68, 15, sequence=1))
    await bluez.notify(sim.characteristic, encode_status(True, 70, None, sequence=2))
    await bluez.notify(sim.characteristic, encode_status(False, None, None, sequence=3))
    await bluez.notify(sim.characteristic, b"\x09\x01\x44\x0f\x00\x00")  # unknown layout version
    await sink.wait_for(lambda s: len(s.values(dev.id, "in_bed")) == 3)
    assert sink.values(dev.id, "in_bed") == [True, True, False]
    assert sink.values(dev.id, "heart_rate") == [68, 70]
    assert sink.values(dev.id, "breath_rate") == [15]

    async def bad_counted() -> bool:
        return driver.health().counters.get("gatt_frames_bad") == 1

    await poll_until(bad_counted)


async def test_a_profile_bug_on_one_notification_does_not_end_the_device_intake(
    bluez: BluezControl,
    make_driver: DriverFactory,
    sink: FakeSink,
    registry: DeviceRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decode = HeartRateProfile.decode

    def decode_with_a_bug(self: HeartRateProfile, char_uuid: str, data: bytes) -> list[tuple[str, Any]]:
        if data == heart_rate_measurement(99):
            raise IndexError("a profile bug")
        return decode(self, char_uuid, data)

    monkeypatch.setattr(HeartRateProfile, "decode", decode_with_a_bug)
    sim = await add_heart_rate_sensor(bluez, HRM)
    dev = await add_device(registry, HRM, "heart_rate", profile="heart_rate")
    driver = await connected_driver(bluez, make_driver, sim)
    sink.reading_errors.append(RuntimeError("outbox on fire"))  # and the intake fails on the first reading
    for bpm in (70, 99, 71, 72):
        assert await bluez.notify(sim.characteristic, heart_rate_measurement(bpm))
    await sink.wait_for(lambda s: s.values(dev.id, "heart_rate") == [71, 72])
    assert [r.value for r in sink.failed] == [70]
    counters = driver.health().counters
    assert counters["gatt_decode_failed"] == 1 and counters["readings_failed"] == 1


async def test_link_loss_offline_reconnect_online(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, registry: DeviceRegistry
) -> None:
    sim = await add_heart_rate_sensor(bluez, HRM)
    dev = await add_device(registry, HRM, "heart_rate", profile="heart_rate")
    driver = await connected_driver(bluez, make_driver, sim)
    link = driver.link(dev.id)
    assert link is not None and link.connected

    await bluez.set_reachable(sim.path, False)  # walks out of range: the connection drops
    await sink.wait_for(lambda s: (dev.id, False) in [(d, o) for d, o, _ in s.availability_calls])
    assert not link.connected
    await asyncio.sleep(0.3)  # several reconnect attempts fail meanwhile
    assert driver.health().counters["gatt_connect_failed"] >= 1
    assert [o for d, o, _ in sink.availability_calls if d == dev.id] == [False]  # reported once

    await bluez.set_reachable(sim.path, True)
    await sink.wait_for(lambda s: (dev.id, True) in [(d, o) for d, o, _ in s.availability_calls])
    await subscribed(bluez, sim)
    assert await bluez.notify(sim.characteristic, heart_rate_measurement(75))
    await sink.wait_for(lambda s: s.values(dev.id, "heart_rate") == [75])
    assert link.connections == 2


async def test_never_reachable_device_goes_offline_after_offline_min(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, registry: DeviceRegistry
) -> None:
    dev = await add_device(registry, BED, "mattress", profile="mattress")  # paired, but not around
    driver = await make_driver(offline_min_s=0.3)
    await scanning(driver)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await sink.wait_for(lambda s: s.availability_calls == [(dev.id, False, "never connected")])
    assert loop.time() - started >= 0.25
    sim = await add_bed_sensor(bluez, BED)  # it shows up: connected and online again
    await sink.wait_for(lambda s: (dev.id, True, "reconnected") in s.availability_calls)
    await subscribed(bluez, sim)
