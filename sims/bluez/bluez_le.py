"""dbusmock template that completes python-dbusmock's ``bluez5`` for Bluetooth LE.

Loaded *into the mock process* on top of ``bluez5`` (``AddTemplate`` with this file's path), so it may
import only ``dbus`` and ``dbusmock``. It adds what bleak's real BlueZ backend needs and ``bluez5``
lacks or types wrongly:

* LE devices whose ``ServiceData`` is ``a{sv}`` and ``ManufacturerData`` is ``a{qv}`` with byte-array
  variants (``bluez5.AddDevice`` declares them as arrays of dicts, which bleak cannot read);
* adverts: a first advert creates the Device1 object (InterfacesAdded), later ones update it
  (PropertiesChanged), exactly the two signals bleak turns into advertisement callbacks;
* GATT: GattService1 / GattCharacteristic1 objects, StartNotify/StopNotify/ReadValue/WriteValue, and
  notifications pushed by updating ``Value``;
* connections: Connect sets Connected and ServicesResolved; a device can be made unreachable
  (Connect fails, an open connection drops) to simulate a device that walked away.

All methods live on ``org.bluez.Mock`` at ``/``, next to bluez5's AddAdapter / RemoveAdapter. Start it as
the main template (``python -m dbusmock --system --template <this file>``): it loads bluez5 itself.
"""

from __future__ import annotations

from typing import Any

import dbus
import dbus.service
from dbusmock import OBJECT_MANAGER_IFACE, mockobject

BUS_NAME = "org.bluez"
MAIN_OBJ = "/"
SYSTEM_BUS = True
IS_OBJECT_MANAGER = True

BLUEZ_MOCK_IFACE = "org.bluez.Mock"
ADAPTER_IFACE = "org.bluez.Adapter1"
DEVICE_IFACE = "org.bluez.Device1"
GATT_SERVICE_IFACE = "org.bluez.GattService1"
GATT_CHAR_IFACE = "org.bluez.GattCharacteristic1"


def load(mock: Any, parameters: dict[str, Any]) -> None:
    """Load bluez5 underneath, then add the adapters named in ``parameters["adapters"]`` (default hci0)."""
    mock.AddTemplate("bluez5", parameters)
    # dbusmock registers the main object only after the template loaded; AddAdapter needs it now.
    mockobject.objects.setdefault(MAIN_OBJ, mock)
    for name in parameters.get("adapters", ["hci0"]):
        mock.AddAdapter(str(name), "fbgw-mock")


def _manager() -> Any:
    return mockobject.objects["/"]


def _emit_added(path: str, interface: str, props: dict[str, Any]) -> None:
    _manager().EmitSignal(
        OBJECT_MANAGER_IFACE,
        "InterfacesAdded",
        "oa{sa{sv}}",
        [dbus.ObjectPath(path), dbus.Dictionary({interface: props}, signature="sa{sv}")],
    )


def _emit_removed(path: str, interfaces: list[str]) -> None:
    _manager().EmitSignal(
        OBJECT_MANAGER_IFACE, "InterfacesRemoved", "oas", [dbus.ObjectPath(path), dbus.Array(interfaces, "s")]
    )


def _bytes(value: Any) -> Any:
    return dbus.Array([dbus.Byte(int(b)) for b in value], signature="y", variant_level=1)


def _service_data(raw: Any) -> Any:
    return dbus.Dictionary({str(k): _bytes(v) for k, v in raw.items()}, signature="sv")


def _manufacturer_data(raw: Any) -> Any:
    return dbus.Dictionary({dbus.UInt16(int(k)): _bytes(v) for k, v in raw.items()}, signature="qv")


def _changed(obj: Any, interface: str, props: dict[str, Any]) -> None:
    """Store and announce property changes with their exact D-Bus types."""
    for name, value in props.items():
        obj.props.setdefault(interface, {})[name] = value
    obj.EmitSignal(
        dbus.PROPERTIES_IFACE,
        "PropertiesChanged",
        "sa{sv}as",
        [interface, dbus.Dictionary(props, signature="sv"), dbus.Array([], signature="s")],
    )


def _device_path(adapter: str, address: str) -> str:
    return f"/org/bluez/{adapter}/dev_{address.upper().replace(':', '_')}"


