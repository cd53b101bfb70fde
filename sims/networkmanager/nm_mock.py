"""dbusmock template that completes python-dbusmock's ``networkmanager`` for an access point.

Loaded *into the mock process* (``python -m dbusmock --system --template <this file>``), so it may import only
``dbus``, ``dbusmock`` and the standard library. It loads ``networkmanager`` and:

* adds the Wi-Fi and Ethernet devices named in ``parameters["wifi"]`` / ``parameters["ethernet"]`` (Wi-Fi
  devices connected to a network, as a box on the home's Wi-Fi, when ``parameters["wifi_connected"]``);
* replaces ``AddAndActivateConnection``: the stock one only joins an access point it has scanned, and keeps
  none of the settings it was given. Like NetworkManager, this one saves the connection document as sent
  (``Settings.Connection.GetSettings`` returns it, the PSK included, which real NetworkManager would hide)
  and activates it on the device; ``DeactivateConnection`` and ``Delete`` are the template's own.

``parameters`` also takes the template's ``State`` / ``Connectivity`` (a box without a network: ``State`` 20).
"""

from __future__ import annotations

from typing import Any

import dbus
from dbusmock import mockobject

BUS_NAME = "org.freedesktop.NetworkManager"
MAIN_OBJ = "/org/freedesktop"
SYSTEM_BUS = True
IS_OBJECT_MANAGER = True

MANAGER_OBJ = "/org/freedesktop/NetworkManager"
MANAGER_IFACE = "org.freedesktop.NetworkManager"
SETTINGS_OBJ = "/org/freedesktop/NetworkManager/Settings"
DEVICE_IFACE = "org.freedesktop.NetworkManager.Device"
DEVICE_DISCONNECTED = 30
DEVICE_ACTIVATED = 100
DEVICE_TYPE_WIFI = 2


def load(mock: Any, parameters: dict[str, Any]) -> None:
    nm_params = {k: v for k, v in parameters.items() if k not in ("wifi", "ethernet", "wifi_connected")}
    for key in ("State", "Connectivity"):
        if key in nm_params:
            nm_params[key] = dbus.UInt32(int(nm_params[key]))
    mock.AddTemplate("networkmanager", nm_params)
    mockobject.objects.setdefault(MAIN_OBJ, mock)
    manager = mockobject.objects[MANAGER_OBJ]
    manager.fbgw_add_and_activate = add_and_activate
    manager.AddMethod(
        MANAGER_IFACE,
        "AddAndActivateConnection",
        "a{sa{sv}}oo",
        "oo",
        "ret = self.fbgw_add_and_activate(self, args[0], args[1], args[2])",
    )
    wifi_state = DEVICE_ACTIVATED if parameters.get("wifi_connected") else DEVICE_DISCONNECTED
    for name in parameters.get("wifi", []):
        mock.AddWiFiDevice(str(name), str(name), wifi_state)
    for name in parameters.get("ethernet", []):
        mock.AddEthernetDevice(str(name), str(name), DEVICE_DISCONNECTED)


def add_and_activate(manager: Any, settings: Any, device: str, specific: str) -> tuple[dbus.ObjectPath, ...]:
    if str(device) not in [str(d) for d in manager.GetDevices()]:
        raise dbus.exceptions.DBusException(f"no device {device}", name=f"{MANAGER_IFACE}.UnknownDevice")
    dev = mockobject.objects[str(device)]
    wireless = settings.get("802-11-wireless", {})
    if wireless and int(dev.Get(DEVICE_IFACE, "DeviceType")) != DEVICE_TYPE_WIFI:
        raise dbus.exceptions.DBusException(
            "a Wi-Fi connection needs a Wi-Fi device", name=f"{MANAGER_IFACE}.Device.IncompatibleConnection"
        )
    conn = mockobject.objects[SETTINGS_OBJ].SettingsAddConnection(settings)
    active = manager.activate_connection(manager, conn, device, specific)
    return dbus.ObjectPath(conn), dbus.ObjectPath(active)
