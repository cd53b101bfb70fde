"""Every BTHome object the capability table maps, sent through the mocked BlueZ and parsed by bthome-ble.

test_bthome_adverts.py covers battery, door, moisture, motion, occupancy, window and the plain button
events; this module covers the rest of :data:`drivers.ble.bthome.BTHOME_CAPABILITIES`, the button events
beyond press/double/long, multi-button devices, and the ``trouble`` capability end to end.
"""

from __future__ import annotations

import pytest

from drivers.ble.config import TYPE_CAPABILITIES
from gateway.registry import DeviceRegistry
from sims.bluez import BluezControl
from tests.drivers.ble import vectors as v
from tests.drivers.ble.conftest import DriverFactory, add_device, scanning
from tests.drivers.ble.fakes import FakeSink

pytestmark = pytest.mark.timeout(30)

KEY = "5a4b3c2d1e0f11223344556677889900"


async def test_binary_objects_map_to_capabilities(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, registry: DeviceRegistry
) -> None:
    opening = await add_device(registry, "A4:C1:38:00:01:11", "door")
    garage = await add_device(registry, "A4:C1:38:00:01:1B", "door")
    button = await add_device(registry, "A4:C1:38:00:01:15", "call_button")
    co = await add_device(registry, "A4:C1:38:00:01:17", "gas")
    gas = await add_device(registry, "A4:C1:38:00:01:1C", "gas")
    presence = await add_device(registry, "A4:C1:38:00:01:25", "motion")
    smoke = await add_device(registry, "A4:C1:38:00:01:29", "smoke")
    driver = await make_driver()
    await scanning(driver)

    sent: list[tuple[str, tuple[bytes, ...]]] = [
        (opening.address, (v.opening(True),)),  # 0x11
        (opening.address, (v.opening(False),)),
        (garage.address, (v.garage_door(True),)),  # 0x1B
        (garage.address, (v.garage_door(False),)),
        (button.address, (v.battery_low(True),)),  # 0x15
        (button.address, (v.battery_low(False),)),
        (co.address, (v.carbon_monoxide(True),)),  # 0x17
        (co.address, (v.carbon_monoxide(False),)),
        (gas.address, (v.gas(True),)),  # 0x1C
        (gas.address, (v.gas(False),)),
        (presence.address, (v.presence(True),)),  # 0x25
        (presence.address, (v.presence(False),)),
        (smoke.address, (v.smoke(True),)),  # 0x29
        (smoke.address, (v.smoke(False), v.tamper(True))),  # 0x2B, two objects in one advert
        (smoke.address, (v.problem(True), v.tamper(False))),  # 0x26
        (smoke.address, (v.problem(False),)),
    ]
    packet_ids: dict[str, int] = {}
    for address, objects in sent:
        packet_ids[address] = packet_ids.get(address, 0) + 1
        await bluez.advertise_bthome(address, v.plain(v.packet_id(packet_ids[address]), *objects))
    await sink.wait_for(lambda s: len(s.values(smoke.id, "trouble")) == 2)

    assert sink.values(opening.id, "contact") == ["open", "closed"]
    assert sink.values(garage.id, "contact") == ["open", "closed"]
    assert sink.values(button.id, "battery_low") == [True, False]
    assert sink.values(co.id, "gas") == [True, False]
    assert sink.values(gas.id, "gas") == [True, False]
    assert sink.values(presence.id, "motion") == [True]  # "nobody there" is not a reading
    assert sink.values(smoke.id, "smoke") == [True, False]
    assert sink.values(smoke.id, "tamper") == [True, False]
    assert sink.values(smoke.id, "trouble") == [True, False]
    assert driver.health().counters.get("readings_unmapped", 0) == 0


