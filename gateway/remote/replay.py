"""Which command ids the gateway has accepted, and the point in time before which no command can be fresh.

A command may run at most once. Two things make a replay impossible, even right after a reboot before NTP has
set the clock (the Pi has no RTC, so wall time may then be anything):

- every accepted id is remembered on disk, **before** it runs, and is forgotten only once it has provably
  expired (on a synchronised clock) or when memory is full;
- a **floor** is kept with the ids: no command with ``expires_at`` below it is accepted, whatever the clock
  says. Forgetting an id raises the floor above that id's ``expires_at``, and while the clock is synchronised
  the floor follows ``now − skew``, so a forgotten id (or any command that had expired when the clock was last
  trusted) is refused as ``expired`` even when the clock cannot judge expiry.

Real time never runs backwards, so on an unsynchronised clock a command with ``expires_at`` at or above the floor
and an id not in memory is one this gateway has never run; it is accepted. The rules are in docs/remote.md §2.1.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.remote.inbound import Rejection

#: Version of the ``commands.json`` layout (the first layout was a bare ``{id: record}`` object).
FORMAT = 2


class CommandMemory:
    """Remembered command ids (``ids``: id -> record) and the floor; plain data, saved by the caller."""

    def __init__(self, limit: int, skew_ms: int, max_ttl_ms: int) -> None:
        self.limit = limit
        self.skew_ms = skew_ms
        self.max_ttl_ms = max_ttl_ms
        self.ids: dict[str, dict[str, Any]] = {}
        #: Commands with ``expires_at`` below this are refused (UTC ms; 0 = no trusted time known yet).
        self.floor_ms = 0

    # ------------------------------------------------------------------ on disk

    def load(self, raw: dict[str, Any] | None) -> None:
        """Take what :meth:`as_json` saved (or the first layout, ``{id: record}``)."""
        raw = raw or {}
        if isinstance(raw.get("floor_ms"), int) and isinstance(raw.get("ids"), dict):
            ids, floor = raw["ids"], raw["floor_ms"]
        else:
            ids = raw
            # The first layout forgot expired ids without keeping a floor. They had expired by the last time an
            # id was remembered, so that time (less the skew) is a floor that refuses them and nothing newer.
            stamps = [rec["at"] for rec in ids.values() if isinstance(rec, dict) and _is_int(rec.get("at"))]
            floor = max(stamps) - self.skew_ms if stamps else 0
        self.ids = {k: v for k, v in ids.items() if isinstance(v, dict) and _is_int(v.get("exp"))}
        self.floor_ms = max(0, floor)

    def as_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "floor_ms": self.floor_ms, "ids": self.ids}

    # ------------------------------------------------------------------ checks

    def check(self, cmd_id: str, expires_at: int, now_ms: int | None) -> None:
        """Refuse a command that may be a replay or is not fresh. ``now_ms``: None while the clock is unsynced.

        Raises :class:`Rejection` (``expired``, ``expiry_too_far``, ``duplicate``); ``duplicate`` carries the
        first outcome as JSON in its detail.
        """
        if expires_at < self.floor_ms:
            raise Rejection(
                "expired",
                "expires before a time this gateway has already passed (or before a command id it no longer "
                "remembers), so it may be a replay",
            )
        if now_ms is not None:
            if now_ms > expires_at + self.skew_ms:
                raise Rejection("expired", f"expired {(now_ms - expires_at) / 1000:.1f} s ago")
            if expires_at > now_ms + self.max_ttl_ms + self.skew_ms:
                raise Rejection("expiry_too_far", f"expires_at is more than {self.max_ttl_ms // 1000} s ahead")
        first = self.ids.get(cmd_id)
        if first is not None:
            raise Rejection("duplicate", json.dumps({k: first.get(k) for k in ("cmd", "status", "reason", "at")}))

    # ------------------------------------------------------------------ memory

    def remember(self, cmd_id: str, record: dict[str, Any], expires_at: int, now_ms: int | None) -> None:
        """Record an accepted id (``now_ms``: None while the clock is unsynced) and forget what is safe to forget.

        An id is forgotten only when it has expired on a synchronised clock, or, with more than ``limit`` ids
        that have not, the ones expiring soonest; either way the floor rises above it, so it stays refused.
        """
        self.ids[cmd_id] = {**record, "exp": expires_at}
        if now_ms is not None:
            cutoff = now_ms - self.skew_ms  # a command whose expires_at is below this has expired
            for cid in [c for c, rec in self.ids.items() if rec["exp"] < cutoff]:
                del self.ids[cid]
            self.floor_ms = max(self.floor_ms, cutoff)
        excess = len(self.ids) - self.limit
        if excess > 0:
            for cid in sorted(self.ids, key=lambda c: (self.ids[c]["exp"], c))[:excess]:
                self.floor_ms = max(self.floor_ms, self.ids.pop(cid)["exp"] + 1)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
