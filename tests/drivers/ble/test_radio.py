"""Adapter loss: unplugged adapter, crashed BlueZ, no adapter at start; passive scan fallback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.registry import DeviceRegistry
from sims.bluez import BluezControl, MockBluezProcesses
from tests.drivers.ble import vectors as v
from tests.drivers.ble.conftest import DriverFactory, add_device, scanning
from tests.drivers.ble.fakes import FakeSink

pytestmark = pytest.mark.timeout(30)

BTN = "3C:2E:F5:00:00:21"


def radio(sink: FakeSink) -> list[bool]:
    return [up for _t, up, _r in sink.radio_calls]


async def test_adapter_removed_then_back(
    bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink, registry: DeviceRegistry
) -> None:
    dev = await add_device(registry, BTN, "call_button")
    driver = await make_driver()
    await scanning(driver)
    assert driver.health().detail == "scanning passive"

    await bluez.remove_adapter("hci0")
    await sink.wait_for(lambda s: radio(s) == [False])
    assert sink.radio_calls[0][0] == "ble" and "removed" in sink.radio_calls[0][2]
    assert driver.health().state == "down"

    await bluez.add_adapter("hci0")
    await sink.wait_for(lambda s: radio(s) == [False, True])
    await scanning(driver)
    await bluez.advertise_bthome(BTN, v.plain(v.packet_id(1), v.button(v.PRESS)))
    await sink.wait_for(lambda s: s.values(dev.id, "press") == [True])
    assert driver.health().counters["radio_lost"] == 1 and driver.health().counters["radio_restored"] == 1


async def test_bluez_crash_and_restart(
    bluez: BluezControl,
    bluez_procs: MockBluezProcesses,
    make_driver: DriverFactory,
    sink: FakeSink,
    registry: DeviceRegistry,
) -> None:
    dev = await add_device(registry, BTN, "call_button")
    driver = await make_driver()
    await scanning(driver)
    bluez_procs.stop_bluez()  # killed: no InterfacesRemoved, the name just loses its owner
    await sink.wait_for(lambda s: radio(s) == [False])
    assert "BlueZ" in sink.radio_calls[0][2]
    bluez_procs.start_bluez()
    await sink.wait_for(lambda s: radio(s) == [False, True])
    await scanning(driver)
    await bluez.advertise_bthome(BTN, v.plain(v.packet_id(1), v.button(v.PRESS)))
    await sink.wait_for(lambda s: s.values(dev.id, "press") == [True])


async def test_no_adapter_at_start(bluez: BluezControl, make_driver: DriverFactory, sink: FakeSink) -> None:
    await bluez.remove_adapter("hci0")
    driver = await make_driver()  # start() returns promptly although the radio is absent
    await sink.wait_for(lambda s: radio(s) == [False])
    assert "not present" in sink.radio_calls[0][2]
    await bluez.add_adapter("hci0")
    await sink.wait_for(lambda s: radio(s) == [False, True])
    assert driver.health().state == "up"


@pytest.fixture
def no_monitor_bluez(monkeypatch: pytest.MonkeyPatch) -> Iterator[MockBluezProcesses]:
    procs = MockBluezProcesses(monitor_api=False)
    procs.start()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", procs.address)
    try:
        yield procs
    finally:
        procs.close()


async def test_passive_unsupported_falls_back_to_active(
    no_monitor_bluez: MockBluezProcesses, make_driver: DriverFactory, sink: FakeSink, registry: DeviceRegistry
) -> None:
    dev = await add_device(registry, BTN, "call_button")
    driver = await make_driver(passive=True)
    await scanning(driver)
    assert driver.health().detail == "scanning active (passive unsupported)"
    assert sink.radio_calls == []
    async with BluezControl(no_monitor_bluez.address) as ctl:
        await ctl.advertise_bthome(BTN, v.plain(v.packet_id(1), v.button(v.PRESS)))
    await sink.wait_for(lambda s: s.values(dev.id, "press") == [True])
