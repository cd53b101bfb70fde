"""Keep zigpy's network backup (Open Coordinator Backup JSON) in the state directory.

zigpy also stores backups in its database; the JSON file is the copy a technician can take away and the
one ``zigpy-znp``'s ``network_restore`` tool reads to restore a replaced stick. It holds the network key,
so it is written 0600.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import zigpy.application
import zigpy.backups
import zigpy.exceptions

from core.atomic import write_atomic

log = logging.getLogger(__name__)


class BackupWriter:
    """zigpy backup-manager listener that mirrors the newest backup to ``path``."""

    def __init__(self, path: Path, spawn: Callable[[Coroutine[Any, Any, Any]], None]) -> None:
        self.path = path
        self._spawn = spawn
        self.written = 0

    def network_backup_created(self, backup: zigpy.backups.NetworkBackup) -> None:
        self._spawn(self._write(backup))

    async def _write(self, backup: zigpy.backups.NetworkBackup) -> None:
        data = json.dumps(backup.as_open_coordinator_json(), indent=2, sort_keys=True).encode()
        await asyncio.to_thread(write_atomic, self.path, data, 0o600)
        self.written += 1
        log.info("zigbee: network backup written to %s", self.path)

    async def refresh(self, app: zigpy.application.ControllerApplication) -> None:
        """Take a fresh backup (after a device joined, so the backup knows it)."""
        try:
            await app.backups.create_backup(load_devices=True)
        except (TimeoutError, zigpy.exceptions.ZigbeeException, RuntimeError, KeyError) as exc:
            log.warning("zigbee: backup failed: %s", exc)
