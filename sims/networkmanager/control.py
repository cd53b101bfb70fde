"""What the mocked NetworkManager holds, read over its bus (dbus-fast): for tests and the HIL rig."""

from __future__ import annotations

import asyncio
from typing import Any

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

NM = "org.freedesktop.NetworkManager"
NM_PATH = "/org/freedesktop/NetworkManager"


def _plain(value: Any) -> Any:
    if isinstance(value, Variant):
        return _plain(value.value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class NetworkManagerView:
    """Reads saved and active connections. ``async with NetworkManagerView(address) as nm: ...``"""

    def __init__(self, bus_address: str, timeout_s: float = 10.0) -> None:
        self.bus_address = bus_address
        self.timeout_s = timeout_s
        self._bus: MessageBus | None = None

    async def __aenter__(self) -> NetworkManagerView:
        bus = MessageBus(bus_address=self.bus_address, bus_type=BusType.SYSTEM)
        self._bus = await asyncio.wait_for(bus.connect(), self.timeout_s)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._bus is not None:
            self._bus.disconnect()

    async def _call(self, path: str, interface: str, member: str, signature: str = "", body: Any = None) -> list[Any]:
        assert self._bus is not None
        msg = Message(
            destination=NM, path=path, interface=interface, member=member, signature=signature, body=body or []
        )
        reply = await asyncio.wait_for(self._bus.call(msg), self.timeout_s)
        if reply is None or reply.message_type == MessageType.ERROR:
            raise RuntimeError(f"{member}: {reply.error_name if reply else 'no reply'} {reply.body if reply else ''}")
        return list(reply.body)

    async def prop(self, path: str, interface: str, name: str) -> Any:
        [value] = await self._call(path, "org.freedesktop.DBus.Properties", "Get", "ss", [interface, name])
        return _plain(value)

    async def connections(self) -> dict[str, dict[str, Any]]:
        """Saved connections: object path -> settings document (plain Python values)."""
        [paths] = await self._call(f"{NM_PATH}/Settings", f"{NM}.Settings", "ListConnections")
        out = {}
        for path in paths:
            [settings] = await self._call(path, f"{NM}.Settings.Connection", "GetSettings")
            out[str(path)] = _plain(settings)
        return out

    async def active_connections(self) -> list[str]:
        return [str(p) for p in await self.prop(NM_PATH, NM, "ActiveConnections")]
