"""BTHome adverts through bleak's real BlueZ backend on the mocked BlueZ, into the driver."""

from __future__ import annotations

import logging

import pytest

from gateway.registry import DeviceRegistry
from sims.bluez import BluezControl
from tests.drivers.ble import vectors as v
from tests.drivers.ble.conftest import DriverFactory, add_device, scanning
from tests.drivers.ble.fakes import FakeSink, poll_until

pytestmark = pytest.mark.timeout(30)

BTN = "3C:2E:F5:11:22:33"
KEY = "8a7a5f6c0e4f4b1d9c2b3a4d5e6f7081"


async def test_plain_button_press_double_and_long(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, registry: DeviceRegistry
) -> None:
    dev = await add_device(registry, BTN, "call_button")
    driver = await make_driver()
    await scanning(driver)
    await bluez.advertise_bthome(
        BTN, v.plain(v.packet_id(1), v.battery(97), v.button(v.PRESS), info=v.PLAIN_SLEEPY), name="SBBT-002C"
    )
    await bluez.advertise_bthome(BTN, v.plain(v.packet_id(2), v.battery(97), v.button(v.DOUBLE_PRESS)))
    await bluez.advertise_bthome(BTN, v.plain(v.packet_id(3), v.battery(96), v.button(v.LONG_PRESS)))
    await sink.wait_for(lambda s: len(s.values(dev.id, "press")) == 3)
    presses = [r for r in sink.readings if r.capability == "press"]
    assert [r.value for r in presses] == [True, True, True]
    assert [r.meta["event"] for r in presses] == ["press", "double_press", "long_press"]
    assert all(r.meta["rssi"] == -60 for r in presses)
    assert sink.values(dev.id, "battery") == [97, 96]  # unchanged battery is not repeated


async def test_repeated_packet_is_one_press(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, registry: DeviceRegistry
) -> None:
    dev = await add_device(registry, BTN, "call_button")
    driver = await make_driver()
    await scanning(driver)
    packet = v.plain(v.packet_id(7), v.button(v.PRESS))
    for rssi in (-60, -61, -62):  # a button sends each packet several times
        await bluez.advertise(BTN, rssi=rssi, service_data={v_uuid(): packet})
    await bluez.advertise_bthome(BTN, v.plain(v.packet_id(8), v.button(v.PRESS)))
    await sink.wait_for(lambda s: len(s.values(dev.id, "press")) == 2)
    assert driver.health().counters["duplicates"] == 2
    assert len(sink.values(dev.id, "press")) == 2


def v_uuid() -> str:
    from drivers.ble.bthome import BTHOME_UUID

    return BTHOME_UUID


async def test_sensor_objects_map_to_capabilities(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, registry: DeviceRegistry
) -> None:
    door = await add_device(registry, "A4:C1:38:00:00:01", "door")
    win = await add_device(registry, "A4:C1:38:00:00:02", "door")
    pir = await add_device(registry, "A4:C1:38:00:00:03", "motion")
    occ = await add_device(registry, "A4:C1:38:00:00:04", "motion")
    bed = await add_device(registry, "A4:C1:38:00:00:05", "mattress")
    leak = await add_device(registry, "A4:C1:38:00:00:06", "leak")
    driver = await make_driver()
    await scanning(driver)
    await bluez.advertise_bthome(door.address, v.plain(v.packet_id(1), v.battery(88), v.door(True)))
    await bluez.advertise_bthome(door.address, v.plain(v.packet_id(2), v.battery(88), v.door(False)))
    await bluez.advertise_bthome(win.address, v.plain(v.packet_id(1), v.window(True)))
    await bluez.advertise_bthome(pir.address, v.plain(v.packet_id(1), v.motion(True)))
    await bluez.advertise_bthome(pir.address, v.plain(v.packet_id(2), v.motion(False)))
    await bluez.advertise_bthome(occ.address, v.plain(v.packet_id(1), v.occupancy(True)))
    await bluez.advertise_bthome(bed.address, v.plain(v.packet_id(1), v.occupancy(True)))
    await bluez.advertise_bthome(bed.address, v.plain(v.packet_id(2), v.occupancy(False)))
    await bluez.advertise_bthome(leak.address, v.plain(v.packet_id(1), v.moisture(True)))
    await sink.wait_for(lambda s: bool(s.values(leak.id, "leak")))
    assert sink.values(door.id, "contact") == ["open", "closed"]
    assert sink.values(door.id, "battery") == [88]
    assert sink.values(win.id, "contact") == ["open"]
    assert sink.values(pir.id, "motion") == [True]  # "no motion" is not a reading
    assert sink.values(occ.id, "motion") == [True]
    assert sink.values(bed.id, "in_bed") == [True, False]
    assert sink.values(leak.id, "leak") == [True]


