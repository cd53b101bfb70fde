"""What remote config keeps in the state directory, each file replaced atomically.

``<state_dir>/remote/``:

- ``desired.json`` — the last applied document, byte for byte as received (signature included). Its rename is
  the commit point of an apply: a power cut before it leaves the old document, after it the new one, and the
  start-up path re-applies whichever is there, so the gateway never runs a mix.
- ``reported.json`` — the last report (so a restart republishes it and does not retry a refused document).
- ``commands.json`` — accepted command ids and the replay floor (:mod:`gateway.remote.replay`): duplicate and
  replay protection across restarts, also before the clock is synchronised.
- ``tls/`` — pushed certificates and keys, content-addressed, mode 0600.

Writes run in a worker thread; nothing here blocks the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from core import atomic

log = logging.getLogger(__name__)


class RemoteStore:
    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "remote"
        self.desired_path = self.dir / "desired.json"
        self.reported_path = self.dir / "reported.json"
        self.commands_path = self.dir / "commands.json"
        self.tls_dir = self.dir / "tls"

    # -------------------------------------------------------------- blocking primitives (run in a thread)

    @staticmethod
    def _read(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def _read_json(self, path: Path) -> dict[str, Any] | None:
        raw = self._read(path)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            log.error("remote: %s is unreadable (%s); ignored", path, exc)
            return None
        return data if isinstance(data, dict) else None

    # -------------------------------------------------------------- async API

    async def write(self, path: Path, data: bytes) -> None:
        """Replace ``path`` atomically (temp file, fsync, rename, fsync dir), mode 0600."""
        await asyncio.to_thread(atomic.write_atomic, path, data, 0o600)

    async def remove(self, path: Path) -> None:
        def unlink() -> None:
            path.unlink(missing_ok=True)

        await asyncio.to_thread(unlink)

    async def load_desired(self) -> bytes | None:
        return await asyncio.to_thread(self._read, self.desired_path)

    async def save_desired(self, payload: bytes) -> None:
        await self.write(self.desired_path, payload)

    async def load_report(self) -> dict[str, Any] | None:
        return await asyncio.to_thread(self._read_json, self.reported_path)

    async def save_report(self, report: dict[str, Any]) -> None:
        await self.write(self.reported_path, json.dumps(report, ensure_ascii=False, sort_keys=True).encode())

    async def load_commands(self) -> dict[str, Any]:
        return await asyncio.to_thread(self._read_json, self.commands_path) or {}

    async def save_commands(self, seen: dict[str, Any]) -> None:
        await self.write(self.commands_path, json.dumps(seen, sort_keys=True).encode())

    async def write_tls(self, files: dict[str, tuple[Path, bytes]]) -> None:
        """Write pushed PEM files that are not there yet (they are content-addressed)."""

        def write_missing() -> None:
            for path, data in files.values():
                if not path.exists() or path.read_bytes() != data:
                    atomic.write_atomic(path, data, 0o600)

        await asyncio.to_thread(write_missing)
