"""The retained ``fbgw/v1/{gateway}/devices`` document: every paired device and what is known of it now."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from core.devices import Device

#: ``Device.params`` keys that name the hardware, as drivers record them.
MODEL_KEYS = ("model",)
VENDOR_KEYS = ("vendor", "manufacturer")


class Seen(Protocol):
    last_seen: float
    online: bool
    values: dict[str, Any]
    meta: dict[str, Any]


def availability(seen: Seen | None) -> str:
    if seen is None:
        return "unknown"
    return "online" if seen.online else "offline"


def entry(device: Device, seen: Seen | None) -> dict[str, Any]:
    """One device as the platform sees it (never its secret)."""
    params = device.params or {}
    battery = None
    if seen is not None:
        battery = seen.values.get("battery", seen.meta.get("battery"))
    return {
        "id": device.id,
        "type": device.type,
        "name": device.name,
        "room": device.room,
        "transport": device.transport,
        "capabilities": list(device.capabilities),
        "model": next((str(params[k]) for k in MODEL_KEYS if params.get(k)), None),
        "vendor": next((str(params[k]) for k in VENDOR_KEYS if params.get(k)), None),
        "battery": battery,
        "last_seen": int(seen.last_seen * 1000) if seen is not None and seen.last_seen else None,
        "availability": availability(seen),
    }


def document(gateway: str, devices: Iterable[Device], seen: Mapping[str, Seen], ts_ms: int) -> dict[str, Any]:
    """The whole list, sorted by id (so an unchanged home publishes the same bytes)."""
    items = [entry(d, seen.get(d.id)) for d in sorted(devices, key=lambda d: d.id)]
    return {"gateway": gateway, "ts": ts_ms, "devices": items}
