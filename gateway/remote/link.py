"""Small helpers over the uplink shared by config sync and commands."""

from __future__ import annotations

import asyncio
import logging

import aiomqtt

from gateway.uplink import MessageHandler, Uplink, UplinkUnavailable

log = logging.getLogger(__name__)


async def subscribe(uplink: Uplink, topic: str, handler: MessageHandler) -> None:
    """Register ``handler`` for every future connection, and subscribe at once if already connected.

    ``Uplink.subscribe`` takes effect at the next connection; services start after the uplink may already be
    online, and must not wait for a reconnect to hear the platform.
    """
    uplink.subscribe(topic, handler)
    # Stopgap until Uplink.subscribe subscribes a live session itself.
    client = getattr(uplink, "_client", None)
    if client is not None and uplink.connected:
        try:
            await client.subscribe(topic, qos=1)
        except aiomqtt.MqttError as exc:  # the next connection subscribes anyway
            log.warning("remote: subscribing to %s failed for now: %s", topic, exc)


async def publish(uplink: Uplink, topic: str, payload: bytes, *, retain: bool = False) -> bool:
    """Publish QoS 1; False (and logged) when offline or the broker does not acknowledge in time."""
    try:
        await uplink.publish(topic, payload, qos=1, retain=retain)
    except (UplinkUnavailable, aiomqtt.MqttError) as exc:
        log.info("remote: %s not published now (%s); will be sent on reconnect", topic, exc)
        return False
    return True


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Cancel a worker task and wait until it has ended.

    The cancellation is repeated until the task is done: Python 3.11's ``asyncio.wait_for`` (used inside
    the MQTT client) can swallow a cancellation that arrives just as the awaited operation completes.
    """
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.2)
