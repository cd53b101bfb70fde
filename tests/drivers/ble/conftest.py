"""Fixtures: one private system bus with mocked BlueZ per test session, a fresh adapter per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.devices import Device
from drivers.base import DriverContext
from drivers.ble import create_driver
from drivers.ble.driver import BleDriver
from gateway.registry import DeviceRegistry
from sims.bluez import BluezControl, MockBluezProcesses
from tests.drivers.ble.fakes import FakeSink, poll_until

#: Fast timings so the folder runs in seconds; production defaults are in drivers/ble/config.py.
FAST: dict[str, Any] = {
    "offline_min_s": 60,
    "availability_check_s": 0.05,
    "advert_burst_s": 0.02,
    "gatt_offline_grace_s": 0,
    "connect_timeout_s": 3,
    "reconnect_min_s": 0.05,
    "reconnect_max_s": 0.3,
    "adapter_retry_min_s": 0.05,
    "adapter_retry_max_s": 0.3,
    "vitals_every_s": 0,
    "adopt_timeout_s": 2,
}


@pytest.fixture(scope="session")
def bluez_procs() -> Iterator[MockBluezProcesses]:
    procs = MockBluezProcesses()
    procs.start()
    try:
        yield procs
    finally:
        procs.close()


@pytest.fixture
async def bluez(bluez_procs: MockBluezProcesses, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[BluezControl]:
    """Control of the mock, reset to one adapter (hci0) and no devices; bleak pointed at it for the test."""
    if not bluez_procs.bluez_running:
        bluez_procs.start_bluez()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bluez_procs.address)
    async with BluezControl(bluez_procs.address) as ctl:
        await ctl.reset()
        yield ctl


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[DeviceRegistry]:
    reg = DeviceRegistry(tmp_path / "registry.json")
    reg.open()
    yield reg
    reg.close()


DriverFactory = Callable[..., Awaitable[BleDriver]]


@pytest.fixture
async def make_driver(sink: FakeSink, registry: DeviceRegistry, tmp_path: Path) -> AsyncIterator[DriverFactory]:
    """Start a BLE driver with FAST settings plus overrides; stopped at teardown."""
    started: list[BleDriver] = []

    async def factory(**overrides: Any) -> BleDriver:
        ctx = DriverContext("gw-test", tmp_path, sink, registry)
        driver = create_driver({**FAST, **overrides}, ctx)
        await driver.start()
        started.append(driver)
        return driver

    yield factory
    for driver in started:
        await driver.stop()


async def add_device(
    registry: DeviceRegistry,
    address: str,
    dev_type: str,
    *,
    secret: str | None = None,
    profile: str | None = None,
    kind: str = "bthome",
) -> Device:
    """Register a BLE device directly (what adopt would have stored)."""
    from drivers.ble.config import TYPE_CAPABILITIES
    from drivers.ble.pairing import device_id_for

    params: dict[str, Any] = {"kind": "gatt", "profile": profile} if profile else {"kind": kind}
    device = Device(
        id=device_id_for(address),
        type=dev_type,
        transport="ble",
        name=dev_type,
        capabilities=list(TYPE_CAPABILITIES[dev_type]),
        address=address,
        params=params,
        secret=secret,
    )
    await registry.upsert(device)
    return device


async def scanning(driver: BleDriver, within: float = 5.0) -> None:
    """Wait until the driver's scan is running (adverts before that are not seen, as with real BlueZ)."""

    async def up() -> bool:
        return driver.health().state == "up"

    await poll_until(up, within, every=0.01)
