"""Wired inputs on GPIO lines via gpiod: pull cords, call buttons, smoke/gas detector relays, doors."""

from __future__ import annotations

from typing import Any

from drivers.base import DriverContext
from drivers.gpio.config import KINDS, GpioSection, InputSettings
from drivers.gpio.driver import GpioDriver
from drivers.gpio.lines import Edge, LineError, LineFactory, LineSource, open_gpiod_line

#: What :func:`create_driver` opens lines with when no factory is given. Tests that build a whole gateway
#: (which calls ``create_driver(section, ctx)`` itself) replace it with a fake, e.g. via ``monkeypatch``.
default_line_factory: LineFactory = open_gpiod_line


def create_driver(section: dict[str, Any], ctx: DriverContext, line_factory: LineFactory | None = None) -> GpioDriver:
    """Validate ``[drivers.gpio]`` (raises ``DriverConfigError``) and build it; lines open at start."""
    return GpioDriver.from_section(section, ctx, line_factory or default_line_factory)


__all__ = [
    "KINDS",
    "Edge",
    "GpioDriver",
    "GpioSection",
    "InputSettings",
    "LineError",
    "LineFactory",
    "LineSource",
    "create_driver",
    "default_line_factory",
    "open_gpiod_line",
]
