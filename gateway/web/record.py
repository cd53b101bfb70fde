"""The installation record: what a technician has done in this home, kept on disk until they start over.

Test marks, the uplink check, manual confirmations, the household and installer names and which devices were
named on the page survive the install window closing and the gateway restarting: a window that times out in
the middle of an installation must not cost the technician an hour of pressing buttons. Only "start a new
installation" (:meth:`InstallRecord.clear`) forgets them. Saved as one small JSON file, atomically, off the
event loop; a damaged file is logged and set aside, never fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.atomic import write_atomic
from gateway.web.testmode import TestRecord, TestTracker

log = logging.getLogger(__name__)

RECORD_FILE = Path("web") / "installation.json"
SAVE_DELAY_S = 0.2  # coalesce a burst of test presses into one write
VERSION = 1


@dataclass(slots=True)
class Confirmation:
    """An item no sensor can prove, confirmed by a person: what they saw (serial number, note) and who."""

    note: str
    by: str
    at: float


@dataclass(slots=True)
class Submission:
    event: str
    seq: int | None
    passed: bool
    at: float
    delivered_at: float | None = None


@dataclass(slots=True)
class InstallRecord:
    path: Path
    tests: TestTracker = field(default_factory=TestTracker)
    manual: dict[str, Confirmation] = field(default_factory=dict)
    household: str = ""
    installer: str = ""
    #: Devices the technician named on the page (a pairing card for them is done).
    named: set[str] = field(default_factory=set)
    started_at: float = field(default_factory=time.time)
    submitted: Submission | None = None
    _task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ persistence

    def as_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "started_at": self.started_at,
            "household": self.household,
            "installer": self.installer,
            "named": sorted(self.named),
            "manual": {k: asdict(c) for k, c in self.manual.items()},
            "tested": {k: r.as_json() for k, r in self.tests.tested.items()},
            "uplink_verified_at": self.tests.uplink_verified_at,
            "submitted": asdict(self.submitted) if self.submitted else None,
        }

    def load(self) -> None:
        """Read the record (blocking: call in a thread). A missing file is a fresh installation."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(raw, dict) or raw.get("version") != VERSION:
                raise ValueError("not an installation record")
            self.started_at = float(raw["started_at"])
            self.household = str(raw.get("household", ""))[:64]
            self.installer = str(raw.get("installer", ""))[:64]
            self.named = {str(x) for x in raw.get("named", [])}
            self.manual = {str(k): Confirmation(**v) for k, v in raw.get("manual", {}).items()}
            self.tests.reset()
            for dev, r in raw.get("tested", {}).items():
                self.tests.tested[str(dev)] = TestRecord(
                    event_id=str(r["event"]),
                    seq=r.get("seq"),
                    kind=str(r["kind"]),
                    device=str(dev),
                    at=float(r["at"]),
                    stamp_mono_ms=0,
                    to_outbox_ms=int(r["to_outbox_ms"]),
                    to_broker_ms=r.get("to_broker_ms"),
                    action=True,
                )
            up = raw.get("uplink_verified_at")
            self.tests.uplink_verified_at = float(up) if up is not None else None
            sub = raw.get("submitted")
            self.submitted = Submission(**sub) if sub else None
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.error("installation record %s unreadable (%s); starting a new one", self.path, str(exc)[:200])
            with contextlib.suppress(OSError):
                self.path.rename(self.path.with_suffix(".damaged"))

    def _write(self, data: bytes) -> None:
        write_atomic(self.path, data, mode=0o600)

    async def save(self) -> None:
        data = json.dumps(self.as_json(), ensure_ascii=False, indent=1).encode()
        try:
            await asyncio.to_thread(self._write, data)
        except OSError as exc:  # a read-only card: the record lives on in memory
            log.error("installation record not saved: %s", exc)

    def save_soon(self) -> None:
        """Schedule a save (coalesced); safe to call from listeners that must not block."""
        if self._task is not None and not self._task.done():
            return

        async def later() -> None:
            await asyncio.sleep(SAVE_DELAY_S)
            await self.save()

        self._task = asyncio.get_running_loop().create_task(later(), name="web-record-save")

    async def flush(self) -> None:
        if self._task is not None and not self._task.done():
            await self._task

    # ------------------------------------------------------------------ changes

    def clear(self) -> None:
        self.tests.reset()
        self.manual.clear()
        self.named.clear()
        self.household = self.installer = ""
        self.submitted = None
        self.started_at = time.time()
        self.save_soon()

    def forget_device(self, device_id: str) -> None:
        self.tests.tested.pop(device_id, None)
        self.named.discard(device_id)
        self.save_soon()
