"""A ThingsBoard-side test subscriber: takes every gateway API message and checks it has the documented shape.

The shapes are those of ThingsBoard's gateway MQTT API reference
(https://thingsboard.io/docs/reference/gateway-mqtt-api/, and the device API for the gateway's own telemetry):
connect ``{"device", "type"?}``, disconnect ``{"device"}``, telemetry ``{name: [{"ts", "values"}]}``,
attributes ``{name: {key: value}}``, own telemetry ``[{"ts", "values"}]``. Anything else (or any fbgw topic,
which a ThingsBoard broker would refuse) is recorded as a violation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import aiomqtt
import jsonschema

_TS_VALUES = {
    "type": "object",
    "additionalProperties": False,
    "required": ["ts", "values"],
    "properties": {"ts": {"type": "integer", "minimum": 0}, "values": {"type": "object", "minProperties": 1}},
}
SHAPES: dict[str, dict[str, Any]] = {
    "v1/gateway/connect": {
        "type": "object",
        "additionalProperties": False,
        "required": ["device"],
        "properties": {"device": {"type": "string", "minLength": 1}, "type": {"type": "string"}},
    },
    "v1/gateway/disconnect": {
        "type": "object",
        "additionalProperties": False,
        "required": ["device"],
        "properties": {"device": {"type": "string", "minLength": 1}},
    },
    "v1/gateway/telemetry": {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": {"type": "array", "minItems": 1, "items": _TS_VALUES},
    },
    "v1/gateway/attributes": {"type": "object", "minProperties": 1, "additionalProperties": {"type": "object"}},
    "v1/devices/me/telemetry": {"type": "array", "minItems": 1, "items": _TS_VALUES},
}


class ThingsBoardPlatform:
    """Subscribes to everything on the broker; a persistent session with ``client_id`` (like the Collector)."""

    def __init__(self, host: str, port: int, client_id: str | None = None) -> None:
        self.host, self.port, self.client_id = host, port, client_id
        self.messages: list[tuple[str, Any]] = []  # (topic, decoded payload) in arrival order
        self.violations: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._changed = asyncio.Event()

    async def __aenter__(self) -> ThingsBoardPlatform:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self.client_id is not None:
            with contextlib.suppress(aiomqtt.MqttError, OSError):
                async with aiomqtt.Client(self.host, self.port, identifier=self.client_id, clean_session=True):
                    pass

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    self.host, self.port, identifier=self.client_id, clean_session=self.client_id is None
                ) as client:
                    await client.subscribe("#", qos=1)
                    self._ready.set()
                    async for msg in client.messages:
                        self._take(str(msg.topic), bytes(msg.payload) if isinstance(msg.payload, bytes) else b"")
            except (aiomqtt.MqttError, OSError):
                await asyncio.sleep(0.2)

    def _take(self, topic: str, payload: bytes) -> None:
        if topic == "v1/gateway/rpc" or topic.startswith("v1/devices/me/rpc/"):  # requests and replies
            self.messages.append((topic, json.loads(payload)))
            self._changed.set()
            return
        shape = SHAPES.get(topic)
        if shape is None:
            self.violations.append(f"unexpected topic {topic}")
            return
        try:
            body = json.loads(payload)
            jsonschema.validate(body, shape)
        except (ValueError, jsonschema.ValidationError) as exc:
            self.violations.append(f"{topic}: {exc}")
            return
        self.messages.append((topic, body))
        self._changed.set()

    # ------------------------------------------------------------------ views

    def points(self) -> list[tuple[str, dict[str, Any]]]:
        """Every telemetry point as (device name, {"ts", "values"}), the gateway's own as name ``""``."""
        out: list[tuple[str, dict[str, Any]]] = []
        for topic, body in self.messages:
            if topic == "v1/gateway/telemetry":
                out += [(name, p) for name, pts in body.items() for p in pts]
            elif topic == "v1/devices/me/telemetry":
                out += [("", p) for p in body]
        return out

    def traces(self) -> set[str]:
        return {str(p["values"]["trace"]) for _, p in self.points() if p["values"].get("trace")}

    def of(self, topic: str) -> list[Any]:
        return [body for t, body in self.messages if t == topic]

    async def wait_for(self, predicate: Callable[[ThingsBoardPlatform], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout}s ({len(self.messages)} messages seen)")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))
