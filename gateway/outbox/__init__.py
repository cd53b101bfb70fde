"""The outbox: the single source of truth for what still has to reach the platform.

SQLite in WAL mode with ``synchronous=FULL``: a caller is told "accepted" only after the transaction holding its
event is on disk. Rows are deleted only when the uplink reports the broker's PUBACK. Bounded: over ``max_rows`` /
``max_bytes`` the lowest-priority oldest rows go first; alarms are never dropped. Every drop (cap, TTL, refusal)
is counted and reported through ``on_dropped``.

When the storage misbehaves, alarms still get out:

- Disk full: a reserve file is given back so alarms and alerts still get in; telemetry and state are refused
  (counted) until space returns.
- Storage that cannot be written at all (the kernel made the SD card read-only after errors, or writes fail with
  I/O errors), whether it happens while running or the card is already so at boot: the outbox goes degraded
  (``storage_fault``). Alarms and alerts are held in a bounded queue IN MEMORY, which is NOT durable (a crash or
  power cut loses what it holds), handed to the uplink like stored rows; telemetry and state are refused and
  counted (``<priority>_read_only`` / ``_io_error``). Every ``retry_s`` the database is opened afresh and the
  held events still undelivered are written with their seq; then the outbox is normal again. Stopping while
  still degraded loses what is held (logged); its seqs were never stored, so they may be handed out again after
  a restart (the event ids stay unique).

One concept per module, in the order an event meets them:

- :mod:`~gateway.outbox.outbox`: :class:`Outbox`, which takes events, group-commits them and switches modes;
- :mod:`~gateway.outbox.store`: the SQLite file: schema, commit, cap, TTL, the uplink's reads;
- :mod:`~gateway.outbox.held`: degraded mode's bounded queue in memory;
- :mod:`~gateway.outbox.faults`: telling a read-only or failing card from a full disk, corruption or a bug;
- :mod:`~gateway.outbox.reserve`: the disk space kept for alarms;
- :mod:`~gateway.outbox.rows`: a stored row as the uplink reads it, and its MQTT payload.
"""

from gateway.outbox.faults import OutboxError, is_storage_fault
from gateway.outbox.outbox import Outbox
from gateway.outbox.rows import Row, bodies_to_payload, decode_payload
from gateway.outbox.stats import OutboxStats
from gateway.outbox.store import StateEntry

__all__ = [
    "Outbox",
    "OutboxError",
    "OutboxStats",
    "Row",
    "StateEntry",
    "bodies_to_payload",
    "decode_payload",
    "is_storage_fault",
]
