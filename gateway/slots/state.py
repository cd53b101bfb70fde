"""``update.json`` in the state directory: the one update in flight, so the boot after the switch knows it is on
trial, counts its boots (a crash loop rolls back), and the boot after a rollback reports it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from core.atomic import write_atomic

FILE = "update.json"
Phase = Literal["trial", "committed", "rolled_back"]


@dataclass(slots=True)
class UpdateState:
    command: str
    from_slot: str
    to_slot: str
    from_version: str
    to_version: str
    phase: Phase = "trial"
    #: Starts of the new version while on trial (the crash-loop counter).
    boots: int = 0
    reason: str = ""
    #: The outcome event went out (``gateway.updated`` / ``gateway.update_failed``).
    reported: bool = False


def load(state_dir: Path) -> UpdateState | None:
    """The state file, or None if there is none or it is unreadable (then there is nothing to confirm)."""
    try:
        raw = json.loads((state_dir / FILE).read_text())
        return UpdateState(**raw)
    except (OSError, ValueError, TypeError):
        return None


def save(state_dir: Path, st: UpdateState) -> None:
    write_atomic(state_dir / FILE, json.dumps(asdict(st), sort_keys=True).encode())
