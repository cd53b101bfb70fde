"""433 MHz pendants, pull cords, door and smoke sensors (EV1527/PT2262 codes) through a UART receiver module."""

from __future__ import annotations

from typing import Any

from drivers.base import DriverContext
from drivers.rf433.config import KINDS, Rf433Section
from drivers.rf433.driver import Rf433Driver
from drivers.rf433.frames import Frame, FrameParser, Garbage


def create_driver(section: dict[str, Any], ctx: DriverContext) -> Rf433Driver:
    """Validate ``[drivers.rf433]`` (raises ``DriverConfigError``) and build it; the port opens at start."""
    return Rf433Driver.from_section(section, ctx)


__all__ = ["KINDS", "Frame", "FrameParser", "Garbage", "Rf433Driver", "Rf433Section", "create_driver"]
