"""Fixtures: the simulated 433 MHz receiver on a pty behind a stable symlink, and a driver reading it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.base import DriverContext
from drivers.rf433 import Rf433Driver, create_driver
from gateway.registry import DeviceRegistry
from sims.rf433 import Rf433Simulator
from tests.drivers.ble.fakes import FakeSink

FAST: dict[str, Any] = {"retry_min_s": 0.05, "retry_max_s": 0.2, "burst_gap_ms": 300}


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Rf433Simulator]:
    module = Rf433Simulator(tmp_path / "ttyRF433")
    module.open()
    yield module
    module.unplug()


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[DeviceRegistry]:
    reg = DeviceRegistry(tmp_path / "registry.json")
    reg.open()
    yield reg
    reg.close()


DriverFactory = Callable[..., Awaitable[Rf433Driver]]


@pytest.fixture
async def make_driver(sink: FakeSink, registry: DeviceRegistry, tmp_path: Path) -> AsyncIterator[DriverFactory]:
    started: list[Rf433Driver] = []

    async def factory(**overrides: Any) -> Rf433Driver:
        ctx = DriverContext("gw-test", tmp_path, sink, registry)
        driver = create_driver({"port": str(tmp_path / "ttyRF433"), **FAST, **overrides}, ctx)
        await driver.start()
        started.append(driver)
        return driver

    yield factory
    for driver in started:
        await driver.stop()


async def receiving(sink: FakeSink) -> None:
    await sink.wait_for(lambda s: bool(s.radio_calls) and s.radio_calls[-1][:2] == ("rf433", True))
