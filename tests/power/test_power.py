"""Power: UPower (python-dbusmock's ``upower`` template) and logind on a private system bus, read by the real
service through dbus-fast; mains loss from a wired GPIO line through the rules; downtime after a power cut."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dbus
import pytest
from dbusmock import BusType, PrivateDBus, SpawnedMock

from core.devices import Device
from drivers.base import Reading
from gateway.config import parse_config
from gateway.power import alive
from gateway.power.service import PowerService
from tests.support.context import FakeCore, fake_context

pytestmark = pytest.mark.timeout(60)

DISPLAY = "/org/freedesktop/UPower/devices/DisplayDevice"
DEVICE_IFACE = "org.freedesktop.UPower.Device"


class Bus:
    def __init__(self, upower: SpawnedMock, logind: SpawnedMock) -> None:
        self.upower, self.logind = upower, logind

    def set_battery(self, on_battery: bool, pct: float, tte: int = 0) -> None:
        props_iface = "org.freedesktop.DBus.Properties"
        self.upower.obj.Set("org.freedesktop.UPower", "OnBattery", dbus.Boolean(on_battery), dbus_interface=props_iface)
        display = BusType.SYSTEM.get_connection().get_object("org.freedesktop.UPower", DISPLAY)
        props = {
            "IsPresent": dbus.Boolean(True),
            "Percentage": dbus.Double(pct),
            "TimeToEmpty": dbus.Int64(tte),
        }
        for key, value in props.items():
            display.Set(DEVICE_IFACE, key, value, dbus_interface="org.freedesktop.DBus.Properties")

    def poweroffs(self) -> int:
        calls = self.logind.obj.GetCalls(dbus_interface="org.freedesktop.DBus.Mock")
        return sum(1 for _, name, _ in calls if name == "PowerOff")


@pytest.fixture
def system_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bus]:
    with PrivateDBus(BusType.SYSTEM) as bus:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
        upower = SpawnedMock.spawn_with_template("upower", {"OnBattery": False}, BusType.SYSTEM)
        # logind's PowerOff only (dbusmock's logind template needs PyGObject, which the gateway does not use)
        manager = "org.freedesktop.login1.Manager"
        logind = SpawnedMock.spawn_for_name(
            "org.freedesktop.login1", "/org/freedesktop/login1", manager, BusType.SYSTEM
        )
        logind.obj.AddMethod(manager, "PowerOff", "b", "", "", dbus_interface="org.freedesktop.DBus.Mock")
        try:
            yield Bus(upower, logind)
        finally:
            upower.terminate()
            logind.terminate()


def core_with(tmp_path: Path, **power: Any) -> FakeCore:
    raw = {"gateway": {"id": "gw-test", "state_dir": str(tmp_path)}, "power": {"poll_s": 0.05, **power}}
    return fake_context(tmp_path, parse_config(raw))


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_mains_loss_battery_low_and_orderly_power_off(system_bus: Bus, tmp_path: Path) -> None:
    core = core_with(tmp_path, upower=True)
    service = PowerService(core.ctx)
    service.poweroff_delay_s = 0.01
    await service.start()
    try:
        assert service.status()["upower"] is True and service.status()["on_battery"] is False
        assert not [k for k in core.kinds() if k.startswith("power.")]  # on mains at start: nothing to say

        system_bus.set_battery(True, 80.0, 7200)  # mains cut
        await _until(lambda: "power.mains_lost" in core.kinds())
        lost = next(e for e in core.emitted if e.kind == "power.mains_lost")
        assert lost.priority.name == "ALERT" and lost.data["source"] == "upower" and lost.data["percentage"] == 80

        system_bus.set_battery(True, 15.0, 1800)
        await _until(lambda: "power.battery_low" in core.kinds())
        assert system_bus.poweroffs() == 0

        system_bus.set_battery(True, 12.0, 120)  # two minutes left: power off cleanly before it dies
        await _until(lambda: system_bus.poweroffs() == 1)
        shutdown = next(e for e in core.emitted if e.kind == "power.shutdown")
        assert shutdown.data["time_to_empty_s"] == 120 and shutdown.data["poweroff"] is True
        await asyncio.sleep(0.2)
        assert system_bus.poweroffs() == 1 and core.kinds().count("power.shutdown") == 1  # once

        system_bus.set_battery(False, 13.0)  # mains back before the end
        await _until(lambda: "power.mains_restored" in core.kinds())
        assert "power.battery_ok" in core.kinds()
        assert [k for k in core.kinds() if k.startswith("power.")] == [
            "power.mains_lost",
            "power.battery_low",
            "power.shutdown",
            "power.mains_restored",
            "power.battery_ok",
        ]
    finally:
        await service.stop()


async def test_no_upower_on_auto_is_quiet_and_required_upower_retries(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path}/no-such-bus")
    core = core_with(tmp_path / "a")
    service = PowerService(core.ctx)
    await service.start()
    assert service.status()["upower"] is False
    await service.stop()
    strict = PowerService(core_with(tmp_path / "b", upower=True).ctx)
    await strict.start()
    await _until(lambda: strict.stats["read_errors"] >= 1)
    assert "system bus" in strict.last_error
    await strict.stop()


async def test_boot_after_a_power_cut_reports_downtime(tmp_path: Path) -> None:
    core = core_with(tmp_path, upower=False, alive_interval_s=0.05)
    boot_before = "boot-0"
    last = core.clock.wall_ms() - 3_600_000  # alive an hour ago, on another boot, not a clean stop
    alive.write(tmp_path, alive.Alive(last, boot_before, clean=False))
    service = PowerService(core.ctx)
    await service.start()
    await _until(lambda: "power.downtime" in core.kinds())
    down = next(e for e in core.emitted if e.kind == "power.downtime")
    assert down.data == {"down_s": 3600, "last_alive_ts": last, "cause": "power_cut"}
    await _until(lambda: (alive.read(tmp_path) or alive.Alive(0, "", True)).boot == "boot-1")
    record = alive.read(tmp_path)
    assert record is not None and not record.clean  # running: a cut now would be unclean
    await service.stop()
    record = alive.read(tmp_path)
    assert record is not None and record.clean  # an orderly stop says so

    again = PowerService(core.ctx)  # same boot (a service restart): no downtime event
    await again.start()
    await asyncio.sleep(0.2)
    assert core.kinds().count("power.downtime") == 1
    await again.stop()


async def test_clean_shutdown_then_boot_is_a_shutdown_not_a_cut(tmp_path: Path) -> None:
    core = core_with(tmp_path, upower=False)
    alive.write(tmp_path, alive.Alive(core.clock.wall_ms() - 60_000, "boot-0", clean=True))
    service = PowerService(core.ctx)
    await service.start()
    await _until(lambda: "power.downtime" in core.kinds())
    assert core.emitted[-1].data["cause"] == "shutdown"
    await service.stop()


def test_gpio_mains_line_gives_power_events_through_the_rules(tmp_path: Path) -> None:
    core = fake_context(tmp_path)
    ups = Device("ups", "power_monitor", "gpio", name="UPS HAT", capabilities=["mains_lost"])
    lost = core.rules.on_reading(Reading("ups", "mains_lost", True), ups)
    back = core.rules.on_reading(Reading("ups", "mains_lost", False), ups)
    assert [(d.kind, d.priority.name) for d in lost + back] == [
        ("power.mains_lost", "ALERT"),
        ("power.mains_restored", "ALERT"),
    ]
