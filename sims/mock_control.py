"""A client of a mocked system service on the private system bus (:mod:`sims.dbus_system`): the mocked BlueZ's
and ModemManager's control interfaces, which tests, the demo and the control ports drive."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus


class ControlError(RuntimeError):
    """The mock refused a request (no such adapter, device or modem, bad arguments...)."""


class MockControl:
    """Connected to the private bus at ``address`` inside ``async with``; :meth:`_call` makes one method call."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._bus: MessageBus | None = None

    async def __aenter__(self) -> Self:
        self._bus = await MessageBus(bus_address=self.address, bus_type=BusType.SYSTEM).connect()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None

    async def _call_at(
        self,
        destination: str,
        path: str,
        interface: str,
        member: str,
        signature: str = "",
        body: list[Any] | None = None,
    ) -> Any:
        """The call's first return value (None when it returns nothing); :class:`ControlError` naming the D-Bus
        error when the mock refuses it."""
        if self._bus is None:
            raise ControlError(f"{type(self).__name__} used outside 'async with'")
        reply = await self._bus.call(
            Message(
                destination=destination,
                path=path,
                interface=interface,
                member=member,
                signature=signature,
                body=body or [],
            )
        )
        if reply is None or reply.message_type == MessageType.ERROR:
            detail = reply.body if reply is not None else "no reply"
            raise ControlError(f"{member}: {reply.error_name if reply else ''} {detail}")
        return reply.body[0] if reply.body else None
