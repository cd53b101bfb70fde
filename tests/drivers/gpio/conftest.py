"""A GPIO driver on pipe-backed fake lines, a real device registry and a recording sink."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drivers.base import DriverContext
from drivers.gpio import GpioDriver, create_driver
from gateway.registry import DeviceRegistry
from tests.drivers.gpio.fakes import FakeLines, RecordingSink

#: A chip path that exists only in :class:`FakeLines`.
CHIP = "/dev/gpiochip-fake0"


def cord(name: str = "cord", line: int | str = 17, **overrides: Any) -> dict[str, Any]:
    """A bathroom pull cord on a normally-closed loop, wired to ground against the pull-up."""
    base: dict[str, Any] = {
        "name": name,
        "kind": "pull_cord",
        "room": "bathroom",
        "chip": CHIP,
        "line": line,
        "active_low": True,
        "bias": "pull_up",
        "contact": "nc",
        "debounce_ms": 20,
        "long_press_ms": 0,
        "cut_after_ms": 0,
    }
    return {**base, **overrides}


@dataclass
class Rig:
    sink: RecordingSink
    lines: FakeLines
    registry: DeviceRegistry
    ctx: DriverContext
    build: Callable[..., GpioDriver]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    registry = DeviceRegistry(tmp_path / "devices.json")
    registry.open()
    sink = RecordingSink()
    lines = FakeLines()
    ctx = DriverContext(gateway_id="gw-test", state_dir=tmp_path, sink=sink, registry=registry)
    built: list[GpioDriver] = []

    def build(inputs: list[dict[str, Any]], **section: Any) -> GpioDriver:
        driver = create_driver({"enabled": True, "inputs": inputs, **section}, ctx, lines)
        built.append(driver)
        return driver

    try:
        yield Rig(sink, lines, registry, ctx, build)
    finally:
        for driver in built:
            await driver.stop()
        lines.close()
        registry.close()
