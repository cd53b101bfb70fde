"""Zigbee transport: zigpy with zigpy-znp (TI Z-Stack) or bellows (Silicon Labs EZSP) on a USB stick."""

from typing import Any

from drivers.base import DriverContext
from drivers.zigbee.config import ZigbeeSection
from drivers.zigbee.driver import ZigbeeDriver


def create_driver(section: dict[str, Any], ctx: DriverContext) -> ZigbeeDriver:
    return ZigbeeDriver.from_section(section, ctx)


__all__ = ["ZigbeeDriver", "ZigbeeSection", "create_driver"]
