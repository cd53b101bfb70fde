"""Configure a freshly interviewed device: IAS Zone enrolment and battery/occupancy reporting.

IAS enrolment (ZCL 8.2.2.2.3, "trip-to-pair"): bind the IAS Zone cluster to the coordinator, write the
coordinator's IEEE address as the CIE address, read the zone type, then send a Zone Enroll Response with the
zone id. Devices that ask on their own (Zone Enroll Request) are answered by the driver at any time.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import zigpy.device
import zigpy.exceptions
import zigpy.types as t
from zigpy.zcl.clusters.security import IasZone

from drivers.zigbee.clusters import BATTERY_PERCENT, IAS_ZONE, OCCUPANCY, POWER_CFG

log = logging.getLogger(__name__)

RADIO_ERRORS = (TimeoutError, zigpy.exceptions.ZigbeeException, asyncio.TimeoutError)


#: IAS zone ids the CIE hands out; 0xFF is what a zone reports before it is enrolled.
ZONE_IDS = range(0xFF)


class EnrollError(Exception):
    """The device did not accept a step that it needs to work (the message says which)."""


def free_zone_id(used: set[int]) -> int:
    """The lowest zone id not in ``used``; :class:`EnrollError` once all of them are taken.

    The limit is the IAS CIE's (one octet per zone), so it is a pairing failure the technician must see.
    """
    for zone_id in ZONE_IDS:
        if zone_id not in used:
            return zone_id
    raise EnrollError(f"no free IAS zone id: all {len(ZONE_IDS)} are in use; remove a device and pair again")


@dataclass
class Profile:
    """What enrolment learned about a device."""

    endpoint: int
    zone_type: int | None = None
    zone_status: int | None = None
    has_battery: bool = False
    has_occupancy: bool = False
    warnings: list[str] = field(default_factory=list)


def _find(zdev: zigpy.device.Device, cluster_id: int) -> tuple[int, Any] | None:
    for ep_id, ep in zdev.endpoints.items():
        if ep_id != 0 and cluster_id in getattr(ep, "in_clusters", {}):
            return ep_id, ep.in_clusters[cluster_id]
    return None


async def send_enroll_response(cluster: Any, zone_id: int) -> None:
    await cluster.enroll_response(enroll_response_code=IasZone.EnrollResponse.Success, zone_id=zone_id)


async def configure(zdev: zigpy.device.Device, cie: t.EUI64, zone_id: int, step_timeout_s: float = 30.0) -> Profile:
    """Enrol ``zdev`` with the coordinator ``cie`` as zone ``zone_id``; raises :class:`EnrollError`."""
    endpoints = [ep for ep in zdev.endpoints if ep != 0]
    if not endpoints:
        raise EnrollError("device has no application endpoint")
    ias = _find(zdev, IAS_ZONE)
    power = _find(zdev, POWER_CFG)
    occupancy = _find(zdev, OCCUPANCY)
    profile = Profile(endpoint=(ias or occupancy or (endpoints[0], None))[0])

    async def step(what: str, coro: Any, *, required: bool) -> Any:
        try:
            async with asyncio.timeout(step_timeout_s):
                return await coro
        except RADIO_ERRORS as exc:
            if required:
                why = "no answer (timed out)" if isinstance(exc, TimeoutError) else f"{type(exc).__name__} {exc}"
                raise EnrollError(f"{what} failed: {why.rstrip()}") from exc
            profile.warnings.append(f"{what}: {type(exc).__name__}")
            log.info("zigbee: %s: %s failed (%s)", zdev.ieee, what, exc)
            return None

    if ias is not None:
        cluster = ias[1]
        await step("bind IAS zone", cluster.bind(), required=False)
        await step("write CIE address", cluster.write_attributes({0x0010: cie}), required=True)
        found = await step("read zone type", cluster.read_attributes([0x0001, 0x0002]), required=True)
        success = found[0] if found else {}
        if 0x0001 not in success:
            raise EnrollError("device did not report its zone type")
        profile.zone_type = int(success[0x0001])
        profile.zone_status = int(success[0x0002]) if 0x0002 in success else None
        await step("enroll response", send_enroll_response(cluster, zone_id), required=True)
    if power is not None:
        profile.has_battery = True
        cluster = power[1]
        await step("bind power configuration", cluster.bind(), required=False)
        await step("battery reporting", cluster.configure_reporting(BATTERY_PERCENT, 3600, 21600, 2), required=False)
    if occupancy is not None:
        profile.has_occupancy = True
        cluster = occupancy[1]
        await step("bind occupancy", cluster.bind(), required=False)
        await step("occupancy reporting", cluster.configure_reporting(0x0000, 0, 600, 1), required=False)
    if ias is None and occupancy is None:
        raise EnrollError("device has neither an IAS Zone nor an Occupancy Sensing cluster")
    return profile
