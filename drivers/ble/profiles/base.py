"""The interface of a GATT profile: which service identifies it, what to subscribe to, how to decode.

A profile is stateless decoding plus two hooks; connection keeping, reconnects and availability are the
driver's job (:mod:`drivers.ble.link`), so adding a vendor's device is one small module.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, Protocol


class ProfileDecodeError(ValueError):
    """A notification that does not follow the profile's layout (counted and dropped)."""


class GattClient(Protocol):
    """The part of ``bleak.BleakClient`` a profile may use in :meth:`GattProfile.on_connect`."""

    async def write_gatt_char(self, char_specifier: str, data: bytes, response: bool | None = None) -> None: ...

    async def read_gatt_char(self, char_specifier: str) -> bytearray: ...


def uuid16(short: int) -> str:
    """The full 128-bit form of a Bluetooth SIG 16-bit UUID."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


class GattProfile(abc.ABC):
    """One GATT device family.

    Class attributes: ``name`` (stored in the device's ``params["profile"]``), ``device_type`` (the
    registry type it pairs as), ``service_uuid`` (seen in adverts and in the GATT table),
    ``notify_uuids`` (characteristics to subscribe to) and ``capabilities`` (what it can report).
    """

    name: ClassVar[str]
    device_type: ClassVar[str]
    service_uuid: ClassVar[str]
    notify_uuids: ClassVar[tuple[str, ...]]
    capabilities: ClassVar[tuple[str, ...]]

    async def on_connect(self, client: GattClient) -> None:  # noqa: B027 - optional hook
        """Called after connecting, before subscribing (e.g. write a start command)."""

    @abc.abstractmethod
    def decode(self, char_uuid: str, data: bytes) -> list[tuple[str, Any]]:
        """Turn one notification into ``(capability, value)`` pairs; raise :class:`ProfileDecodeError`."""
