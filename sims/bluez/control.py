"""Async remote control of the mocked BlueZ: adverts, GATT objects, notifications, adapter loss.

Talks D-Bus (dbus-fast, the library bleak itself uses) to the ``org.bluez.Mock`` methods of
:mod:`sims.bluez.bluez_le` and bluez5. One :class:`BluezControl` per event loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sims.mock_control import ControlError as ControlError
from sims.mock_control import MockControl

#: BTHome v2 service data UUID (16-bit 0xFCD2).
BTHOME_UUID = "0000fcd2-0000-1000-8000-00805f9b34fb"

MOCK_IFACE = "org.bluez.Mock"


def device_path(address: str, adapter: str = "hci0") -> str:
    """BlueZ's object path for ``address`` on ``adapter``."""
    return f"/org/bluez/{adapter}/dev_{address.upper().replace(':', '_')}"


class BluezControl(MockControl):
    """Drive the mock from tests, the demo, or the control port.

    Args:
        address: the private bus address (``MockBluezProcesses.address``).
        adapter: default adapter name for adverts.
    """

    def __init__(self, address: str, adapter: str = "hci0") -> None:
        super().__init__(address)
        self.adapter = adapter

    async def _call(
        self,
        member: str,
        signature: str = "",
        body: list[Any] | None = None,
        interface: str = MOCK_IFACE,
        path: str = "/",
    ) -> Any:
        return await self._call_at("org.bluez", path, interface, member, signature, body)

    # -- adverts ----------------------------------------------------------------------------------

    async def advertise(
        self,
        address: str,
        *,
        name: str = "",
        rssi: int = -60,
        tx_power: int | None = None,
        service_data: Mapping[str, bytes] | None = None,
        manufacturer_data: Mapping[int, bytes] | None = None,
        uuids: Iterable[str] = (),
        adapter: str | None = None,
    ) -> str:
        """One advert from ``address``; returns the device's object path."""
        body = [
            adapter or self.adapter,
            address,
            name,
            rssi,
            -127 if tx_power is None else tx_power,
            {k: bytes(v) for k, v in (service_data or {}).items()},
            {int(k): bytes(v) for k, v in (manufacturer_data or {}).items()},
            list(uuids),
        ]
        return str(await self._call("AdvertiseLE", "sssnna{say}a{qay}as", body))

    async def advertise_bthome(
        self,
        address: str,
        service_data: bytes,
        *,
        name: str = "",
        rssi: int = -60,
        adapter: str | None = None,
    ) -> str:
        """A BTHome v2 advert: ``service_data`` is what follows the 0xFCD2 UUID (device info byte first)."""
        return await self.advertise(
            address, name=name, rssi=rssi, service_data={BTHOME_UUID: service_data}, adapter=adapter
        )

    async def remove_device(self, address: str, adapter: str | None = None) -> None:
        """BlueZ forgets the device (and its GATT objects)."""
        await self._call("RemoveTree", "s", [device_path(address, adapter or self.adapter)])

    # -- GATT -------------------------------------------------------------------------------------

    async def add_gatt_service(self, device: str, handle: int, uuid: str) -> str:
        return str(await self._call("AddGattService", "oqs", [device, handle, uuid]))

    async def add_gatt_characteristic(
        self, service: str, handle: int, uuid: str, flags: Iterable[str], value: bytes = b""
    ) -> str:
        return str(
            await self._call("AddGattCharacteristic", "oqsasay", [service, handle, uuid, list(flags), bytes(value)])
        )

    async def notify(self, characteristic: str, value: bytes) -> bool:
        """Push a notification; False if no client has notifications enabled."""
        return bool(await self._call("NotifyCharacteristic", "oay", [characteristic, bytes(value)]))

    async def is_notifying(self, characteristic: str) -> bool:
        return bool(await self._call("IsNotifying", "o", [characteristic]))

    async def is_connected(self, device: str) -> bool:
        return bool(await self._call("IsConnected", "o", [device]))

    async def set_reachable(self, device: str, reachable: bool) -> None:
        """Out of range: open connection drops, Connect fails; back in range: Connect works again."""
        await self._call("SetReachable", "ob", [device, reachable])

    async def written(self, characteristic: str) -> bytes:
        """The characteristic's current value (what the last write left there)."""
        return bytes(
            await self._call("ReadValue", "a{sv}", [{}], interface="org.bluez.GattCharacteristic1", path=characteristic)
        )

    # -- adapters ---------------------------------------------------------------------------------

    async def adapters(self) -> list[str]:
        return [str(p) for p in await self._call("ListAdapters")]

    async def add_adapter(self, name: str = "hci0") -> str:
        return str(await self._call("AddAdapter", "ss", [name, "fbgw-mock"]))

    async def remove_adapter(self, name: str = "hci0") -> None:
        """The adapter is unplugged: it and its devices disappear (InterfacesRemoved for each)."""
        await self._call("RemoveTree", "s", [f"/org/bluez/{name}"])

    async def reset(self) -> None:
        """Back to a clean state: only adapter ``hci0``, no devices."""
        for path in await self.adapters():
            await self._call("RemoveTree", "s", [path])
        await self.add_adapter("hci0")
