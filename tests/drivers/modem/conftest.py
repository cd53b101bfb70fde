"""Fixtures: one private system bus with the mocked ModemManager per session, reset to one healthy modem per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.base import DriverContext
from drivers.modem import ModemDriver, create_driver
from gateway.registry import DeviceRegistry
from sims.modem import MockModemProcesses, ModemControl
from tests.drivers.ble.fakes import FakeSink

#: Fast timings so the folder runs in seconds; production defaults are in drivers/modem/config.py.
FAST: dict[str, Any] = {
    "send_timeout_s": 3,
    "ring_timeout_s": 3,
    "hold_s": 0.3,
    "receive_timeout_s": 3,
    "call_timeout_s": 3,
    "retry_min_s": 0.05,
    "retry_max_s": 0.3,
    "startup_grace_s": 0,
}


@pytest.fixture(scope="session")
def mm_procs() -> Iterator[MockModemProcesses]:
    procs = MockModemProcesses()
    procs.start()
    try:
        yield procs
    finally:
        procs.close()


@pytest.fixture
async def mm(mm_procs: MockModemProcesses) -> AsyncIterator[ModemControl]:
    """Control of the mock, reset to one healthy modem and default behaviours, the record emptied."""
    if not mm_procs.mm_running:
        mm_procs.start_mm()
    async with ModemControl(mm_procs.address, mm_procs.record) as ctl:
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


DriverFactory = Callable[..., Awaitable[ModemDriver]]


@pytest.fixture
async def make_driver(
    sink: FakeSink, registry: DeviceRegistry, tmp_path: Path, mm_procs: MockModemProcesses
) -> AsyncIterator[DriverFactory]:
    """Start a modem driver on the private bus with FAST settings plus overrides; stopped at teardown."""
    started: list[ModemDriver] = []

    async def factory(**overrides: Any) -> ModemDriver:
        ctx = DriverContext("gw-test", tmp_path, sink, registry)
        driver = create_driver({"bus_address": mm_procs.address, **FAST, **overrides}, ctx)
        await driver.start()
        started.append(driver)
        return driver

    yield factory
    for driver in started:
        await driver.stop()
