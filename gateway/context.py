"""``ServiceContext``: everything a service may use from the running gateway, and nothing more.

Modelled on :class:`drivers.base.DriverContext`. A service is handed one of these (and the ports it needs, see
:mod:`gateway.ports`) by :mod:`gateway.services`; it never holds the gateway nor another service. The pipeline
objects it exposes (registry, intake, rules, outbox, uplink) are used through their public methods only.
A test builds one from fakes (``tests/support/context.py``) to run a service with no broker and no gateway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from core.signal import Signal

if TYPE_CHECKING:
    from core.clock import Clock
    from core.events import Event, EventDraft
    from drivers.base import Driver, DriverHealth, PairingUpdate
    from gateway.config import Config
    from gateway.intake import Intake
    from gateway.outbox import Outbox, Row
    from gateway.registry import DeviceRegistry
    from gateway.rules import RuleEngine
    from gateway.uplink import Uplink

#: Commit gateway-made events (heartbeat, lifecycle steps); returns them stamped, once on disk.
Emit = Callable[[list["EventDraft"]], Awaitable[list["Event"]]]


class Supervise(Protocol):
    """Run a long-lived task under the gateway's TaskGroup (a crash is seen, not lost)."""

    def __call__(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]: ...


def _set_event() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


@dataclass(frozen=True, slots=True)
class ServiceContext:
    """What a service may use. ``config()`` is the config in force now (it changes with remote config)."""

    gateway_id: str
    state_dir: Path
    clock: Clock
    config: Callable[[], Config]
    registry: DeviceRegistry
    intake: Intake
    rules: RuleEngine
    outbox: Outbox
    uplink: Uplink
    #: The running drivers by transport name (read-only view).
    drivers: Mapping[str, Driver]
    driver_health: Callable[[], list[DriverHealth]]
    emit: Emit
    supervise: Supervise
    #: Events accepted by the outbox (committed, or held in memory on a failing card). Runs in the writer's path.
    committed: Signal[Sequence[Event]]
    #: Rows the broker acknowledged (PUBACK).
    delivered: Signal[Sequence[Row]]
    #: Live pairing progress from every driver.
    pairing: Signal[PairingUpdate]
    #: A snapshot for pages, the CLI and the heartbeat.
    status: Callable[[], dict[str, Any]]
    #: The name of each driver once it has started: drivers start after the services, in the background.
    driver_started: Signal[str] = field(default_factory=lambda: Signal("driver_started"))
    #: Set once every enabled driver has started or failed to: until then the device list may be incomplete.
    drivers_loaded: asyncio.Event = field(default_factory=_set_event)
    #: Set once everything has started (drivers and every service); until then the gateway is starting.
    started: asyncio.Event = field(default_factory=_set_event)
