"""Attribute reports and commands from non-IAS clusters -> readings, as tables.

Power Configuration (0x0001) gives battery percent (in half percent) or only voltage (in 100 mV);
Occupancy Sensing (0x0406) gives motion; an On/Off client (0x0006, buttons and remotes) gives a press.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

POWER_CFG, ON_OFF, OCCUPANCY, IAS_ZONE = 0x0001, 0x0006, 0x0406, 0x0500
BATTERY_VOLTAGE, BATTERY_PERCENT = 0x0020, 0x0021
ZONE_STATUS = 0x0002

#: Voltage (in volts) read as empty and as full, for devices that report only voltage (CR2032/2xAA).
VOLTS_EMPTY, VOLTS_FULL = 2.1, 3.0


def _percent_from_half(raw: int) -> int | None:
    return None if raw == 0xFF else max(0, min(100, round(raw / 2)))


def _percent_from_decivolts(raw: int) -> int | None:
    if raw in (0, 0xFF):
        return None
    frac = (raw / 10 - VOLTS_EMPTY) / (VOLTS_FULL - VOLTS_EMPTY)
    return max(0, min(100, round(frac * 100)))


Convert = Callable[[int], Any]

#: (cluster, attribute) -> (capability, converter). Converters return None for "value unknown".
ATTRIBUTES: dict[tuple[int, int], tuple[str, Convert]] = {
    (POWER_CFG, BATTERY_PERCENT): ("battery", _percent_from_half),
    (POWER_CFG, BATTERY_VOLTAGE): ("battery", _percent_from_decivolts),
    (OCCUPANCY, 0x0000): ("motion", lambda raw: bool(raw & 0x01)),
}

#: Attributes whose reading wins when a report carries several for the same capability.
PREFERRED = {(POWER_CFG, BATTERY_PERCENT)}

#: (cluster, command id sent by a client cluster on the device) -> (capability, value).
CLIENT_COMMANDS: dict[tuple[int, int], tuple[str, Any]] = {
    (ON_OFF, 0x00): ("press", True),  # off
    (ON_OFF, 0x01): ("press", True),  # on
    (ON_OFF, 0x02): ("press", True),  # toggle
}


def attribute_readings(cluster: int, values: dict[int, Any]) -> list[tuple[str, Any, dict[str, Any]]]:
    """Readings (capability, value, meta) for one attribute report of ``cluster``."""
    chosen: dict[str, tuple[Any, bool]] = {}
    meta: dict[str, Any] = {}
    for attr, raw in values.items():
        entry = ATTRIBUTES.get((cluster, attr))
        if entry is None or not isinstance(raw, int):
            continue
        capability, convert = entry
        value = convert(int(raw))
        if (cluster, attr) == (POWER_CFG, BATTERY_VOLTAGE):
            meta["battery_voltage"] = raw / 10
        if value is None:
            continue
        preferred = (cluster, attr) in PREFERRED
        if capability not in chosen or (preferred and not chosen[capability][1]):
            chosen[capability] = (value, preferred)
    return [(cap, value, dict(meta)) for cap, (value, _) in chosen.items()]
