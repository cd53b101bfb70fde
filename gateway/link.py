"""Small helpers over the uplink shared by the services (alarms, config sync, commands): subscribe, publish."""

from __future__ import annotations

import asyncio
import logging

import aiomqtt

from gateway.uplink import MessageHandler, Uplink, UplinkUnavailable

log = logging.getLogger(__name__)


async def subscribe(uplink: Uplink, topic: str, handler: MessageHandler) -> None:
    """Register ``handler`` for every future connection; if already connected, return once the broker has
    confirmed the subscription, so a service that has started also hears the platform."""
    uplink.subscribe(topic, handler)
    await uplink.subscriptions_settled()


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