async def test_problem_is_trouble_for_every_bthome_device_type(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, registry: DeviceRegistry
) -> None:
    """The generic "problem" object must reach the intake from whatever a BTHome device was adopted as."""
    bthome_types = [t for t in TYPE_CAPABILITIES if t != "heart_rate"]  # heart-rate straps are GATT only
    devices = [
        await add_device(registry, f"A4:C1:38:00:02:{n:02X}", dev_type) for n, dev_type in enumerate(bthome_types)
    ]
    driver = await make_driver()
    await scanning(driver)
    for dev in devices:
        await bluez.advertise_bthome(dev.address, v.plain(v.packet_id(1), v.problem(True)))
    await sink.wait_for(lambda s: all(s.values(d.id, "trouble") for d in devices))
    assert {d.type: sink.values(d.id, "trouble") for d in devices} == {t: [True] for t in bthome_types}
    assert driver.health().counters.get("readings_unmapped", 0) == 0


async def test_adopted_sensor_reports_trouble(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, registry: DeviceRegistry
) -> None:
    """Through adoption, which stores the type's capabilities: an encrypted smoke alarm's fault arrives."""
    mac = "A4:C1:38:00:03:26"
    driver = await make_driver()
    await scanning(driver)
    await bluez.advertise_bthome(mac, v.encrypted(v.packet_id(1), v.smoke(False), mac=mac, key=KEY, counter=10))
    dev = await driver.adopt(mac, {"type": "smoke", "secret": KEY})
    assert "trouble" in dev.capabilities
    await bluez.advertise_bthome(mac, v.encrypted(v.packet_id(2), v.problem(True), mac=mac, key=KEY, counter=11))
    await bluez.advertise_bthome(mac, v.encrypted(v.packet_id(3), v.problem(False), mac=mac, key=KEY, counter=12))
    await sink.wait_for(lambda s: len(s.values(dev.id, "trouble")) == 2)
    assert sink.values(dev.id, "trouble") == [True, False]
    assert all(r.meta["encrypted"] for r in sink.readings if r.capability == "trouble")


async def test_every_press_event_of_the_button_table(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, registry: DeviceRegistry
) -> None:
    dev = await add_device(registry, "3C:2E:F5:00:03:3A", "pull_cord")
    driver = await make_driver()
    await scanning(driver)
    events = [v.TRIPLE_PRESS, v.LONG_DOUBLE_PRESS, v.LONG_TRIPLE_PRESS, v.HOLD_PRESS]
    for n, event in enumerate(events, start=1):
        await bluez.advertise_bthome(dev.address, v.plain(v.packet_id(n), v.button(event), info=v.PLAIN_SLEEPY))
    await sink.wait_for(lambda s: len(s.values(dev.id, "press")) == len(events))
    presses = [r for r in sink.readings if r.capability == "press"]
    assert [r.value for r in presses] == [True] * len(events)
    assert [r.meta["event"] for r in presses] == [
        "triple_press",
        "long_double_press",
        "long_triple_press",
        "hold_press",
    ]
    assert all("index" not in r.meta for r in presses)  # one button: no index


async def test_multi_button_device_says_which_button(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, registry: DeviceRegistry
) -> None:
    """A remote with several buttons sends one 0x3A object per button; idle ones carry "no event"."""
    dev = await add_device(registry, "3C:2E:F5:00:04:3A", "call_button")
    driver = await make_driver()
    await scanning(driver)
    await bluez.advertise_bthome(
        dev.address, v.plain(v.packet_id(1), v.buttons(v.PRESS, v.NO_EVENT, v.DOUBLE_PRESS, v.NO_EVENT))
    )
    await bluez.advertise_bthome(
        dev.address, v.plain(v.packet_id(2), v.buttons(v.NO_EVENT, v.NO_EVENT, v.NO_EVENT, v.LONG_PRESS))
    )
    await sink.wait_for(lambda s: len(s.values(dev.id, "press")) == 3)
    got = [(r.meta["index"], r.meta["event"]) for r in sink.readings if r.capability == "press"]
    assert got == [(1, "press"), (3, "double_press"), (4, "long_press")]
