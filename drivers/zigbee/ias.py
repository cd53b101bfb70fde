"""IAS Zone (ZCL cluster 0x0500): zone type and zone status bits -> capabilities, as tables.

The zone type tells what alarm1/alarm2 mean for the device (smoke for a fire sensor, open for a contact
switch...). The other status bits mean the same for every zone type. Z-Stack/zigpy deliver the status as a
16-bit bitmap in a Zone Status Change Notification or as the ``zone_status`` attribute.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from drivers.zigbee import mapping

ALARM1, ALARM2, TAMPER, BATTERY_LOW, SUPERVISION, RESTORE, TROUBLE, AC_MAINS = (1 << i for i in range(8))


#: IAS zone type -> meaning lives in the one mapping table.
ZONE_TYPES = mapping.ZONE_TYPES
ZoneKind = mapping.ZoneKind

#: Status bits whose meaning does not depend on the zone type; reported when they change.
STATUS_FLAGS: tuple[tuple[int, str], ...] = (
    (TAMPER, "tamper"),
    (BATTERY_LOW, "battery_low"),
    (TROUBLE, "trouble"),
    (AC_MAINS, "mains_fault"),
)


def zone_kind(zone_type: int | None) -> mapping.ZoneKind | None:
    return mapping.zone_kind(zone_type)


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
