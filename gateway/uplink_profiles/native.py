"""The ``fbgw`` profile: the native topics, one JSON array of stored bodies per MQTT message (unchanged bytes)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from gateway.outbox import Row, bodies_to_payload
from gateway.topics import Topics

if TYPE_CHECKING:
    import aiomqtt

    from gateway.config import UplinkSection
    from gateway.uplink_profiles.base import Carrier


class NativeCarrier:
    def __init__(self, client: aiomqtt.Client, topics: Topics, timeout: float) -> None:
        self.client, self.topics, self.timeout = client, topics, timeout

    async def deliver(self, rows: Sequence[Row], *, alarms: bool) -> None:
        # A missing PUBACK raises MqttError("Operation timed out"): the session ends and we reconnect.
        topic = self.topics.alarms if alarms else self.topics.events
        await self.client.publish(topic, bodies_to_payload(rows), qos=1, timeout=self.timeout)


class NativeProfile:
    name = "fbgw"
    mqtt = True
    sequential = False

    def __init__(self, gateway_id: str) -> None:
        self.topics = Topics(gateway_id)

    def carries(self, topic: str) -> bool:
        return True

    def mqtt_carrier(self, client: aiomqtt.Client, settings: UplinkSection) -> Carrier:
        return NativeCarrier(client, self.topics, settings.puback_timeout_s)

    @contextlib.asynccontextmanager
    async def open(self, settings: UplinkSection) -> AsyncIterator[Carrier]:
        raise NotImplementedError("the fbgw profile runs over MQTT")
        yield  # pragma: no cover
