"""A paired device, and the short reference to it that every event carries."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class Device:
    """A paired device.

    ``address`` is the radio address (Zigbee IEEE, BLE MAC, GPIO ``chip:line``, sim id). ``params`` holds
    transport details (zone type, GATT profile, active-low...). ``secret`` (e.g. a BTHome bindkey) is
    never shown back in full: use :meth:`public`.
    """

    id: str
    type: str
    transport: str
    name: str = ""
    room: str = ""
    capabilities: list[str] = field(default_factory=list)
    address: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    secret: str | None = None
    added_at: float = field(default_factory=time.time)

    def public(self) -> dict[str, Any]:
        """The device as pages and APIs may show it: the secret masked."""
        out = asdict(self)
        out.pop("secret")
        out["has_secret"] = self.secret is not None
        if self.secret:
            out["secret_hint"] = "…" + self.secret[-4:]
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Device:
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        return cls(**known)


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """The device an event is about, as the platform sees it."""

    id: str
    type: str
    room: str
    transport: str

    @classmethod
    def of(cls, device: Device) -> DeviceRef:
        return cls(device.id, device.type, device.room, device.transport)

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "type": self.type, "room": self.room, "transport": self.transport}
