"""What the outbox gives up to stay bounded on disk: the cap, the TTL, and room for alarms on a full disk.

DESIGN's contract: bounded in rows and bytes; over the cap the lowest-priority oldest data goes first, never an
alarm; events older than their priority's TTL are dropped; every drop is counted by priority and cause
(``<priority>_cap``, ``<priority>_ttl``, ``telemetry_disk_full``) and reported. These functions only run SQL
on a connection, inside the caller's transaction (or as one statement); the store keeps the counters.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence

from core.events import Priority
from gateway.config import OutboxSection

log = logging.getLogger("gateway.outbox")  # one logger for the whole outbox: the journal is filtered by it

#: Rows whose seq is in the JSON array bound to the one parameter. One statement text for any number of seqs: a
#: list of placeholders would make a new statement per count, each kept in the connection's statement cache.
SEQ_IN_PARAM = "seq IN (SELECT value FROM json_each(?))"


def seqs_param(seqs: Sequence[int]) -> tuple[str]:
    """The parameters for :data:`SEQ_IN_PARAM`."""
    return (json.dumps(list(seqs)),)


#: Order in which priorities are sacrificed when the outbox is full. Alarms are absent on purpose.
DROP_ORDER = (Priority.TELEMETRY, Priority.STATE, Priority.ALERT)


def drop_over_cap(
    conn: sqlite3.Connection, settings: OutboxSection, total_rows: int, total_bytes: int
) -> tuple[int, int, dict[str, int]]:
    """Drop lowest priority, oldest first, until under the cap. Never an alarm.

    Returns the rows and bytes freed and the drops by ``<priority>_cap``."""
    over_rows = total_rows - settings.max_rows
    over_bytes = total_bytes - settings.max_bytes
    dropped: dict[str, int] = {}
    freed_rows = freed_bytes = 0
    for prio in DROP_ORDER:
        if over_rows <= 0 and over_bytes <= 0:
            break
        victims: list[int] = []
        # Walk oldest-first in pages; stop as soon as enough is freed.
        last = 0
        while over_rows > 0 or over_bytes > 0:
            page = conn.execute(
                "SELECT seq, size FROM outbox WHERE prio=? AND seq>? ORDER BY seq LIMIT 1000",
                (int(prio), last),
            ).fetchall()
            if not page:
                break
            for seq, size in page:
                if over_rows <= 0 and over_bytes <= 0:
                    break
                victims.append(seq)
                over_rows -= 1
                over_bytes -= size
                freed_rows += 1
                freed_bytes += size
            last = page[-1][0]
        if victims:
            conn.execute(f"DELETE FROM outbox WHERE {SEQ_IN_PARAM}", seqs_param(victims))
            dropped[f"{prio.label}_cap"] = len(victims)
    if over_rows > 0 or over_bytes > 0:
        log.warning("outbox over its cap with alarms only (%d rows over): alarms are kept", over_rows)
    return freed_rows, freed_bytes, dropped


def drop_expired(conn: sqlite3.Connection, settings: OutboxSection, now_ms: int) -> list[tuple[Priority, int, int]]:
    """Delete events older than their priority's TTL (0 = never). Returns (priority, rows, bytes) per priority
    that lost any."""
    out: list[tuple[Priority, int, int]] = []
    for prio in Priority:
        ttl = getattr(settings.ttl, prio.label)
        if not ttl:
            continue
        cutoff = now_ms - ttl * 1000
        n, b = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(size),0) FROM outbox WHERE prio=? AND created_ms<?",
            (int(prio), cutoff),
        ).fetchone()
        if n:
            conn.execute("DELETE FROM outbox WHERE prio=? AND created_ms<?", (int(prio), cutoff))
            out.append((prio, n, b))
    return out


def free_telemetry(conn: sqlite3.Connection) -> int:
    """Disk full: delete the 1000 oldest telemetry rows, so their pages are reused for alarms. Returns how many."""
    return conn.execute(
        "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE prio=? ORDER BY seq LIMIT 1000)",
        (int(Priority.TELEMETRY),),
    ).rowcount
