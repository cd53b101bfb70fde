"""The platform side of a scenario: what arrived on the rig's broker and when, and what the platform sends.

Arrival times are the subscriber's ``time.monotonic()`` when the message came in, so "stimulus at the edge
-> event at the platform" is one clock on one machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiomqtt

from tests.support.collector import Collector

#: How long a scenario waits for one event before it fails.
EVENT_TIMEOUT_S = 30.0


def broker_address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 1883


async def publish(broker_url: str, topic: str, payload: dict[str, Any] | None, retain: bool = False) -> None:
    """Publish as the platform does (QoS 1); ``None`` publishes an empty message (clears a retained one)."""
    host, port = broker_address(broker_url)
    body = b"" if payload is None else json.dumps(payload).encode()
    async with aiomqtt.Client(host, port) as client:
        await client.publish(topic, body, qos=1, retain=retain)


Match = Callable[[dict[str, Any]], bool]


def data_is(key: str, value: Any) -> Match:
    """Matches events whose ``data[key]`` is ``value`` (e.g. the alarm an ``alarm.resolved`` is about)."""
    return lambda ev: bool(ev["data"].get(key) == value)


def arrival(
    col: Collector,
    since: float,
    kind: str,
    device_id: str | None = None,
    trace: str | None = None,
    where: Match | None = None,
) -> tuple[float, dict[str, Any]] | None:
    """The first event of ``kind`` (from that device, with that trace, matching ``where``) that arrived at
    or after ``since``."""
    for t, _, ev in col.arrivals:
        if t < since or ev["kind"] != kind:
            continue
        if device_id is not None and (ev.get("device") or {}).get("id") != device_id:
            continue
        if trace is not None and ev.get("trace") != trace:
            continue
        if where is not None and not where(ev):
            continue
        return t, ev
    return None


async def wait_event(
    col: Collector,
    since: float,
    kind: str,
    device_id: str | None = None,
    trace: str | None = None,
    where: Match | None = None,
    timeout: float = EVENT_TIMEOUT_S,
) -> tuple[float, dict[str, Any]]:
    """Wait for :func:`arrival`; returns (arrival time, event). Raises TimeoutError naming what was awaited."""
    try:
        await col.wait_for(lambda c: arrival(c, since, kind, device_id, trace, where) is not None, timeout=timeout)
    except TimeoutError as exc:
        meanwhile = [
            ev["kind"]
            for t, _, ev in col.arrivals
            if t >= since and (device_id is None or (ev.get("device") or {}).get("id") == device_id)
        ]
        seen = f"; arrived meanwhile: {', '.join(meanwhile[-8:])}" if meanwhile else ""
        raise TimeoutError(f"no {kind} from {device_id or 'the gateway'} within {timeout} s{seen}") from exc
    found = arrival(col, since, kind, device_id, trace, where)
    assert found is not None
    return found


async def retained(broker_url: str, topic: str, timeout: float = 5.0) -> tuple[bytes, bool] | None:
    """What a new subscriber gets on ``topic`` at once: (payload, retain flag), or None."""
    host, port = broker_address(broker_url)
    async with aiomqtt.Client(host, port) as client:
        await client.subscribe(topic, qos=1)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                async for msg in client.messages:
                    payload = msg.payload if isinstance(msg.payload, bytes) else str(msg.payload).encode()
                    return payload, msg.retain
    return None


class Platform:
    """The county platform as the rig plays it: a subscriber plus the messages the platform sends."""

    def __init__(self, broker_url: str, gateway_id: str, collector: Collector) -> None:
        self.broker_url = broker_url
        self.gateway_id = gateway_id
        self.col = collector

    def topic(self, suffix: str) -> str:
        return f"fbgw/v1/{self.gateway_id}/{suffix}"

    async def send(self, suffix: str, payload: dict[str, Any]) -> None:
        await publish(self.broker_url, self.topic(suffix), payload)

    async def send_retained(self, suffix: str, payload: dict[str, Any] | None) -> None:
        await publish(self.broker_url, self.topic(suffix), payload, retain=True)

    async def command(self, cmd: str, args: dict[str, Any], timeout: float = EVENT_TIMEOUT_S) -> dict[str, Any]:
        """Send a platform command on ``cmd`` and wait for its ``cmd/result``; returns the result document."""
        command_id = f"hil-{uuid.uuid4().hex[:12]}"
        expires = int(time.time() * 1000) + 60_000
        await self.send(
            "cmd", {"id": command_id, "gateway": self.gateway_id, "cmd": cmd, "args": args, "expires_at": expires}
        )

        def answer() -> dict[str, Any] | None:
            for topic, payload, _ in self.col.messages:
                if topic == self.topic("cmd/result") and payload:
                    doc = json.loads(payload)
                    if doc.get("id") == command_id:
                        return dict(doc)
            return None

        await self.col.wait_for(lambda c: answer() is not None, timeout=timeout)
        result = answer()
        assert result is not None
        return result

    async def ack(self, alarm_id: str, action: str = "ack") -> None:
        """The platform acknowledges (or closes) an alarm on ``alarms/ack``."""
        await self.send("alarms/ack", {"alarm": alarm_id, "action": action, "by": "hil"})

    async def close_alarm(self, alarm_id: str, since: float, timeout: float = EVENT_TIMEOUT_S) -> None:
        """Close an alarm and wait for its ``alarm.resolved`` (so the next press opens a new one)."""
        await self.ack(alarm_id, "close")
        await self.wait(since, "alarm.resolved", where=data_is("alarm", alarm_id), timeout=timeout)

    async def wait(
        self,
        since: float,
        kind: str,
        device_id: str | None = None,
        trace: str | None = None,
        where: Match | None = None,
        timeout: float = EVENT_TIMEOUT_S,
    ) -> tuple[float, dict[str, Any]]:
        return await wait_event(self.col, since, kind, device_id, trace, where, timeout)
