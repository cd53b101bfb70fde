"""Fixtures for the Zigbee driver: the ZNP simulator on a pty, a recording sink, a registry.

The sink is the unit boundary (it records what the driver reports); everything below it is real: the
driver, zigpy, zigpy-znp, the serial port (a pty) and the simulated coordinator speaking MT.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.base import DriverContext, PairingUpdate, Reading
from drivers.zigbee import ZigbeeDriver, create_driver
from gateway.registry import DeviceRegistry
from sims.znp import ZnpSimulator


class Sink:
    """Recording sink with distinct attribute names for the lists (methods are the DriverSink API)."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.avail: list[tuple[str, bool, str]] = []
        self.radios: list[tuple[str, bool, str]] = []
        self.updates: list[PairingUpdate] = []

    async def reading(self, reading: Reading) -> None:
        self.readings.append(reading)

    async def availability(self, device_id: str, online: bool, reason: str = "") -> None:
        self.avail.append((device_id, online, reason))

    async def radio(self, transport: str, up: bool, reason: str = "") -> None:
        self.radios.append((transport, up, reason))

    def pairing(self, update: PairingUpdate) -> None:
        self.updates.append(update)

    def values(self, device: str, capability: str) -> list[Any]:
        return [r.value for r in self.readings if r.device == device and r.capability == capability]

    def stages(self, device: str | None = None) -> list[str]:
        return [u.stage for u in self.updates if device is None or u.device == device]


async def wait_for(predicate: Callable[[], Any], within: float = 10.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[ZnpSimulator]:
    async with ZnpSimulator(link=tmp_path / "ttyZNP", latency_s=0.002) as s:
        yield s


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[DeviceRegistry]:
    reg = DeviceRegistry(tmp_path / "state" / "registry.json")
    reg.open()
    yield reg
    reg.close()


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def make_driver(tmp_path: Path, sink: Sink, registry: DeviceRegistry) -> Iterator[Callable[..., ZigbeeDriver]]:
    """Build drivers on the simulator's port (stopped by the fixture if the test did not)."""
    made: list[ZigbeeDriver] = []

    def build(port: str | None, **overrides: Any) -> ZigbeeDriver:
        section: dict[str, Any] = {
            "port": port,
            "reconnect_min_s": 0.2,
            "reconnect_max_s": 1.0,
            "availability_check_s": 0.2,
            "startup_timeout_s": 30,
        }
        section.update(overrides)
        ctx = DriverContext("gw-test", tmp_path / "state", sink, registry)
        driver = create_driver(section, ctx)
        made.append(driver)
        return driver

    yield build
    # Drivers still running at the end are stopped in the async fixture below.
    _LEFTOVER.extend(made)


_LEFTOVER: list[ZigbeeDriver] = []


@pytest.fixture(autouse=True)
async def _stop_leftover_drivers() -> AsyncIterator[None]:
    yield
    while _LEFTOVER:
        driver = _LEFTOVER.pop()
        if driver.health().state != "stopped":
            await driver.stop()


async def running(driver: ZigbeeDriver, within: float = 20.0) -> ZigbeeDriver:
    """Start ``driver`` and wait until its network is up."""
    await driver.start()
    await wait_for(lambda: driver.app is not None and driver.health().state == "up", within, "network up")
    return driver


async def pair(driver: ZigbeeDriver, sim: ZnpSimulator, sink: Sink, kind: str, within: float = 20.0) -> str:
    """Open pairing, join a simulated ``kind`` and wait for it to be ready; returns the fbgw device id."""
    await driver.start_pairing(60)
    dev = sim.join(kind)
    device_id = f"zb-{dev.ieee_hex}"
    await wait_for(
        lambda: "ready" in sink.stages(device_id) or "failed" in sink.stages(device_id),
        within,
        f"{kind} ready",
    )
    assert "failed" not in sink.stages(device_id), [u.detail for u in sink.updates if u.device == device_id]
    return device_id
