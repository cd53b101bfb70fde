"""Devices that would be deaf once adopted: the wrong type, BTHome v1. Refused or flagged, never silent."""

from __future__ import annotations

import logging

import pytest

from drivers.base import DriverConfigError
from drivers.ble.bthome import BTHOME_V1_UUIDS
from gateway.registry import DeviceRegistry
from sims.bluez import BluezControl
from tests.drivers.ble import vectors as v
from tests.drivers.ble.conftest import DriverFactory, add_device, scanning
from tests.drivers.ble.fakes import FakeSink, poll_until

pytestmark = pytest.mark.timeout(30)

DOOR = "A4:C1:38:00:00:31"
V1 = "A4:C1:38:00:00:32"


async def test_adopting_a_door_sensor_as_a_call_button_is_refused(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink
) -> None:
    driver = await make_driver()
    await scanning(driver)
    await bluez.advertise_bthome(DOOR, v.plain(v.packet_id(1), v.battery(90), v.door(True)))
    with pytest.raises(DriverConfigError, match="reports contact, never press"):
        await driver.adopt(DOOR, {"type": "call_button"})
    device = await driver.adopt(DOOR, {"type": "door"})
    assert device.type == "door"


async def test_wrong_type_is_flagged_at_its_first_advert(
    bluez: BluezControl,
    make_driver: DriverFactory,
    sink: FakeSink,
    registry: DeviceRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # adopted from a battery-only advert (nothing to tell it by), or before this check existed
    dev = await add_device(registry, DOOR, "call_button")
    driver = await make_driver()
    await scanning(driver)
    caplog.set_level(logging.ERROR)
    await bluez.advertise_bthome(DOOR, v.plain(v.packet_id(1), v.battery(90)))
    await bluez.advertise_bthome(DOOR, v.plain(v.packet_id(2), v.door(True)))
    await bluez.advertise_bthome(DOOR, v.plain(v.packet_id(3), v.door(False)))
    await sink.wait_for(lambda s: s.values(dev.id, "battery") == [90])

    async def flagged() -> bool:
        return driver.health().counters.get("adverts", 0) >= 3

    await poll_until(flagged)
    health = driver.health()
    assert health.devices[dev.id]["reports_other_type"] == "contact"
    assert "wrong type" in health.detail and dev.id in health.detail
    assert health.counters["type_mismatch"] == 1  # flagged once, not per advert
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR and dev.id in r.getMessage()]
    assert len(errors) == 1 and "adopted as call_button reports contact" in errors[0]
    # adopting it again as what it is clears the flag
    await driver.adopt(DOOR, {"type": "door"})
    await bluez.advertise_bthome(DOOR, v.plain(v.packet_id(4), v.door(True)))
    await sink.wait_for(lambda s: s.values(dev.id, "contact") == ["open"])
    assert dev.id not in driver.health().devices


async def test_bthome_v1_device_is_named_unsupported(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, caplog: pytest.LogCaptureFixture
) -> None:
    driver = await make_driver()
    await scanning(driver)
    caplog.set_level(logging.INFO)
    await driver.start_pairing(30)
    # BTHome v1, unencrypted: UUID 0x181C, objects as (length|format, id, data): battery 93 %
    await bluez.advertise(V1, name="ATC_000032", service_data={BTHOME_V1_UUIDS[0]: bytes([0x02, 0x01, 93])})
    await sink.wait_for(lambda s: any(u.stage == "candidate" and u.info["address"] == V1 for u in s.pairing_updates))
    info = next(u.info for u in sink.pairing_updates if u.stage == "candidate" and u.info["address"] == V1)
    assert info["kind"] == "bthome_v1" and "BTHome v1" in info["unsupported"]
    with pytest.raises(DriverConfigError, match="BTHome v1 adverts, which are not supported"):
        await driver.adopt(V1, {"type": "door"})
    assert any("BTHome v1" in r.getMessage() and V1 in r.getMessage() for r in caplog.records)
