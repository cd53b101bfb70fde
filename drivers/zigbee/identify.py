"""Identify (ZCL 3.5, cluster 0x0003): ask a device to blink or beep so the technician can find it.

The command goes to the Identify *server* cluster of one of the device's endpoints; a device that has only an
Identify client (it identifies others, as remotes do) or none at all cannot be asked.
"""

from __future__ import annotations

import asyncio
from typing import Any

import zigpy.device
import zigpy.exceptions
from zigpy.zcl import foundation

IDENTIFY = 0x0003
MAX_IDENTIFY_S = 0xFFFF  # identify_time is a uint16; 0 would mean "stop identifying"

RADIO_ERRORS = (TimeoutError, zigpy.exceptions.ZigbeeException)


class IdentifyError(RuntimeError):
    """The device was asked to identify and did not confirm (not reached, or it refused)."""


def identify_cluster(zdev: zigpy.device.Device, preferred_endpoint: int | None = None) -> Any | None:
    """The device's Identify server cluster, on ``preferred_endpoint`` when that one has it; else None."""
    endpoints = [ep_id for ep_id in zdev.endpoints if ep_id != 0]
    if preferred_endpoint in endpoints:
        endpoints.remove(preferred_endpoint)
        endpoints.insert(0, preferred_endpoint)
    for ep_id in endpoints:
        cluster = getattr(zdev.endpoints[ep_id], "in_clusters", {}).get(IDENTIFY)
        if cluster is not None:
            return cluster
    return None


async def identify(cluster: Any, seconds: int, timeout_s: float) -> bool:
    """Send Identify(identify_time=``seconds``) and wait for the device's default response.

    Returns False when the device answers that it does not support the command; raises
    :class:`IdentifyError` when it cannot be reached in ``timeout_s`` or answers with another error.
    """
    if not 1 <= seconds <= MAX_IDENTIFY_S:
        raise ValueError(f"identify time must be 1..{MAX_IDENTIFY_S} s, not {seconds}")
    try:
        async with asyncio.timeout(timeout_s):
            rsp = await cluster.identify(identify_time=seconds)
    except RADIO_ERRORS as exc:
        raise IdentifyError(f"no confirmation: {type(exc).__name__} {exc}".rstrip()) from exc
    status = getattr(rsp, "status", None)
    if status in (foundation.Status.UNSUP_CLUSTER_COMMAND, foundation.Status.UNSUP_GENERAL_COMMAND):
        return False
    if status != foundation.Status.SUCCESS:
        raise IdentifyError(f"device answered {status!r}")
    return True
