"""The simulated home: stands in for any transport, for the demo, tests and the simulated rig."""

from typing import Any

from drivers.base import DriverContext
from drivers.sim.driver import SimDriver


def create_driver(section: dict[str, Any], ctx: DriverContext) -> SimDriver:
    return SimDriver.from_section(section, ctx)


__all__ = ["SimDriver", "create_driver"]
