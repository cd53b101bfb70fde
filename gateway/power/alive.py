"""The "last alive" record: written every minute and at a clean stop, read at start to report downtime.

``<state>/last_alive.json``: ``{"ts": wall ms, "boot": boot id, "clean": bool}``. A start on a new boot id
after an unclean record means the box lost power (or crashed) at about ``ts``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from core.atomic import write_atomic

log = logging.getLogger(__name__)

FILE = "last_alive.json"


@dataclass(frozen=True, slots=True)
class Alive:
    ts: int
    boot: str
    clean: bool


def write(state_dir: Path, alive: Alive) -> None:
    """Blocking (a small atomic write): call it in a thread. A card that refuses the write is logged, never
    raised: the downtime after the next power cut is then measured from an older record, nothing worse."""
    body = json.dumps({"ts": alive.ts, "boot": alive.boot, "clean": alive.clean}).encode()
    try:
        write_atomic(state_dir / FILE, body)
    except OSError as exc:
        log.warning("power: %s not written: %s", FILE, exc)


def read(state_dir: Path) -> Alive | None:
    """The last record, or None (first start, or unreadable: then nothing can be said about downtime)."""
    try:
        doc = json.loads((state_dir / FILE).read_text())
        return Alive(int(doc["ts"]), str(doc["boot"]), bool(doc["clean"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
