"""Bluetooth Low Energy: BTHome v2 and Xiaomi MiBeacon adverts and GATT devices through bleak, on one shared scanner.

See ``drivers/ble/README.md`` for the config section, the device families and the test harness.
"""

from typing import Any

from drivers.base import DriverContext
from drivers.ble.config import BleSettings, parse_settings
from drivers.ble.driver import BleDriver


def create_driver(section: dict[str, Any], ctx: DriverContext) -> BleDriver:
    """Build the driver from the raw ``[drivers.ble]`` table; DriverConfigError if it is invalid."""
    return BleDriver(parse_settings(section), ctx)


__all__ = ["BleDriver", "BleSettings", "create_driver"]
