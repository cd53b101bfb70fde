"""A 4G/LTE module through ModemManager on D-Bus: SMS out and in, voice calls, modem/SIM/network health."""

from __future__ import annotations

from typing import Any

from drivers.base import DriverContext
from drivers.modem.config import ModemSection
from drivers.modem.driver import ModemDriver
from drivers.modem.modem import ModemManagerModem


def create_driver(section: dict[str, Any], ctx: DriverContext) -> ModemDriver:
    """Validate ``[drivers.modem]`` (raises ``DriverConfigError``) and build it; the modem is found at start."""
    return ModemDriver.from_section(section, ctx)


__all__ = ["ModemDriver", "ModemManagerModem", "ModemSection", "create_driver"]
