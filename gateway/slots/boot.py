"""The in-process half of the boot guard, run by ``fbgw run`` before anything else starts (the unit's
``ExecStartPre`` ran the same check already when the box runs under systemd; it is counted once)."""

from __future__ import annotations

import os
from pathlib import Path

from gateway.slots import guard


def boot_check(state_dir: Path, root: Path, max_boots: int) -> bool:
    """True if this start rolled back (the caller exits for systemd to start the previous slot)."""
    return guard.check(state_dir, root, max_boots, os.environ.get("INVOCATION_ID")) == "rolled_back"
