"""GATT profiles, one module each, found by name or by the service UUID a device advertises."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from drivers.ble.profiles.base import GattClient, GattProfile, ProfileDecodeError, uuid16
from drivers.ble.profiles.heart_rate import HeartRateProfile
from drivers.ble.profiles.mattress import MattressProfile

#: Every shipped profile, by name. A vendor's profile is one module plus one line here.
PROFILES: Mapping[str, type[GattProfile]] = {p.name: p for p in (HeartRateProfile, MattressProfile)}


def profile_for_uuids(uuids: Iterable[str]) -> type[GattProfile] | None:
    """The profile whose service a device advertises, if any."""
    wanted = {u.lower() for u in uuids}
    for profile in PROFILES.values():
        if profile.service_uuid in wanted:
            return profile
    return None


def profile_for_type(device_type: str) -> type[GattProfile] | None:
    for profile in PROFILES.values():
        if profile.device_type == device_type:
            return profile
    return None


__all__ = [
    "PROFILES",
    "GattClient",
    "GattProfile",
    "ProfileDecodeError",
    "profile_for_type",
    "profile_for_uuids",
    "uuid16",
]
