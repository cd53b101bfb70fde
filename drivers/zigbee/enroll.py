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

from drivers.zigbee import listen, mapping
from drivers.zigbee.mapping import BATTERY_PERCENT, IAS_ZONE, OCCUPANCY, POWER_CFG

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
    kind: mapping.Profile
    zone_type: int | None = None
    zone_status: int | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def has_battery(self) -> bool:
        return "battery" in self.kind.capabilities


def _find(zdev: zigpy.device.Device, cluster_id: int) -> tuple[int, Any] | None:
    for ep_id, ep in zdev.endpoints.items():
        if ep_id != 0 and cluster_id in getattr(ep, "in_clusters", {}):
            return ep_id, ep.in_clusters[cluster_id]
    return None


def _is_local(cluster: Any) -> bool:
    """A cluster a quirk emulates on the host (Tuya data points, Xiaomi reports): nothing to send to the device."""
    from zhaquirks import LocalDataCluster

    return isinstance(cluster, LocalDataCluster)


def _simple_type(zdev: zigpy.device.Device, endpoint: int) -> int | None:
    ep = zdev.endpoints.get(endpoint)
    device_type = getattr(ep, "device_type", None)
    return int(device_type) if device_type is not None else None


async def send_enroll_response(cluster: Any, zone_id: int) -> None:
    await cluster.enroll_response(enroll_response_code=IasZone.EnrollResponse.Success, zone_id=zone_id)


async def configure(zdev: zigpy.device.Device, cie: t.EUI64, zone_id: int, step_timeout_s: float = 30.0) -> Profile:
    """Enrol ``zdev`` with the coordinator ``cie`` as zone ``zone_id``; raises :class:`EnrollError`.

    The device's (quirked) clusters decide what it is, through :mod:`.mapping`; a device with nothing the table
    knows is refused with a reason that names what it lacks.
    """
    endpoints = [ep for ep in zdev.endpoints if ep != 0]
    if not endpoints:
        raise EnrollError("device has no application endpoint")
    clusters = listen.clusters_of(zdev)
    ias = _find(zdev, IAS_ZONE)
    power = _find(zdev, POWER_CFG)
    occupancy = _find(zdev, OCCUPANCY)
    mains = bool(zdev.node_desc is not None and zdev.node_desc.is_mains_powered)
    endpoint = (ias or occupancy or (endpoints[0], None))[0]
    if ias is None and mapping.profile(clusters, mains=mains, simple_type=_simple_type(zdev, endpoint)) is None:
        raise EnrollError(mapping.missing_reason(clusters, None, str(zdev.manufacturer), str(zdev.model)))
    warnings: list[str] = []

    async def step(what: str, coro: Any, *, required: bool) -> Any:
        try:
            async with asyncio.timeout(step_timeout_s):
                return await coro
        except RADIO_ERRORS as exc:
            if required:
                why = "no answer (timed out)" if isinstance(exc, TimeoutError) else f"{type(exc).__name__} {exc}"
                raise EnrollError(f"{what} failed: {why.rstrip()}") from exc
            warnings.append(f"{what}: {type(exc).__name__}")
            log.info("zigbee: %s: %s failed (%s)", zdev.ieee, what, exc)
            return None

    zone_type: int | None = None
    zone_status: int | None = None
    if ias is not None and _is_local(ias[1]):
        # The quirk emulates the IAS Zone from data points: nothing to enrol on the device.
        raw_type = ias[1].get(mapping.ZONE_TYPE)
        zone_type = int(raw_type) if raw_type is not None else None
    elif ias is not None:
        cluster = ias[1]
        await step("bind IAS zone", cluster.bind(), required=False)
        await step("write CIE address", cluster.write_attributes({0x0010: cie}), required=True)
        found = await step("read zone type", cluster.read_attributes([0x0001, 0x0002]), required=True)
        success = found[0] if found else {}
        if 0x0001 not in success:
            raise EnrollError("device did not report its zone type")
        zone_type = int(success[0x0001])
        zone_status = int(success[0x0002]) if 0x0002 in success else None
        await step("enroll response", send_enroll_response(cluster, zone_id), required=True)
    kind = mapping.profile(clusters, zone_type=zone_type, mains=mains, simple_type=_simple_type(zdev, endpoint))
    if kind is None:
        raise EnrollError(mapping.missing_reason(clusters, zone_type, str(zdev.manufacturer), str(zdev.model)))
    if power is not None and not _is_local(power[1]):
        cluster = power[1]
        await step("bind power configuration", cluster.bind(), required=False)
        await step("battery reporting", cluster.configure_reporting(BATTERY_PERCENT, 3600, 21600, 2), required=False)
    if occupancy is not None and not _is_local(occupancy[1]):
        cluster = occupancy[1]
        await step("bind occupancy", cluster.bind(), required=False)
        await step("occupancy reporting", cluster.configure_reporting(0x0000, 0, 600, 1), required=False)
    return Profile(endpoint, kind, zone_type, zone_status, warnings)