async def test_encrypted_right_key_wrong_key_and_replay(
    bluez: BluezControl,
    make_driver: DriverFactory,
    sink: FakeSink,
    registry: DeviceRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    dev = await add_device(registry, BTN, "call_button", secret=KEY)
    driver = await make_driver()
    await scanning(driver)

    def enc(counter: int, *objects: bytes, key: str = KEY) -> bytes:
        return v.encrypted(*objects, mac=BTN, key=key, counter=counter)

    old = enc(100, v.packet_id(1), v.button(v.PRESS))
    await bluez.advertise_bthome(BTN, old)
    await sink.wait_for(lambda s: len(s.values(dev.id, "press")) == 1)
    assert sink.readings[-1].meta["encrypted"] is True
    # same packet again: the device repeating itself
    await bluez.advertise_bthome(BTN, old, rssi=-70)
    # forged with the wrong key, and with a huge counter: must not move the counter forward
    await bluez.advertise_bthome(BTN, enc(0xFFFFFFF0, v.packet_id(2), v.button(v.PRESS), key="00" * 16))
    # an attacker replays an older genuine packet
    await bluez.advertise_bthome(BTN, enc(50, v.packet_id(9), v.button(v.PRESS)))
    # a plain packet from a device that has a key (downgrade)
    await bluez.advertise_bthome(BTN, v.plain(v.packet_id(3), v.button(v.PRESS)))
    # the genuine next press still works
    await bluez.advertise_bthome(BTN, enc(101, v.packet_id(4), v.button(v.LONG_PRESS)))
    await sink.wait_for(lambda s: len(s.values(dev.id, "press")) == 2)
    counters = driver.health().counters
    assert counters["duplicates"] == 1
    assert counters["decrypt_failed"] == 1
    assert counters["replays"] == 1
    assert counters["downgrade_rejected"] == 1
    assert [r.meta["event"] for r in sink.readings if r.capability == "press"] == ["press", "long_press"]
    assert KEY not in caplog.text and KEY.upper() not in caplog.text


async def test_encrypted_without_key_is_counted(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, registry: DeviceRegistry
) -> None:
    dev = await add_device(registry, BTN, "call_button")
    driver = await make_driver()
    await scanning(driver)
    await bluez.advertise_bthome(BTN, v.encrypted(v.packet_id(1), v.button(v.PRESS), mac=BTN, key=KEY, counter=1))
    await bluez.advertise_bthome(BTN, v.plain(v.packet_id(2), v.button(v.PRESS)))
    await sink.wait_for(lambda s: len(s.values(dev.id, "press")) == 1)
    assert driver.health().counters["key_missing"] == 1


async def test_a_press_recorded_before_a_restart_cannot_be_replayed_after_it(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, registry: DeviceRegistry
) -> None:
    dev = await add_device(registry, BTN, "call_button", secret=KEY)
    first = await make_driver()
    await scanning(first)
    recorded = v.encrypted(v.packet_id(1), v.button(v.PRESS), mac=BTN, key=KEY, counter=500)
    await bluez.advertise_bthome(BTN, recorded)
    await sink.wait_for(lambda s: len(s.values(dev.id, "press")) == 1)
    await first.stop()  # the gateway restarts (or the power goes)

    second = await make_driver()
    await scanning(second)
    await bluez.advertise_bthome(BTN, recorded)  # the attacker plays the recorded press back
    await bluez.advertise_bthome(BTN, v.encrypted(v.packet_id(2), v.button(v.PRESS), mac=BTN, key=KEY, counter=400))
    await bluez.advertise_bthome(BTN, v.encrypted(v.packet_id(3), v.button(v.PRESS), mac=BTN, key=KEY, counter=501))
    await sink.wait_for(lambda s: len(s.values(dev.id, "press")) == 2)  # only the genuine new press
    counters = second.health().counters
    assert counters.get("duplicates", 0) + counters.get("replays", 0) == 2, counters


async def test_a_restarted_counter_is_shown_as_needing_readoption(
    bluez: BluezControl,
    make_driver: DriverFactory,
    sink: FakeSink,
    registry: DeviceRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A battery change restarts the counter: presses stay refused, and health names the device to re-adopt."""
    dev = await add_device(registry, BTN, "call_button", secret=KEY)
    driver = await make_driver()
    await scanning(driver)

    def enc(counter: int) -> bytes:
        return v.encrypted(v.packet_id(counter), v.button(v.PRESS), mac=BTN, key=KEY, counter=counter)

    await bluez.advertise_bthome(BTN, enc(7000))
    await sink.wait_for(lambda s: len(s.values(dev.id, "press")) == 1)

    await bluez.advertise_bthome(BTN, enc(40))  # one old press played back: a replay, not (yet) a restart
    await bluez.advertise_bthome(BTN, enc(7001))  # the genuine next press clears it
    await sink.wait_for(lambda s: len(s.values(dev.id, "press")) == 2)
    assert driver.health().devices == {}

    # new battery: the device counts from 1 again, each press sent three times
    for counter in (1, 2):
        for _ in range(3):
            await bluez.advertise_bthome(BTN, enc(counter))

    async def all_refused() -> bool:
        return driver.health().counters.get("replays") == 7  # the one played back, and all six copies

    await poll_until(all_refused)
    health = driver.health()
    assert health.devices == {dev.id: {"replays_refused": 2, "needs_readoption": True}}
    assert f"needs adopting again (encryption counter restarted): {dev.id}" in health.detail  # on the status page
    assert health.counters["counter_restarts"] == 1
    assert len(sink.values(dev.id, "press")) == 2  # still refused: rejection is not weakened
    notes = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR and dev.id in r.getMessage()]
    assert len(notes) == 1 and "adopted again" in notes[0]

    # the technician re-adopts it (its latest advert, counter 2, is the test press) and it works again
    await driver.adopt(BTN, {"type": "call_button", "secret": KEY})
    assert driver.health().devices == {}
    await bluez.advertise_bthome(BTN, enc(3))
    await sink.wait_for(lambda s: len(s.values(dev.id, "press")) == 3)
