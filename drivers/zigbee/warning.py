"""IAS WD (ZCL 8.4, cluster 0x0502): sound or stop a siren, so the elder hears the alarm at home.

Start Warning carries a bitmap (warning mode in bits 4-7, strobe in bit 2, siren level in bits 0-1), a duration
in seconds, a strobe duty cycle and a strobe level. Mode 0 ("stop") with duration 0 silences it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import zigpy.exceptions
from zigpy.zcl import foundation

from drivers.zigbee.mapping import IAS_WD

DEFAULT_S = 60
MAX_S = 0xFFFF
MODE_STOP, MODE_EMERGENCY = 0, 3
STROBE = 1 << 2
LEVEL_HIGH = 2

RADIO_ERRORS = (TimeoutError, zigpy.exceptions.ZigbeeException)


class WarningError(RuntimeError):
    """The siren did not confirm the command (not reached, or it refused)."""


def find_wd(zdev: Any) -> Any | None:
    """The device's IAS WD server cluster, or None."""
    for ep_id, ep in zdev.endpoints.items():
        if ep_id != 0 and IAS_WD in getattr(ep, "in_clusters", {}):
            return ep.in_clusters[IAS_WD]
    return None


def warning_bits(seconds: int) -> int:
    """The Start Warning bitmap: emergency mode, strobe on, high level; all zero to stop."""
    return 0 if seconds == 0 else (MODE_EMERGENCY << 4) | STROBE | LEVEL_HIGH


async def sound(cluster: Any, seconds: int, timeout_s: float) -> None:
    """Start Warning for ``seconds`` (0 stops the siren) and wait for the siren's default response."""
    if not 0 <= seconds <= MAX_S:
        raise ValueError(f"siren time must be 0..{MAX_S} s, not {seconds}")
    try:
        async with asyncio.timeout(timeout_s):
            rsp = await cluster.start_warning(warning_bits(seconds), seconds, 50 if seconds else 0, 1 if seconds else 0)
    except RADIO_ERRORS as exc:
        raise WarningError(f"no confirmation: {type(exc).__name__} {exc}".rstrip()) from exc
    status = getattr(rsp, "status", foundation.Status.SUCCESS)
    if status != foundation.Status.SUCCESS:
        raise WarningError(f"siren answered {status!r}")
