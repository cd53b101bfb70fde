"""Storage monitor: tells the platform when the state disk gets full or read-only, and when it heals.

An SD card fills up (logs, a runaway backlog) or the kernel remounts it read-only after an I/O error.
The outbox copes (alarms from its reserve, or held in memory while nothing can be written; the rest dropped
with accounting); this monitor makes the condition visible: ``gateway.storage_degraded`` when free space falls
under ``storage_min_free_bytes``, the filesystem is read-only, or the outbox cannot write (full, read-only,
I/O errors); ``gateway.storage_restored`` once the outbox writes again and free space is back above
``storage_recover_free_bytes`` (hysteresis, so a disk hovering at the limit does not flap). A reason that
appears while already degraded is reported again (a disk low on space that then goes read-only). The outbox
wakes the monitor when it goes degraded or recovers, so neither waits for the next check. A report that cannot
be stored yet (the disk is full, after all) is retried on every check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from core.events import EventDraft, Priority
from gateway.health.system import DiskState, disk_state

if TYPE_CHECKING:
    from gateway.config import Config
    from gateway.context import ServiceContext

log = logging.getLogger(__name__)

DEGRADED = "gateway.storage_degraded"
RESTORED = "gateway.storage_restored"
#: Outbox error texts (SQLite's) that mean the storage, not the data, is the problem.
_STORAGE_ERRORS = {
    "database or disk is full": "disk_full",
    "readonly database": "read_only",
    "read-only file system": "read_only",
    "no space left": "disk_full",
    "disk i/o error": "io_error",
}


def outbox_storage_error(last_error: str | None) -> str | None:
    """The storage reason behind the outbox's last failed commit, if that is what it was."""
    text = (last_error or "").lower()
    return next((reason for needle, reason in _STORAGE_ERRORS.items() if needle in text), None)


class StorageMonitor:
    """Periodic check of the state directory's filesystem; one event per change of state."""

    name = "storage"

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.settings = self.ctx.config().health
        self.degraded = False  # as last reported to the platform
        self.reasons: list[str] = []
        self.last: DiskState | None = None
        self._since: float | None = None
        self._unreported: list[str] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = self.ctx.supervise(self._run(), name="storage-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def reconfigure(self, config: Config) -> None:
        self.settings = config.health

    def assess(self, disk: DiskState | None, outbox_error: str | None, degraded_now: bool) -> list[str]:
        """Reasons storage is degraded (empty: healthy), with hysteresis on free space."""
        s = self.settings
        reasons = []
        if disk is None:
            reasons.append("unreadable")
        else:
            if disk.read_only:
                reasons.append("read_only")
            limit = s.storage_recover_free_bytes if degraded_now else s.storage_min_free_bytes
            if disk.free_bytes < limit:
                reasons.append("low_space")
        storage_error = outbox_storage_error(outbox_error)
        if storage_error and storage_error not in reasons:
            reasons.append(storage_error)
        return reasons

    async def check(self) -> None:
        """One round: measure, and report a change of state (retrying a report the outbox refused)."""
        try:
            disk: DiskState | None = await asyncio.to_thread(disk_state, self.ctx.state_dir)
        except OSError as exc:
            log.error("storage: cannot stat %s: %s", self.ctx.state_dir, exc)
            disk = None
        self.last = disk
        if self.ctx.outbox.disk_full:
            self.ctx.outbox.recheck_space()
        reasons = self.assess(disk, self.ctx.outbox.stats.last_error, self.degraded)
        if self.ctx.outbox.disk_full and "disk_full" not in reasons:  # living on the reserve
            reasons.append("disk_full")
        fault = self.ctx.outbox.storage_fault  # alarms held in memory: the first thing to fix
        if fault is not None and fault not in reasons:
            reasons.append(fault)
        if reasons:
            # Reported again when a new reason appears: low space is one thing, a read-only card (alarms held
            # in memory only) is another the platform must hear about.
            if not self.degraded or not set(reasons) <= set(self.reasons):
                await self._report_degraded(reasons, disk)
            else:
                self.reasons = reasons
            return
        if self._unreported:  # a degraded spell ended before its report could be stored: tell it late
            await self._report_degraded(self._unreported, disk, late=True)
        if self.degraded:
            await self._report_restored(disk)

    def _data(self, reasons: list[str], disk: DiskState | None) -> dict[str, Any]:
        s = self.settings
        return {
            "reasons": reasons,
            "disk": disk.as_json() if disk else None,
            "min_free_bytes": s.storage_min_free_bytes,
            "recover_free_bytes": s.storage_recover_free_bytes,
            "outbox": self.ctx.outbox.depth(),
        }

    async def _emit(self, kind: str, data: dict[str, Any]) -> bool:
        try:
            await self.ctx.emit([EventDraft(kind, Priority.ALERT, None, data)])
        except RuntimeError as exc:  # OutboxError: no room for the report yet; next check tries again
            log.warning("storage: %s not stored yet: %s", kind, exc)
            return False
        return True

    async def _report_degraded(self, reasons: list[str], disk: DiskState | None, late: bool = False) -> None:
        if self._since is None:
            self._since = time.monotonic()
            free = f"{disk.free_bytes} bytes free of {disk.total_bytes}" if disk else "state dir unreadable"
            log.error("storage degraded (%s): %s", ", ".join(reasons), free)
        data = self._data(reasons, disk)
        if late:
            data["late"] = True  # reported after the fact: it was degraded, and is fine again by now
        if not await self._emit(DEGRADED, data):
            self._unreported = reasons
            return
        self._unreported = None
        self.degraded = True
        self.reasons = reasons

    async def _report_restored(self, disk: DiskState | None) -> None:
        data = self._data([], disk)
        data["was"] = self.reasons
        if self._since is not None:
            data["degraded_for_s"] = int(time.monotonic() - self._since)
        if not await self._emit(RESTORED, data):
            return
        log.warning("storage restored: %s bytes free", disk.free_bytes if disk else "?")
        self.degraded = False
        self._since = None
        self.reasons = []

    async def _run(self) -> None:
        while True:
            changed = self.ctx.outbox.storage_changed  # read each round: a corrupt outbox is replaced at boot
            changed.clear()
            await self.check()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), self.settings.storage_check_s)
