"""Boot-time recovery of local storage that cannot be opened.

A file that is corrupt (power cut during an SD card write, a bad block) is moved aside with a timestamp, kept
for inspection, and the service starts clean. Rows that can still be read from a corrupt outbox are salvaged
into the new one, so "starting clean" loses only what the damage really took. What happened is reported as a
``gateway.storage_recovered`` event.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SalvagedRow = tuple[int, int, int, int, bytes]


def quarantine(path: Path) -> list[str]:
    """Move ``path`` (and its SQLite -wal/-shm companions) aside; returns the new names."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    moved = []
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if p.exists():
            target = p.with_name(f"{p.name}.corrupt-{stamp}")
            p.rename(target)
            moved.append(target.name)
    log.error("storage: %s could not be opened; moved aside as %s", path.name, ", ".join(moved))
    return moved


def salvage_outbox(path: Path, limit: int = 1_000_000) -> tuple[list[SalvagedRow], str | None]:
    """Read whatever rows a damaged outbox still yields, in seq order. Returns (rows, first error)."""
    rows: list[SalvagedRow] = []
    error: str | None = None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return rows, str(exc)
    try:
        cur = conn.execute("SELECT seq, prio, created_ms, size, body FROM outbox ORDER BY seq LIMIT ?", (limit,))
        while True:
            try:
                row = cur.fetchone()
            except sqlite3.Error as exc:
                error = str(exc)
                break
            if row is None:
                break
            rows.append((int(row[0]), int(row[1]), int(row[2]), int(row[3]), bytes(row[4])))
    except sqlite3.Error as exc:
        error = str(exc)
    finally:
        with contextlib.suppress(sqlite3.Error):
            conn.close()
    return rows, error


def recovery_report(kind: str, path: Path, error: str, moved: list[str], **extra: Any) -> dict[str, Any]:
    return {"store": kind, "file": path.name, "error": error, "moved_to": moved, **extra}
