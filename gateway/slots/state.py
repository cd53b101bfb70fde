"""``update.json`` in the state directory: the journal of the one update in flight. Each step is written
atomically before the next one starts, so a kill at any point leaves a phase the next start can act on
(:mod:`gateway.slots.guard`): downloading -> verified -> installed -> switched -> restarting -> health_checking ->
committed, or rolling_back -> rolled_back, or failed (refused or interrupted before the switch)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from core.atomic import write_atomic
from gateway.slots.guard import kill_point

FILE = "update.json"
Phase = Literal[
    "downloading",
    "verified",
    "installed",
    "switched",
    "restarting",
    "health_checking",
    "committed",
    "rolling_back",
    "rolled_back",
    "failed",
]
#: Phases after which nothing is in flight.
DONE: tuple[Phase, ...] = ("committed", "rolled_back", "failed")


@dataclass(slots=True)
class UpdateState:
    command: str
    from_slot: str
    to_slot: str
    from_version: str
    to_version: str
    phase: Phase = "downloading"
    #: Starts of the new version while on trial (the crash-loop counter).
    boots: int = 0
    reason: str = ""
    #: The outcome event went out (``gateway.updated`` / ``gateway.update_failed``).
    reported: bool = False
    #: systemd's INVOCATION_ID of the start last counted (the boot guard and ``fbgw run`` count it once).
    counted: str | None = None


def load(state_dir: Path) -> UpdateState | None:
    """The state file, or None if there is none or it is unreadable (then there is nothing to confirm)."""
    try:
        raw = json.loads((state_dir / FILE).read_text())
        return UpdateState(**raw)
    except (OSError, ValueError, TypeError):
        return None


def save(state_dir: Path, st: UpdateState) -> None:
    write_atomic(state_dir / FILE, json.dumps(asdict(st), sort_keys=True).encode())
    kill_point(st.phase)
