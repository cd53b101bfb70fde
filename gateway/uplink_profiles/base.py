"""What a profile is to the uplink: a carrier per session that delivers a batch or raises."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import aiomqtt

    from core.devices import Device
    from gateway.config import UplinkSection
    from gateway.outbox import Row


class DeliveryFailed(Exception):
    """The platform did not take a batch now (no answer, a 5xx, 429...): end the session, retry with backoff."""


class DeliveryRefused(DeliveryFailed):
    """The platform refused for good (an HTTP 4xx other than 408/429): reported in status and the heartbeat,
    retried at the longest backoff (by the lane, which keeps its session), never dropped."""


class Directory(Protocol):
    """The device registry as a profile reads it (names and types of the home's devices)."""

    def get(self, device_id: str) -> Device | None: ...


class Carrier(Protocol):
    """One session's way of getting a batch to the platform."""

    async def deliver(self, rows: Sequence[Row], *, alarms: bool) -> None:
        """Return once the platform has acknowledged every row (then they are deleted); raise if it has not."""
        ...


class Profile(Protocol):
    name: str
    #: The session is an MQTT connection (status, subscriptions and the side channels ride on it).
    mqtt: bool
    #: One request in flight per lane (HTTP: parallel requests could arrive out of order).
    sequential: bool

    def carries(self, topic: str) -> bool:
        """Whether publishing / subscribing ``topic`` outside the outbox belongs on this profile's connection."""
        ...

    def mqtt_carrier(self, client: aiomqtt.Client, settings: UplinkSection) -> Carrier:
        """The carrier over an open MQTT connection (profiles with ``mqtt``)."""
        ...

    def open(self, settings: UplinkSection) -> contextlib.AbstractAsyncContextManager[Carrier]:
        """A session of its own (profiles without ``mqtt``): entering it checks the platform answers."""
        ...