# ---- device methods (bound per object through AddMethods with function objects) ----


def _connect(device: Any) -> None:
    if not getattr(device, "reachable", True):
        raise dbus.exceptions.DBusException("Page Timeout", name="org.bluez.Error.Failed")
    if device.props[DEVICE_IFACE]["Connected"]:
        raise dbus.exceptions.DBusException("Already Connected", name="org.bluez.Error.AlreadyConnected")
    _changed(device, DEVICE_IFACE, {"Connected": dbus.Boolean(True, variant_level=1)})
    _changed(device, DEVICE_IFACE, {"ServicesResolved": dbus.Boolean(True, variant_level=1)})


def _drop(device: Any) -> None:
    for path, obj in list(mockobject.objects.items()):
        if path.startswith(device.path + "/") and GATT_CHAR_IFACE in obj.props:
            obj.props[GATT_CHAR_IFACE]["Notifying"] = dbus.Boolean(False)
    _changed(
        device,
        DEVICE_IFACE,
        {
            "ServicesResolved": dbus.Boolean(False, variant_level=1),
            "Connected": dbus.Boolean(False, variant_level=1),
        },
    )


def _disconnect(device: Any) -> None:
    if not device.props[DEVICE_IFACE]["Connected"]:
        raise dbus.exceptions.DBusException("Not Connected", name="org.bluez.Error.NotConnected")
    _drop(device)


def _start_notify(char: Any) -> None:
    _changed(char, GATT_CHAR_IFACE, {"Notifying": dbus.Boolean(True, variant_level=1)})


def _stop_notify(char: Any) -> None:
    _changed(char, GATT_CHAR_IFACE, {"Notifying": dbus.Boolean(False, variant_level=1)})


def _read_value(char: Any, options: Any) -> Any:
    return dbus.Array(char.props[GATT_CHAR_IFACE]["Value"], signature="y")


def _write_value(char: Any, value: Any, options: Any) -> None:
    char.props[GATT_CHAR_IFACE]["Value"] = dbus.Array(value, signature="y")
    char.written = [*getattr(char, "written", []), bytes(value)]


