"""The outbox's counters, shared by the store (rows on disk) and the held queue (rows in memory)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class OutboxStats:
    """What the outbox holds (stored rows and, in degraded mode, held ones) and what it has done."""

    rows: int = 0
    bytes: int = 0
    alarms: int = 0
    oldest_ms: int | None = None
    committed: int = 0
    deleted: int = 0
    commits: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None
