"""Uplink profiles: the wire formats the same outbox rows can be delivered in.

The uplink owns the queue semantics (store-and-forward, an alarm lane ahead of the backlog, ordering,
delete-on-acknowledge, reconnect with backoff); a profile owns only how a batch of rows looks on the wire and
what "acknowledged" means there:

- :mod:`~gateway.uplink_profiles.native`: fbgw's own topics (``fbgw/v1/{gateway}/alarms`` and ``/events``);
- :mod:`~gateway.uplink_profiles.thingsboard`: the ThingsBoard IoT Gateway MQTT API (``v1/gateway/...``);
- :mod:`~gateway.uplink_profiles.webhook`: HTTPS POST of JSON arrays, HMAC-SHA256 signed.

Chosen by ``[uplink] profile``; docs/platforms.md is the platform integrator's view.
"""

from __future__ import annotations

from gateway.config import UplinkSection
from gateway.uplink_profiles.base import Carrier, DeliveryFailed, DeliveryRefused, Directory, Profile
from gateway.uplink_profiles.native import NativeProfile
from gateway.uplink_profiles.thingsboard import ThingsBoardProfile
from gateway.uplink_profiles.webhook import WebhookProfile

__all__ = [
    "Carrier",
    "DeliveryFailed",
    "DeliveryRefused",
    "Directory",
    "Profile",
    "make_profile",
]


def make_profile(settings: UplinkSection, gateway_id: str, devices: Directory | None) -> Profile:
    """The profile ``settings`` name, ready for a session."""
    if settings.profile == "thingsboard":
        return ThingsBoardProfile(settings.thingsboard, gateway_id, devices)
    if settings.profile == "webhook":
        return WebhookProfile(settings.webhook, gateway_id)
    return NativeProfile(gateway_id)
