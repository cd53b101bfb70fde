"""IAS Zone (ZCL cluster 0x0500): zone type and zone status bits -> capabilities, as tables.

The zone type tells what alarm1/alarm2 mean for the device (smoke for a fire sensor, open for a contact
switch...). The other status bits mean the same for every zone type. Z-Stack/zigpy deliver the status as a
16-bit bitmap in a Zone Status Change Notification or as the ``zone_status`` attribute.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

ALARM1, ALARM2, TAMPER, BATTERY_LOW, SUPERVISION, RESTORE, TROUBLE, AC_MAINS = (1 << i for i in range(8))


@dataclass(frozen=True)
class ZoneKind:
    """What a zone type is in fbgw terms: device type, the capability its alarm bits drive, and the
    reading values for "alarm" and "no alarm" (None: nothing is reported, e.g. a button has no release)."""

    device_type: str
    capability: str
    on: Any = True
    off: Any = False


#: IAS zone type (ZCL 8.2.2.2.1.2) -> meaning.
ZONE_TYPES: dict[int, ZoneKind] = {
    0x000D: ZoneKind("motion", "motion"),
    0x0015: ZoneKind("door", "contact", "open", "closed"),
    0x0016: ZoneKind("door", "contact", "open", "closed"),  # door/window handle
    0x0028: ZoneKind("smoke", "smoke"),
    0x002A: ZoneKind("leak", "leak"),
    0x002B: ZoneKind("gas", "gas"),  # carbon monoxide sensor; combustible gas sensors use it too
    0x002C: ZoneKind("call_button", "press", True, None),  # personal emergency device
    0x010F: ZoneKind("call_button", "press", True, None),  # remote control
    0x0115: ZoneKind("call_button", "press", True, None),  # keyfob
}

#: Status bits whose meaning does not depend on the zone type; reported when they change.
STATUS_FLAGS: tuple[tuple[int, str], ...] = (
    (TAMPER, "tamper"),
    (BATTERY_LOW, "battery_low"),
    (TROUBLE, "trouble"),
    (AC_MAINS, "mains_fault"),
)


def zone_kind(zone_type: int | None) -> ZoneKind | None:
    return ZONE_TYPES.get(zone_type) if zone_type is not None else None


def capabilities(zone_type: int | None, *, mains: bool) -> list[str]:
    """Capabilities a zone device reports (without battery %, which comes from Power Configuration)."""
    kind = zone_kind(zone_type)
    caps = [kind.capability] if kind else []
    caps += ["tamper", "battery_low", "trouble"]
    if mains:
        caps.append("mains_fault")
    return caps


def zone_readings(zone_type: int | None, status: int, previous: int | None) -> Iterator[tuple[str, Any]]:
    """Readings for a zone status. The alarm capability is reported on every notification (a repeated
    alarm is never lost); flag bits only when they changed since ``previous`` (None: assumed all clear),
    so a cleared flag is reported once as False (the restore)."""
    kind = zone_kind(zone_type)
    if kind is not None:
        value = kind.on if status & (ALARM1 | ALARM2) else kind.off
        if value is not None:
            yield kind.capability, value
    before = previous or 0
    for bit, capability in STATUS_FLAGS:
        if (status ^ before) & bit:
            yield capability, bool(status & bit)
