"""NetworkManager over the D-Bus system bus (dbus-fast): the few calls an install access point needs.

A Wi-Fi device is found with ``GetDevices`` (``DeviceType`` 2); the access point is one
``AddAndActivateConnection`` of an ``802-11-wireless`` connection in mode ``ap`` with WPA2-PSK and
``ipv4.method = shared`` (NetworkManager runs DHCP for the phone); it ends with ``DeactivateConnection`` and
the connection's ``Delete``, so nothing is left in NetworkManager's saved connections. ``DBUS_SYSTEM_BUS_ADDRESS``
points tests at a private bus with python-dbusmock's ``networkmanager`` template.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

NM = "org.freedesktop.NetworkManager"
NM_PATH = "/org/freedesktop/NetworkManager"
SETTINGS_PATH = f"{NM_PATH}/Settings"
PROPS = "org.freedesktop.DBus.Properties"
DEVICE_TYPE_WIFI = 2
#: NMDeviceState: connected (below it: unavailable, disconnected, or on its way up).
DEVICE_ACTIVATED = 100
#: NMState: a default route at least (below it the box has no network beyond its own links).
STATE_CONNECTED_SITE = 60
#: The ``connection.id`` of the access point fbgw makes (stale ones are removed at start).
CONNECTION_ID = "fbgw-hotspot"
_UNKNOWN_OBJECT = ("org.freedesktop.DBus.Error.UnknownMethod", "org.freedesktop.DBus.Error.UnknownObject")


class NetworkManagerError(OSError):
    """A call failed (no bus, NetworkManager not running, refused); the message says which."""


class NetworkManagerMissing(NetworkManagerError):
    """No system bus, or NetworkManager is not on it."""


class NoWifiDevice(NetworkManagerError):
    """NetworkManager manages no (matching) Wi-Fi device."""


class WifiInUse(NetworkManagerError):
    """The Wi-Fi device is connected to a network (the home's Wi-Fi): an access point would cut the box off it."""


@dataclass(frozen=True, slots=True)
class AccessPointRequest:
    interface: str  # the Wi-Fi device's interface name
    ssid: str
    password: str
    address: str  # the box's address on the access point
    prefix: int
    band: str  # "bg" | "a"


@dataclass(frozen=True, slots=True)
class ActiveAccessPoint:
    connection: str  # the settings connection's object path
    active: str  # the active connection's object path


def access_point_settings(req: AccessPointRequest) -> dict[str, dict[str, Variant]]:
    """The ``a{sa{sv}}`` connection document for ``AddAndActivateConnection``."""
    return {
        "connection": {
            "id": Variant("s", CONNECTION_ID),
            "type": Variant("s", "802-11-wireless"),
            "interface-name": Variant("s", req.interface),
            "autoconnect": Variant("b", False),
        },
        "802-11-wireless": {
            "ssid": Variant("ay", req.ssid.encode()),
            "mode": Variant("s", "ap"),
            "band": Variant("s", req.band),
        },
        "802-11-wireless-security": {
            "key-mgmt": Variant("s", "wpa-psk"),
            "psk": Variant("s", req.password),
            "proto": Variant("as", ["rsn"]),
            "pairwise": Variant("as", ["ccmp"]),
            "group": Variant("as", ["ccmp"]),
        },
        "ipv4": {
            "method": Variant("s", "shared"),
            "address-data": Variant(
                "aa{sv}", [{"address": Variant("s", req.address), "prefix": Variant("u", req.prefix)}]
            ),
        },
        "ipv6": {"method": Variant("s", "ignore")},
    }


class NetworkManagerClient:
    """One system-bus connection to NetworkManager. Every call is bounded by ``timeout_s``."""

    def __init__(self, timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s
        self._bus: MessageBus | None = None

    async def connect(self) -> None:
        try:
            self._bus = await asyncio.wait_for(MessageBus(bus_type=BusType.SYSTEM).connect(), self.timeout_s)
        except (OSError, ValueError, TimeoutError) as exc:
            raise NetworkManagerMissing(f"no D-Bus system bus ({exc or type(exc).__name__})") from exc

    def close(self) -> None:
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None

    async def _call(self, path: str, interface: str, member: str, signature: str = "", body: Any = None) -> list[Any]:
        if self._bus is None or not self._bus.connected:
            await self.connect()
        assert self._bus is not None
        msg = Message(
            destination=NM, path=path, interface=interface, member=member, signature=signature, body=body or []
        )
        try:
            reply = await asyncio.wait_for(self._bus.call(msg), self.timeout_s)
        except TimeoutError as exc:
            raise NetworkManagerError(f"NetworkManager {member}: no answer within {self.timeout_s:g} s") from exc
        except (OSError, EOFError) as exc:
            self.close()
            raise NetworkManagerMissing(f"system bus lost ({exc})") from exc
        if reply is None or reply.message_type == MessageType.ERROR:
            name = reply.error_name if reply is not None else "no reply"
            detail = reply.body[0] if reply is not None and reply.body else ""
            if name in ("org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner"):
                raise NetworkManagerMissing("NetworkManager is not running")
            raise NetworkManagerError(f"NetworkManager {member}: {name} {detail}".strip())
        return list(reply.body)

    async def _get(self, path: str, interface: str, name: str) -> Any:
        [value] = await self._call(path, PROPS, "Get", "ss", [interface, name])
        return value.value

    async def state(self) -> int:
        """NMState (70: global connectivity, 60: a default route, 50: local links only, 20: disconnected)."""
        return int(await self._get(NM_PATH, NM, "State"))

    async def wifi_device(self, interface: str = "") -> tuple[str, str]:
        """``(object path, interface name)`` of the Wi-Fi device named ``interface`` (empty: the first one)."""
        [devices] = await self._call(NM_PATH, NM, "GetDevices")
        for path in devices:
            if int(await self._get(path, f"{NM}.Device", "DeviceType")) != DEVICE_TYPE_WIFI:
                continue
            name = str(await self._get(path, f"{NM}.Device", "Interface"))
            if not interface or name == interface:
                return str(path), name
        raise NoWifiDevice(f"NetworkManager has no Wi-Fi device{f' {interface!r}' if interface else ''}")

    async def start_access_point(self, device: str, req: AccessPointRequest) -> ActiveAccessPoint:
        """``WifiInUse`` if the device is connected to a network: one radio cannot be both, and the box's
        uplink may run over it (the technician then reaches the page on that network)."""
        if int(await self._get(device, f"{NM}.Device", "State")) == DEVICE_ACTIVATED:
            raise WifiInUse(f"the Wi-Fi device {req.interface} is connected to a network; no access point on it")
        conn, active = await self._call(
            NM_PATH, NM, "AddAndActivateConnection", "a{sa{sv}}oo", [access_point_settings(req), device, "/"]
        )
        return ActiveAccessPoint(str(conn), str(active))

    async def stop_access_point(self, ap: ActiveAccessPoint) -> None:
        """Deactivate and delete; a part already gone (NetworkManager restarted) is not an error."""
        for path, interface, member, body in (
            (NM_PATH, NM, "DeactivateConnection", [ap.active]),
            (ap.connection, f"{NM}.Settings.Connection", "Delete", []),
        ):
            try:
                await self._call(path, interface, member, "o" if body else "", body)
            except NetworkManagerMissing:
                raise
            except NetworkManagerError as exc:
                if not any(name in str(exc) for name in (*_UNKNOWN_OBJECT, "ConnectionNotActive", "InvalidArguments")):
                    raise

    async def remove_stale(self) -> int:
        """Delete access-point connections left by a run that ended without stopping them; returns how many."""
        [paths] = await self._call(SETTINGS_PATH, f"{NM}.Settings", "ListConnections")
        removed = 0
        for path in paths:
            [settings] = await self._call(path, f"{NM}.Settings.Connection", "GetSettings")
            conn_id = settings.get("connection", {}).get("id")
            if conn_id is not None and conn_id.value == CONNECTION_ID:
                await self._call(path, f"{NM}.Settings.Connection", "Delete")
                removed += 1
        return removed