# ---- org.bluez.Mock methods ----


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature="sssnna{say}a{qay}as", out_signature="o")
def AdvertiseLE(
    self: Any,
    adapter: str,
    address: str,
    name: str,
    rssi: int,
    tx_power: int,
    service_data: Any,
    manufacturer_data: Any,
    uuids: Any,
) -> Any:
    """One advert from ``address`` heard by ``adapter``: creates the device or updates it."""
    adapter_path = f"/org/bluez/{adapter}"
    if adapter_path not in mockobject.objects:
        raise dbus.exceptions.DBusException(f"no adapter {adapter}", name="org.bluez.Mock.NoSuchAdapter")
    path = _device_path(adapter, address)
    adv = {
        "RSSI": dbus.Int16(rssi, variant_level=1),
        "ServiceData": _service_data(service_data),
        "ManufacturerData": _manufacturer_data(manufacturer_data),
        "UUIDs": dbus.Array([str(u) for u in uuids], signature="s", variant_level=1),
    }
    if tx_power != -127:
        adv["TxPower"] = dbus.Int16(tx_power, variant_level=1)
    if name:
        adv["Name"] = dbus.String(name, variant_level=1)
        adv["Alias"] = dbus.String(name, variant_level=1)
    if path in mockobject.objects:
        _changed(mockobject.objects[path], DEVICE_IFACE, adv)
        return dbus.ObjectPath(path)
    props = {
        "Address": dbus.String(address.upper(), variant_level=1),
        "AddressType": dbus.String("public", variant_level=1),
        "Alias": dbus.String(name or address.upper().replace(":", "-"), variant_level=1),
        "Adapter": dbus.ObjectPath(adapter_path, variant_level=1),
        "Paired": dbus.Boolean(False, variant_level=1),
        "Bonded": dbus.Boolean(False, variant_level=1),
        "Trusted": dbus.Boolean(False, variant_level=1),
        "Blocked": dbus.Boolean(False, variant_level=1),
        "LegacyPairing": dbus.Boolean(False, variant_level=1),
        "Connected": dbus.Boolean(False, variant_level=1),
        "ServicesResolved": dbus.Boolean(False, variant_level=1),
        **adv,
    }
    self.AddObject(
        path,
        DEVICE_IFACE,
        props,
        [
            ("Connect", "", "", _connect),
            ("Disconnect", "", "", _disconnect),
            ("Pair", "", "", ""),
            ("CancelPairing", "", "", ""),
        ],
    )
    mockobject.objects[path].reachable = True
    _emit_added(path, DEVICE_IFACE, props)
    return dbus.ObjectPath(path)


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature="oqs", out_signature="o")
def AddGattService(self: Any, device: str, handle: int, uuid: str) -> Any:
    """A primary GATT service on ``device`` (object path ends in its 4-hex-digit handle, like BlueZ)."""
    path = f"{device}/service{handle:04x}"
    props = {
        "UUID": dbus.String(uuid, variant_level=1),
        "Device": dbus.ObjectPath(device, variant_level=1),
        "Primary": dbus.Boolean(True, variant_level=1),
        "Includes": dbus.Array([], signature="o", variant_level=1),
    }
    self.AddObject(path, GATT_SERVICE_IFACE, props, [])
    _emit_added(path, GATT_SERVICE_IFACE, props)
    return dbus.ObjectPath(path)


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature="oqsasay", out_signature="o")
def AddGattCharacteristic(self: Any, service: str, handle: int, uuid: str, flags: Any, value: Any) -> Any:
    """A characteristic of ``service`` with BlueZ flag names ("read", "notify", "write"...)."""
    path = f"{service}/char{handle:04x}"
    props = {
        "UUID": dbus.String(uuid, variant_level=1),
        "Service": dbus.ObjectPath(service, variant_level=1),
        "Value": _bytes(value),
        "Notifying": dbus.Boolean(False, variant_level=1),
        "Flags": dbus.Array([str(f) for f in flags], signature="s", variant_level=1),
        "MTU": dbus.UInt16(247, variant_level=1),
    }
    self.AddObject(
        path,
        GATT_CHAR_IFACE,
        props,
        [
            ("StartNotify", "", "", _start_notify),
            ("StopNotify", "", "", _stop_notify),
            ("ReadValue", "a{sv}", "ay", _read_value),
            ("WriteValue", "aya{sv}", "", _write_value),
        ],
    )
    _emit_added(path, GATT_CHAR_IFACE, props)
    return dbus.ObjectPath(path)


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature="oay", out_signature="b")
def NotifyCharacteristic(self: Any, char: str, value: Any) -> bool:
    """Push a notification; returns False (and sends nothing) unless a client enabled notifications."""
    obj = mockobject.objects[char]
    if not obj.props[GATT_CHAR_IFACE]["Notifying"]:
        return False
    _changed(obj, GATT_CHAR_IFACE, {"Value": _bytes(value)})
    return True


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature="ob", out_signature="")
def SetReachable(self: Any, device: str, reachable: bool) -> None:
    """Out of range (False): an open connection drops and Connect fails until back in range (True)."""
    obj = mockobject.objects[device]
    obj.reachable = bool(reachable)
    if not reachable and obj.props[DEVICE_IFACE]["Connected"]:
        _drop(obj)


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature="o", out_signature="b")
def IsNotifying(self: Any, char: str) -> bool:
    return bool(mockobject.objects[char].props[GATT_CHAR_IFACE]["Notifying"])


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature="o", out_signature="b")
def IsConnected(self: Any, device: str) -> bool:
    obj = mockobject.objects.get(device)
    return bool(obj is not None and obj.props[DEVICE_IFACE]["Connected"])


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature="s", out_signature="")
def RemoveTree(self: Any, root: str) -> None:
    """Remove ``root`` and every object below it, deepest first, announcing each removal."""
    paths = sorted((p for p in mockobject.objects if p == root or p.startswith(root + "/")), key=len, reverse=True)
    for path in paths:
        interfaces = [i for i in mockobject.objects[path].props if not i.startswith("org.freedesktop")]
        self.RemoveObject(path)
        _emit_removed(path, interfaces or [DEVICE_IFACE])


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature="", out_signature="as")
def ListAdapters(self: Any) -> list[str]:
    return [p for p, o in mockobject.objects.items() if ADAPTER_IFACE in o.props]
