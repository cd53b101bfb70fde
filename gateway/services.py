"""Optional parts of the gateway (alarm lifecycle, feedback, heartbeat, remote config, discovery...).

Each is a :class:`Service`: built from the running gateway, started after the core (outbox, uplink, drivers)
and stopped before it, in reverse order. :func:`build_services` is the one list of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from gateway.app import Gateway
    from gateway.config import Config


@runtime_checkable
class Service(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@runtime_checkable
class Reconfigurable(Protocol):
    async def reconfigure(self, config: Config) -> None:
        """Switch to a new, already validated config without a restart."""


def build_services(gw: Gateway) -> list[Service]:
    """The services of a gateway, in start order."""
    services: list[Service] = []
    return services
