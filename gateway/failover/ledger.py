"""What the second path has done for each open alarm, on disk, so a restart sends nothing twice and forgets nothing.

Before an SMS is handed to the modem its contact is marked ``sending``; after, ``sent`` or ``failed``. A restart
that finds ``sending`` asks the modem whether that SMS left (ModemManager keeps sent messages); if it cannot
tell, it sends again: a duplicate SMS is better than a lost alarm.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.atomic import write_atomic

log = logging.getLogger(__name__)

LEDGER_FILE = "second_path.json"
#: Resolved alarms kept (so a late reply finds nothing to acknowledge, rather than an older alarm).
KEEP_CLOSED = 20


@dataclass(slots=True)
class Case:
    """One alarm on the second path."""

    alarm: str
    kind: str
    device: str | None
    device_type: str
    transport: str
    room: str
    raised_ms: int
    synced: bool
    #: contact label -> "sending" | "sent" | "failed:<why>" (the alarm SMS)
    texted: dict[str, str] = field(default_factory=dict)
    #: contact label -> the same, for the "resolved" SMS
    resolved_texted: dict[str, str] = field(default_factory=dict)
    #: calls placed, in order: {"contact", "answered", "detail"}
    called: list[dict[str, Any]] = field(default_factory=list)
    delivered: bool = False
    acked: bool = False
    resolved: bool = False
    test: bool = False

    def texted_ok(self) -> list[str]:
        return [label for label, state in self.texted.items() if state == "sent"]


@dataclass(slots=True)
class Ledger:
    """Open cases by alarm id, the month's SMS count and each contact's recent sends (for rate limits)."""

    cases: dict[str, Case] = field(default_factory=dict)
    month: str = ""
    month_used: int = 0
    recent: dict[str, list[int]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "cases": {k: asdict(v) for k, v in self.cases.items()},
            "month": self.month,
            "month_used": self.month_used,
            "recent": self.recent,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Ledger:
        cases = {}
        for key, value in dict(raw.get("cases") or {}).items():
            known = {k: value[k] for k in Case.__dataclass_fields__ if k in value}
            cases[str(key)] = Case(**known)
        recent = {str(k): [int(t) for t in v] for k, v in dict(raw.get("recent") or {}).items()}
        return cls(cases, str(raw.get("month", "")), int(raw.get("month_used", 0)), recent)

    def prune(self) -> None:
        """Forget the oldest resolved cases beyond :data:`KEEP_CLOSED`."""
        closed = [k for k, c in self.cases.items() if c.resolved]
        for key in closed[: max(0, len(closed) - KEEP_CLOSED)]:
            del self.cases[key]


def load(path: Path) -> Ledger:
    """The ledger on disk; an unreadable one is logged and replaced by an empty one (never fatal)."""
    try:
        raw = json.loads(path.read_bytes())
        if not isinstance(raw, dict):
            raise ValueError("not an object")
        return Ledger.from_json(raw)
    except FileNotFoundError:
        return Ledger()
    except (OSError, ValueError, TypeError) as exc:
        log.error("second path: %s unreadable (%s); starting with an empty ledger", path.name, exc)
        return Ledger()


def save(path: Path, ledger: Ledger) -> None:
    """Write the ledger atomically (blocking: call it in a thread)."""
    write_atomic(path, json.dumps(ledger.as_json(), ensure_ascii=False, separators=(",", ":")).encode())
