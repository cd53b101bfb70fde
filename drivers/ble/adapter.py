"""Is the Bluetooth adapter there? Watched on a D-Bus connection of our own.

bleak reports adverts but not the loss of the radio: an unplugged adapter (InterfacesRemoved), a
powered-off one, a crashed or restarted bluetoothd (org.bluez loses its owner) or a dead system bus
simply make adverts stop. :class:`AdapterWatch` turns those signals into "lost, because ..." so the
driver can raise ``gateway.radio_lost`` and start retrying.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError

log = logging.getLogger(__name__)

ADAPTER_IFACE = "org.bluez.Adapter1"

#: Everything that can go wrong talking to a missing bus / BlueZ.
DBUS_ERRORS: tuple[type[BaseException], ...] = (
    DBusError,
    OSError,
    EOFError,
    ConnectionError,
    asyncio.TimeoutError,
)


class AdapterUnavailable(RuntimeError):
    """The adapter is not usable now; the message says why."""


class AdapterWatch:
    """Watches one adapter; :meth:`probe` checks it now, :meth:`wait_lost` waits until it goes.

    Args:
        adapter: adapter name, e.g. ``hci0``.
        call_timeout_s: timeout of each D-Bus call.
    """

    def __init__(self, adapter: str, *, call_timeout_s: float = 5.0) -> None:
        self.path = f"/org/bluez/{adapter}"
        self.call_timeout_s = call_timeout_s
        self._bus: MessageBus | None = None
        self._lost = asyncio.Event()
        self._reason = ""
        self._disconnect_task: asyncio.Task[None] | None = None

    async def probe(self) -> None:
        """Raise :class:`AdapterUnavailable` unless BlueZ is up and the adapter exists and is powered.

        Clears any earlier loss: :meth:`wait_lost` then waits for the next one.
        """
        self._lost.clear()
        bus = await self._connect()
        try:
            reply = await asyncio.wait_for(
                bus.call(
                    Message(
                        destination="org.bluez",
                        path="/",
                        interface="org.freedesktop.DBus.ObjectManager",
                        member="GetManagedObjects",
                    )
                ),
                self.call_timeout_s,
            )
        except DBUS_ERRORS as exc:
            raise AdapterUnavailable(f"BlueZ not reachable: {exc!r}") from exc
        if reply is None or reply.message_type == MessageType.ERROR:
            raise AdapterUnavailable(f"BlueZ not running ({reply.error_name if reply else 'no reply'})")
        adapter = reply.body[0].get(self.path, {}).get(ADAPTER_IFACE)
        if adapter is None:
            raise AdapterUnavailable(f"adapter {self.path.rsplit('/', 1)[-1]} not present")
        powered = adapter.get("Powered")
        if powered is not None and not powered.value:
            raise AdapterUnavailable("adapter powered off")

    async def wait_lost(self) -> str:
        """Wait until the adapter is lost; returns the reason."""
        await self._lost.wait()
        return self._reason

    async def close(self) -> None:
        if self._disconnect_task is not None:
            self._disconnect_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._disconnect_task
            self._disconnect_task = None
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None

    # -- internals --------------------------------------------------------------------------------

    async def _connect(self) -> MessageBus:
        if self._bus is not None and self._bus.connected:
            return self._bus
        await self.close()
        try:
            bus = await asyncio.wait_for(MessageBus(bus_type=BusType.SYSTEM).connect(), self.call_timeout_s)
        except DBUS_ERRORS as exc:
            raise AdapterUnavailable(f"system bus not reachable: {exc!r}") from exc
        bus.add_message_handler(self._on_message)
        for rule in (
            "type='signal',interface='org.freedesktop.DBus.ObjectManager',member='InterfacesRemoved'",
            f"type='signal',interface='org.freedesktop.DBus.Properties',path='{self.path}'",
            "type='signal',interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='org.bluez'",
        ):
            await bus.call(
                Message(
                    destination="org.freedesktop.DBus",
                    path="/org/freedesktop/DBus",
                    interface="org.freedesktop.DBus",
                    member="AddMatch",
                    signature="s",
                    body=[rule],
                )
            )
        self._bus = bus
        self._disconnect_task = asyncio.create_task(self._watch_disconnect(bus), name="ble-adapter-bus")
        return bus

    async def _watch_disconnect(self, bus: MessageBus) -> None:
        with contextlib.suppress(*DBUS_ERRORS):
            await bus.wait_for_disconnect()
        self._set_lost("D-Bus system bus connection lost")

    def _set_lost(self, reason: str) -> None:
        if not self._lost.is_set():
            self._reason = reason
            self._lost.set()

    def _on_message(self, msg: Message) -> bool | None:
        if msg.message_type != MessageType.SIGNAL:
            return None
        body: list[Any] = msg.body
        if msg.member == "InterfacesRemoved" and body and body[0] == self.path and ADAPTER_IFACE in body[1]:
            self._set_lost(f"adapter {self.path.rsplit('/', 1)[-1]} removed")
        elif msg.member == "NameOwnerChanged" and len(body) == 3 and body[0] == "org.bluez" and not body[2]:
            self._set_lost("BlueZ (bluetoothd) stopped")
        elif (
            msg.member == "PropertiesChanged"
            and msg.path == self.path
            and body
            and body[0] == ADAPTER_IFACE
            and "Powered" in body[1]
            and not body[1]["Powered"].value
        ):
            self._set_lost("adapter powered off")
        return None
