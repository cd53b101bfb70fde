"""The slots on disk: which one runs, which one an update may overwrite, and the atomic switch between them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gateway.slots import guard

SLOTS = ("a", "b")
#: Where the package's venv sits inside the .deb and which path its scripts name.
PACKAGED_SLOT = "/opt/fbgw/slots/a"


@dataclass(frozen=True, slots=True)
class Layout:
    root: Path

    @property
    def current_link(self) -> Path:
        return self.root / "current"

    def slot(self, name: str) -> Path:
        if name not in SLOTS:
            raise ValueError(f"no slot {name!r}")
        return self.root / "slots" / name

    def current(self) -> str | None:
        """The slot ``current`` points at; None when there is no slot layout (a checkout, a plain venv)."""
        try:
            target = os.readlink(self.current_link)
        except OSError:
            return None
        name = Path(target).name
        return name if name in SLOTS else None

    def inactive(self) -> str:
        cur = self.current()
        if cur is None:
            raise FileNotFoundError(f"{self.current_link}: no A/B slots here (not installed from the package)")
        return SLOTS[1 - SLOTS.index(cur)]

    def switch(self, name: str) -> None:
        """Point ``current`` at ``name`` atomically (a new symlink renamed over the old one), then fsync the
        directory, so a power cut leaves either the old or the new link."""
        self.slot(name)  # validates
        guard.switch(self.root, name)
