"""One connection to the system bus for talking to ModemManager, on dbus-fast (the D-Bus library bleak uses).

Low-level messages rather than introspected proxies: ModemManager's objects come and go (a modem unplugged, an
SMS deleted) and a proxy built from introspection would outlive them. Signals from ModemManager, and its name
changing owner (the daemon restarting), reach one handler.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from drivers.modem import mm

_MATCHES = (
    f"type='signal',sender='{mm.BUS_NAME}'",
    f"type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='{mm.BUS_NAME}'",
)


class MMError(Exception):
    """A D-Bus call failed: ``name`` is the D-Bus error name (``org.freedesktop.ModemManager1.Error....``),
    ``timeout`` when no reply came in time, ``disconnected`` when the bus went away."""

    def __init__(self, name: str, text: str = "") -> None:
        super().__init__(f"{name}: {text}" if text else name)
        self.name = name
        self.text = text

    @property
    def short(self) -> str:
        """``org.freedesktop.ModemManager1.Error.MessageError.NetworkTimeout`` -> ``MessageError.NetworkTimeout``."""
        return ".".join(self.name.split(".")[-2:]) if "." in self.name else self.name


class ModemGone(Exception):
    """The modem (or ModemManager, or the bus) went away while an operation was waiting on it."""


async def race[T](op: Awaitable[T], gone: asyncio.Event) -> T:
    """Await ``op`` unless ``gone`` is set first (the modem vanished): then cancel it and raise :class:`ModemGone`."""
    if gone.is_set():
        if asyncio.iscoroutine(op):
            op.close()
        raise ModemGone
    task = asyncio.ensure_future(op)
    lost = asyncio.ensure_future(gone.wait())
    try:
        await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        lost.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, MMError):
        await task
    raise ModemGone


def unwrap(value: Any) -> Any:
    """Plain Python values from dbus-fast's Variants, however deeply nested."""
    if isinstance(value, Variant):
        return unwrap(value.value)
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


class Link:
    """A connected bus. ``on_signal`` gets every signal ModemManager emits and its NameOwnerChanged.

    Args:
        address: a D-Bus address, or "" for the system bus (``DBUS_SYSTEM_BUS_ADDRESS`` or the default socket).
        on_signal: called on the event loop for each signal; must not block.
        call_timeout_s: default reply timeout of :meth:`call`.
    """

    def __init__(self, address: str, on_signal: Callable[[Message], None], call_timeout_s: float = 10.0) -> None:
        self.address = address
        self._on_signal = on_signal
        self.call_timeout_s = call_timeout_s
        self._bus: MessageBus | None = None

    async def connect(self) -> None:
        """Connect and subscribe; raises ``OSError``/``MMError`` when the bus cannot be reached."""
        bus = MessageBus(bus_address=self.address or None, bus_type=BusType.SYSTEM)
        try:
            await asyncio.wait_for(bus.connect(), self.call_timeout_s)
        except TimeoutError as exc:
            bus.disconnect()
            raise MMError("timeout", "connecting to the system bus") from exc
        self._bus = bus
        bus.add_message_handler(self._handle)
        for rule in _MATCHES:
            await self.call(
                "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s", [rule], "org.freedesktop.DBus"
            )

    def _handle(self, msg: Message) -> None:
        if msg.message_type == MessageType.SIGNAL:
            self._on_signal(msg)

    @property
    def connected(self) -> bool:
        return self._bus is not None and self._bus.connected

    async def wait_closed(self) -> None:
        """Return when the bus connection is lost (or was closed)."""
        if self._bus is not None:
            await self._bus.wait_for_disconnect()

    def close(self) -> None:
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None

    async def call(
        self,
        path: str,
        interface: str,
        member: str,
        signature: str = "",
        body: Sequence[Any] = (),
        destination: str = mm.BUS_NAME,
        timeout_s: float | None = None,
    ) -> list[Any]:
        """Call a method; returns the reply's body (unwrapped). Raises :class:`MMError`."""
        bus = self._bus
        if bus is None or not bus.connected:
            raise MMError("disconnected", "no bus connection")
        msg = Message(
            destination=destination,
            path=path,
            interface=interface,
            member=member,
            signature=signature,
            body=list(body),
        )
        try:
            reply = await asyncio.wait_for(bus.call(msg), timeout_s or self.call_timeout_s)
        except TimeoutError as exc:
            raise MMError("timeout", f"{member} got no reply") from exc
        except (EOFError, ConnectionError) as exc:
            raise MMError("disconnected", str(exc)) from exc
        if reply is None:
            raise MMError("disconnected", f"{member}: no reply")
        if reply.message_type == MessageType.ERROR:
            text = str(reply.body[0]) if reply.body else ""
            raise MMError(reply.error_name or "error", text[:200])
        return [unwrap(v) for v in reply.body]

    async def get_all(self, path: str, interface: str) -> dict[str, Any]:
        """Every property of one interface of one object."""
        (props,) = await self.call(path, mm.PROPERTIES, "GetAll", "s", [interface])
        return dict(props)

    async def get(self, path: str, interface: str, name: str) -> Any:
        (value,) = await self.call(path, mm.PROPERTIES, "Get", "ss", [interface, name])
        return value

    async def managed_objects(self) -> dict[str, dict[str, dict[str, Any]]]:
        """ModemManager's modems: path -> interface -> properties."""
        (objects,) = await self.call(mm.ROOT, mm.OBJECT_MANAGER, "GetManagedObjects")
        return {str(path): ifaces for path, ifaces in objects.items()}
