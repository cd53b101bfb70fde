"""Rule state that must be exactly as durable as the events reporting it.

Whether a reading is a change (door closed after open, smoke after clear) depends on the value remembered from
the last one. If that memory lagged the events on disk, a crash just after the commit of "door open" would
bring the gateway back believing the door closed, and the next real "closed" would be taken for a repeat: an
accepted change with no event. So each change is queued here, the intake takes the queue and hands it to the
outbox with the reading's events, and the outbox writes it in the same transaction (no fsync of its own).

Entries carry a version that only grows (continued from the stored maximum after a restart): the outbox writes
an alarm's transaction ahead of queued ordinary events, so two changes of one key may be committed out of
order; the older version never overwrites the newer one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

#: One committed entry: key, value as JSON text, version.
StateEntry = tuple[str, str, int]


class ExactState:
    """Changes not yet handed to the outbox, newest value per key."""

    def __init__(self) -> None:
        self.version = 0
        self._pending: dict[str, tuple[Any, int]] = {}

    def changed(self, key: str, value: Any) -> None:
        self.version += 1
        self._pending[key] = (value, self.version)

    def take(self) -> list[StateEntry]:
        """The queued changes, encoded for the outbox; the queue is empty afterwards."""
        if not self._pending:
            return []
        out = [(k, json.dumps(v, separators=(",", ":")), ver) for k, (v, ver) in self._pending.items()]
        self._pending.clear()
        return out

    def give_back(self, entries: Iterable[StateEntry]) -> None:
        """Entries whose commit failed: queued again unless a newer change of the key is queued already."""
        for key, raw, ver in entries:
            queued = self._pending.get(key)
            if queued is None or queued[1] < ver:
                self._pending[key] = (json.loads(raw), ver)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def load(self, entries: Iterable[StateEntry]) -> dict[str, Any]:
        """Committed entries as values by key; later changes get versions above the stored ones."""
        values: dict[str, Any] = {}
        for key, raw, ver in entries:
            try:
                values[key] = json.loads(raw)
            except ValueError:
                continue
            self.version = max(self.version, ver)
        return values
