"""UPower and systemd-logind over the D-Bus system bus (dbus-fast), the only two power calls the gateway makes.

UPower's ``OnBattery`` and its display device (``Percentage``, ``TimeToEmpty``, ``IsPresent``) are read with
``GetAll``; logind's ``PowerOff`` powers the box off (systemd then stops the gateway through its normal,
orderly stop). ``DBUS_SYSTEM_BUS_ADDRESS`` points tests at a private bus with python-dbusmock's templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

UPOWER = "org.freedesktop.UPower"
UPOWER_PATH = "/org/freedesktop/UPower"
DISPLAY_PATH = "/org/freedesktop/UPower/devices/DisplayDevice"
LOGIND = "org.freedesktop.login1"


class PowerBusError(OSError):
    """A D-Bus call failed (no bus, no UPower, refused); the message says which."""


@dataclass(frozen=True, slots=True)
class BatteryState:
    on_battery: bool
    present: bool  # a battery is fitted
    percentage: float
    time_to_empty_s: int  # 0: unknown


class PowerBus:
    """One system-bus connection for UPower reads and the logind power-off."""

    def __init__(self) -> None:
        self._bus: MessageBus | None = None

    async def connect(self) -> None:
        try:
            self._bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        except (OSError, ValueError) as exc:
            raise PowerBusError(f"system bus: {exc}") from exc

    def close(self) -> None:
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None

    async def _call(
        self, destination: str, path: str, interface: str, member: str, signature: str = "", body: Any = None
    ) -> list[Any]:
        if self._bus is None:
            await self.connect()
        assert self._bus is not None
        msg = Message(
            destination=destination, path=path, interface=interface, member=member, signature=signature, body=body or []
        )
        reply = await self._bus.call(msg)
        if reply is None or reply.message_type == MessageType.ERROR:
            detail = reply.body[0] if reply is not None and reply.body else ""
            name = reply.error_name if reply is not None else "no reply"
            raise PowerBusError(f"{destination} {member}: {name} {detail}".strip())
        return list(reply.body)

    async def _props(self, path: str, interface: str) -> dict[str, Any]:
        [props] = await self._call(UPOWER, path, "org.freedesktop.DBus.Properties", "GetAll", "s", [interface])
        return {k: v.value for k, v in props.items()}

    async def battery(self) -> BatteryState:
        main = await self._props(UPOWER_PATH, UPOWER)
        display = await self._props(DISPLAY_PATH, f"{UPOWER}.Device")
        return BatteryState(
            on_battery=bool(main.get("OnBattery", False)),
            present=bool(display.get("IsPresent", False)),
            percentage=float(display.get("Percentage", 0.0)),
            time_to_empty_s=int(display.get("TimeToEmpty", 0)),
        )

    async def poweroff(self) -> None:
        """Ask logind to power off (not interactive: polkit must allow the fbgw user; see docs/power.md)."""
        await self._call(LOGIND, "/org/freedesktop/login1", f"{LOGIND}.Manager", "PowerOff", "b", [False])
