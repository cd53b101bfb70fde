"""Trying pushed connection settings (broker, credentials, certificates) without ever getting stranded.

The uplink is switched to the new settings and given a deadline to connect. If it does not, the gateway goes
back to the settings that were working, by itself, and the caller reports why (the last connection error).
Nothing is persisted before a trial succeeds, so a power cut during a trial comes back on the old settings.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from gateway.config import UplinkSection
from gateway.uplink import Uplink

log = logging.getLogger(__name__)

_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class TrialResult:
    ok: bool
    error: str = ""
    seconds: float = 0.0


async def _wait_connected(uplink: Uplink, connects_before: int, deadline_s: float) -> bool:
    """True once the uplink has made a new connection (after ``connects_before``) and is online."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if uplink.stats.connects > connects_before and uplink.connected:
            return True
        await asyncio.sleep(_POLL_S)
    return False


async def try_connection(uplink: Uplink, new: UplinkSection, deadline_s: float) -> TrialResult:
    """Switch ``uplink`` to ``new``; keep it if it connects within ``deadline_s``, else switch back.

    Returns whether the new settings are now in use, and if not, the error seen while trying them.
    """
    old = uplink.settings
    started = time.monotonic()
    before = uplink.stats.connects
    log.info("remote: trying pushed connection settings (%s) for up to %.0f s", new.broker, deadline_s)
    # A connect attempt in progress is not interrupted by a reconnect request: bound it by the deadline, so
    # the way back to the old settings starts on time.
    uplink.reconnect_now(new.model_copy(update={"connect_timeout_s": min(new.connect_timeout_s, deadline_s)}))
    if await _wait_connected(uplink, before, deadline_s):
        return TrialResult(True, seconds=time.monotonic() - started)
    error = uplink.stats.last_error or ""
    if not error or "reconnect requested" in error:  # the old session's end, not the new attempt's failure
        error = f"no connection to {new.broker} within {deadline_s:g} s"
    log.warning("remote: pushed connection settings failed (%s); returning to %s", error, old.broker)
    uplink.reconnect_now(old)
    # Reconnecting with the old settings happens in the background; the result does not depend on it.
    return TrialResult(False, error=error, seconds=time.monotonic() - started)


async def wait_online(uplink: Uplink, timeout_s: float) -> bool:
    """Wait (bounded) until the uplink is online, e.g. before publishing a report after a rollback."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if uplink.connected:
            return True
        await asyncio.sleep(_POLL_S)
    return uplink.connected
