"""A platform-side subscriber that collects every event a gateway publishes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import aiomqtt
import jsonschema

from tests.support.schema import event_validator


class Collector:
    """Subscribes to ``fbgw/v1/<gateway>/#`` and keeps events and other messages, with arrival times.

    With a ``client_id`` the subscription is a persistent session: across a broker restart (Mosquitto keeps
    sessions on disk) nothing published while this subscriber was reconnecting is missed, as for a real
    platform. The session is discarded on exit.
    """

    def __init__(self, host: str, port: int, gateway: str = "+", client_id: str | None = None) -> None:
        self.host, self.port, self.gateway = host, port, gateway
        self.client_id = client_id
        self.events: list[dict[str, Any]] = []
        self.arrivals: list[tuple[float, str, dict[str, Any]]] = []  # (monotonic, topic, event)
        self.messages: list[tuple[str, bytes, bool]] = []  # non-event messages: (topic, payload, retain)
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._changed = asyncio.Event()
        self._validator = event_validator()
        self.schema_errors: list[str] = []

    async def __aenter__(self) -> Collector:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self.client_id is not None:  # leave no queue behind on the broker for a subscriber that is gone
            with contextlib.suppress(aiomqtt.MqttError, OSError):
                async with aiomqtt.Client(self.host, self.port, identifier=self.client_id, clean_session=True):
                    pass
        # Every event any test sees on the broker must match the published JSON Schema.
        assert not self.schema_errors, "events violating config/schema/event.schema.json:\n" + "\n".join(
            self.schema_errors[:10]
        )

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    self.host, self.port, identifier=self.client_id, clean_session=self.client_id is None
                ) as client:
                    await client.subscribe(f"fbgw/v1/{self.gateway}/#", qos=1)
                    self._ready.set()
                    async for msg in client.messages:
                        topic = str(msg.topic)
                        payload = bytes(msg.payload) if isinstance(msg.payload, bytes | bytearray) else b""
                        now = time.monotonic()
                        if topic.endswith("/alarms") or topic.endswith("/events"):
                            for ev in json.loads(payload):
                                try:
                                    self._validator.validate(ev)
                                except jsonschema.ValidationError as err:
                                    self.schema_errors.append(f"{ev.get('kind')}: {err.message}")
                                self.events.append(ev)
                                self.arrivals.append((now, topic, ev))
                        else:
                            self.messages.append((topic, payload, msg.retain))
                        self._changed.set()
            except (aiomqtt.MqttError, OSError):  # broker away: keep trying, like a real platform would
                await asyncio.sleep(0.2)

    async def wait_for(self, predicate: Callable[[Collector], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout}s ({len(self.events)} events seen)")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))

    def traces(self) -> set[str]:
        return {ev["trace"] for ev in self.events if ev.get("trace")}

    def kinds(self) -> list[str]:
        return [ev["kind"] for ev in self.events]
