"""The outbox's SQLite file: schema, group commit, the reads of the uplink's two lanes, and the write-back
after a storage fault (what it gives up to stay bounded is in :mod:`gateway.outbox.bounds`).

WAL mode. A transaction that accepts events runs with ``synchronous=FULL`` (the caller is told only after the
fsync); one that only deletes delivered rows runs with ``NORMAL``, so it never holds up the next alarm.

Every page a transaction touches is a 4 KiB frame in the WAL, written to the SD card. So a commit touches as few
as it can: the next seq goes into ``meta`` only when the rows left no longer show it (the row holding the highest
seq was deleted), not with every insert, and ``rule_state`` is one b-tree (``WITHOUT ROWID``). A sparse home's
event then costs two frames (the table's and its index's last leaf), with the deletes of the events delivered
meanwhile riding in the same pages (see :class:`gateway.outbox.Outbox`'s deferred deletes). One
writer connection, used only on the outbox's writer thread, and one reader connection, used only on its reader
thread, so the uplink's reads never wait behind an fsync. Every method blocks: the outbox calls them through
those two single-thread executors. Nothing but cursors and counters is kept in memory, so memory use does not
grow with the backlog.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from core.atomic import make_dirs
from core.events import Event, Priority
from gateway.config import OutboxSection
from gateway.outbox.bounds import SEQ_IN_PARAM, drop_expired, drop_over_cap, free_telemetry, seqs_param
from gateway.outbox.faults import CorruptOutbox, OutboxError
from gateway.outbox.rows import Row, row_clock_ms
from gateway.outbox.stats import OutboxStats

if TYPE_CHECKING:
    from gateway.outbox.held import Held

log = logging.getLogger("gateway.outbox")  # one logger for the whole outbox: the journal is filtered by it

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY,
    prio       INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    size       INTEGER NOT NULL,
    body       BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_by_prio ON outbox (prio, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS rule_state (key TEXT PRIMARY KEY, value TEXT NOT NULL, ver INTEGER NOT NULL)
    WITHOUT ROWID;
"""

#: Newest version of a key wins, whatever order two transactions commit in (see :mod:`gateway.rules.exact`).
_UPSERT_STATE = (
    "INSERT INTO rule_state (key, value, ver) VALUES (?,?,?) ON CONFLICT(key) DO UPDATE "
    "SET value=excluded.value, ver=excluded.ver WHERE excluded.ver > rule_state.ver"
)

#: Rule state committed with events: key, value as JSON text, version.
StateEntry = tuple[str, str, int]

#: Page cache per connection, in KiB.
_CACHE_KIB = 256

#: Lowest first seq when the stored seqs cannot be read at all: far above any seq a gateway hands out in its life.
UNKNOWN_SEQ_FLOOR = 10**12

SalvagedRow = tuple[int, int, int, int, bytes]


class Store:
    """The database file and its two connections; keeps the stored part of ``stats`` and the next seq."""

    def __init__(self, path: Path, settings: OutboxSection, stats: OutboxStats) -> None:
        self.path = path
        self.settings = settings
        self.stats = stats
        self.wconn: sqlite3.Connection | None = None
        self.rconn: sqlite3.Connection | None = None
        #: Seq of the next event accepted, stored or held.
        self.next_seq = 1
        #: The rule state committed with events, as read at open (see :meth:`commit`).
        self.rule_state: list[StateEntry] = []
        #: Highest alarm seq stored when the file was opened (0: none).
        self.max_alarm_seq = 0
        #: The alarm rows of the last :meth:`commit`, as the uplink would read them back.
        self.last_alarm_rows: list[Row] = []
        self._synchronous = "FULL"

    # ---------------------------------------------------------------- opening

    def connect(self, uri: str | None = None) -> sqlite3.Connection:
        """A connection to the file (or to ``uri``, e.g. read-only), with the outbox's pragmas."""
        if uri is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        else:
            conn = sqlite3.connect(uri, isolation_level=None, check_same_thread=False, uri=True)
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            # A queue is written at its tail and read from its head once: a big page cache buys nothing, and at
            # SQLite's default (2 MB per connection) it would be most of the memory a backlog adds.
            conn.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _writable(self, conn: sqlite3.Connection) -> None:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise OutboxError(f"{self.path}: cannot switch to WAL mode (got {mode})")
        conn.execute("PRAGMA synchronous=FULL")
        self._synchronous = "FULL"
        conn.execute("PRAGMA wal_autocheckpoint=2000")
        conn.executescript(_SCHEMA)  # a replaced, empty filesystem gets a fresh outbox

    def open_writer(self) -> None:
        """Writer thread: open (creating if needed), check integrity, read the next seq and the counters.

        Raises ``sqlite3.DatabaseError`` for a corrupt file (:class:`CorruptOutbox` when the integrity check
        fails), and whatever the storage raises; nothing is left open then."""
        make_dirs(self.path.parent)
        conn = self.connect()
        try:
            self._writable(conn)
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise CorruptOutbox(f"{self.path}: integrity check failed: {check}")
            self._load(conn)
        except BaseException:
            conn.close()
            raise
        self.wconn = conn
        st = self.stats
        log.info("outbox open: %s rows (%s alarms), %s bytes, next seq %s", st.rows, st.alarms, st.bytes, self.next_seq)

    def open_reader(self) -> None:
        """Reader thread."""
        self.rconn = self.connect()

    def _load(self, conn: sqlite3.Connection) -> None:
        """The next seq and the counters, from what is stored."""
        row = conn.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()
        max_seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0]
        rows, size, oldest = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0), MIN(created_ms) FROM outbox"
        ).fetchone()
        alarms = conn.execute("SELECT COUNT(*) FROM outbox WHERE prio=0").fetchone()[0]
        self.max_alarm_seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox WHERE prio=0").fetchone()[0]
        try:
            self.rule_state = conn.execute("SELECT key, value, ver FROM rule_state").fetchall()
        except sqlite3.OperationalError:  # read-only open of a file from before the table existed
            self.rule_state = []
        self.next_seq = max(row[0] if row else 1, max_seq + 1)
        self.stats.rows, self.stats.bytes, self.stats.oldest_ms, self.stats.alarms = rows, size, oldest, alarms

    def open_read_only(self) -> bool:
        """Reader thread, for a start on storage that refuses writes: read what is stored through a read-only
        connection, which becomes the reader (rows committed before the card failed still go out), and continue
        the seqs after the highest one stored. No file at all: nothing is stored, seqs start at 1.

        Returns False if the file is there but cannot be read (I/O errors, a WAL that cannot be opened, a failed
        integrity check). The stored rows then wait for the storage to be repaired, and the seqs handed out
        meanwhile start at the wall clock in ms, and at least :data:`UNKNOWN_SEQ_FLOOR`: above any seq stored,
        so the held events written back later never collide with stored ones. The platform sees one jump in
        seq (what the unreadable card holds is unknown); event ids stay unique as always."""
        try:
            self.path.stat()
        except FileNotFoundError:
            self.next_seq = 1
            return True
        except OSError as exc:
            return self.unreadable(exc)
        error: BaseException | None = None
        for uri in self._read_only_uris():
            try:
                conn = self.connect(uri)
            except sqlite3.Error as exc:
                error = exc
                continue
            try:
                check = conn.execute("PRAGMA quick_check").fetchone()[0]
                if check != "ok":
                    raise CorruptOutbox(f"{self.path}: integrity check failed: {check}")
                self._load(conn)
            except sqlite3.Error as exc:
                error = exc
                conn.close()
                continue
            self.rconn = conn
            st = self.stats
            log.warning(
                "outbox open read-only: %s rows (%s alarms) readable, next seq %s", st.rows, st.alarms, self.next_seq
            )
            return True
        return self.unreadable(error)

    def _read_only_uris(self) -> list[str]:
        """How to read the file without writing a byte. A WAL database needs its -shm index, which a read-only
        card may not have (a clean stop removes it): then read the main file as immutable, which is only right
        while no WAL holds transactions the main file lacks."""
        base = "file:" + quote(os.path.abspath(self.path))
        uris = [f"{base}?mode=ro"]
        wal = self.path.with_name(self.path.name + "-wal")
        try:
            wal_empty = wal.stat().st_size == 0
        except FileNotFoundError:
            wal_empty = True
        except OSError:
            wal_empty = False
        if wal_empty:
            uris.append(f"{base}?mode=ro&immutable=1")
        return uris

    def unreadable(self, error: BaseException | None) -> bool:
        """Nothing stored can be read: counters at zero, seqs from a base no stored seq can reach. Returns False."""
        st = self.stats
        st.rows, st.bytes, st.alarms, st.oldest_ms = 0, 0, 0, None
        self.next_seq = max(UNKNOWN_SEQ_FLOOR, int(time.time() * 1000))
        log.error(
            "outbox: %s cannot be read (%s): stored events wait for the storage to be repaired; seqs continue "
            "from %d meanwhile",
            self.path,
            error,
            self.next_seq,
        )
        return False

    def close_writer(self) -> None:
        conn, self.wconn = self.wconn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def close_reader(self) -> None:
        conn, self.rconn = self.rconn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    # ---------------------------------------------------------------- writing

    def commit(self, events: list[Event], acks: list[int], state: list[StateEntry] | None = None) -> dict[str, int]:
        """One transaction: insert, write the rule ``state`` that goes with the events, delete acknowledged,
        enforce the cap. Writer thread. Returns the drops."""
        conn = self.wconn
        assert conn is not None
        now = row_clock_ms()
        next_seq = self.next_seq
        rows = []
        for e in events:
            e.seq = next_seq
            next_seq += 1
            body = e.to_bytes()
            rows.append((e.seq, int(e.priority), now, len(body), body))
        dropped: dict[str, int] = {}
        self.set_synchronous(conn, "FULL" if rows or state else "NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            if rows:
                conn.executemany("INSERT INTO outbox (seq, prio, created_ms, size, body) VALUES (?,?,?,?,?)", rows)
            if state:
                conn.executemany(_UPSERT_STATE, state)
            freed_rows = freed_bytes = freed_alarms = 0
            if acks:
                freed_rows, freed_bytes, freed_alarms = self._delete(conn, acks)
            added_bytes = sum(r[3] for r in rows)
            added_alarms = sum(1 for r in rows if r[1] == Priority.ALARM)
            total_rows = self.stats.rows + len(rows) - freed_rows
            total_bytes = self.stats.bytes + added_bytes - freed_bytes
            cap_rows = cap_bytes = 0
            if total_rows > self.settings.max_rows or total_bytes > self.settings.max_bytes:
                cap_rows, cap_bytes, dropped = drop_over_cap(conn, self.settings, total_rows, total_bytes)
            if freed_rows or cap_rows:
                self.keep_next_seq(conn, next_seq)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            for e in events:
                e.seq = None
            raise
        self.next_seq = next_seq
        self.last_alarm_rows = [Row(r[0], r[1], r[4]) for r in rows if r[1] == Priority.ALARM]
        st = self.stats
        st.rows = total_rows - cap_rows
        st.bytes = total_bytes - cap_bytes
        st.alarms += added_alarms - freed_alarms
        st.committed += len(rows)
        st.deleted += freed_rows
        st.commits += 1
        st.last_error = None
        if st.rows == 0:
            st.oldest_ms = None
        elif st.oldest_ms is None or freed_rows or cap_rows:
            st.oldest_ms = self.oldest(conn)
        for key, n in dropped.items():
            st.dropped[key] = st.dropped.get(key, 0) + n
        return dropped

    def set_synchronous(self, conn: sqlite3.Connection, level: str) -> None:
        """``FULL`` for a transaction that accepts events (the caller is told only after the fsync);
        ``NORMAL`` for one that only deletes delivered rows: no fsync of its own, so it never holds up the next
        alarm's commit. WAL stays consistent either way; a power cut may only undo deletes (the rows are sent
        again, and the platform drops duplicates by id), and the next ``FULL`` commit makes them durable."""
        if self._synchronous != level:
            conn.execute(f"PRAGMA synchronous={level}")
            self._synchronous = level

    @staticmethod
    def keep_next_seq(conn: sqlite3.Connection, next_seq: int) -> None:
        """After deletes, inside their transaction: note the next seq if the rows left no longer show it.

        At open the next seq is the larger of the noted one and the highest stored seq + 1, so it only needs
        noting when the row holding the highest seq is gone; inserts alone never write ``meta``."""
        top = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0]
        if top + 1 < next_seq:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('next_seq', ?)", (next_seq,))

    @staticmethod
    def oldest(conn: sqlite3.Connection) -> int | None:
        row = conn.execute("SELECT created_ms FROM outbox ORDER BY seq LIMIT 1").fetchone()
        return None if row is None else int(row[0])

    @staticmethod
    def _delete(conn: sqlite3.Connection, seqs: list[int]) -> tuple[int, int, int]:
        params = seqs_param(seqs)
        n, b, a = conn.execute(
            f"SELECT COUNT(*), COALESCE(SUM(size),0), COALESCE(SUM(prio=0),0) FROM outbox WHERE {SEQ_IN_PARAM}",
            params,
        ).fetchone()
        conn.execute(f"DELETE FROM outbox WHERE {SEQ_IN_PARAM}", params)
        return n, b, a

    def free_telemetry(self) -> None:
        """Disk full: the oldest telemetry goes, its pages are reused for alarms (best effort)."""
        conn = self.wconn
        if conn is None:
            return
        with contextlib.suppress(sqlite3.Error):
            conn.execute("BEGIN IMMEDIATE")
            try:
                freed = free_telemetry(conn)
                self.keep_next_seq(conn, self.next_seq)
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            if freed > 0:
                self.stats.rows -= freed
                self.stats.dropped["telemetry_disk_full"] = self.stats.dropped.get("telemetry_disk_full", 0) + freed

    def import_rows(self, rows: list[SalvagedRow]) -> int:
        """Writer thread: put back rows salvaged from a damaged outbox (same seq, same body)."""
        conn = self.wconn
        assert conn is not None
        if not rows:
            return 0
        self.set_synchronous(conn, "FULL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            cur = conn.executemany(
                "INSERT OR IGNORE INTO outbox (seq, prio, created_ms, size, body) VALUES (?,?,?,?,?)", rows
            )
            self.next_seq = max(self.next_seq, max(r[0] for r in rows) + 1)
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('next_seq', ?)", (self.next_seq,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        n = max(cur.rowcount, 0)
        st = self.stats
        st.rows, st.bytes, st.alarms = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(size),0), COALESCE(SUM(prio=0),0) FROM outbox"
        ).fetchone()
        st.oldest_ms = self.oldest(conn)
        return n

    def expire(self, now_ms: int | None = None) -> dict[str, int]:
        """Writer thread: delete events older than their priority's TTL. Returns the drops."""
        conn = self.wconn
        if conn is None:  # between two attempts to reopen a storage that failed
            return {}
        now_ms = row_clock_ms() if now_ms is None else now_ms
        self.set_synchronous(conn, "NORMAL")  # only deletes
        conn.execute("BEGIN IMMEDIATE")
        try:
            expired = drop_expired(conn, self.settings, now_ms)
            if expired:
                self.keep_next_seq(conn, self.next_seq)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        dropped: dict[str, int] = {}
        st = self.stats
        for prio, n, size in expired:
            dropped[f"{prio.label}_ttl"] = n
            st.rows -= n
            st.bytes -= size
            if prio == Priority.ALARM:
                st.alarms -= n
        if dropped:
            st.oldest_ms = self.oldest(conn)
            for key, n in dropped.items():
                st.dropped[key] = st.dropped.get(key, 0) + n
        return dropped

    # ---------------------------------------------------------------- storage that failed

    def write_back(self, held: list[Held]) -> tuple[int, int, int, int | None]:
        """Writer thread: a new connection (the broken mount may have been repaired or replaced), the held rows
        written with their seq in one ``synchronous=FULL`` transaction. Returns the table's rows, bytes,
        alarms and oldest time."""
        old, self.wconn = self.wconn, None
        if old is not None:  # its locks and file handles belong to the broken mount: let go first
            with contextlib.suppress(sqlite3.Error):
                old.close()
        make_dirs(self.path.parent)  # the card was read-only before it could be made
        conn = self.connect()
        try:
            self._writable(conn)
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()
                max_seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0]
                next_seq = max(self.next_seq, row[0] if row else 1, max_seq + 1)
                conn.executemany(
                    "INSERT OR IGNORE INTO outbox (seq, prio, created_ms, size, body) VALUES (?,?,?,?,?)",
                    [(h.row.seq, h.row.prio, h.created_ms, len(h.row.body), h.row.body) for h in held],
                )
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('next_seq', ?)", (next_seq,))
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            rows, size, alarms, oldest = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(prio=0), 0), MIN(created_ms) FROM outbox"
            ).fetchone()
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
            raise
        self.wconn = conn
        self.next_seq = next_seq
        return int(rows), int(size), int(alarms), None if oldest is None else int(oldest)

    def reopen_reader(self) -> None:
        """Reader thread: read through the same (possibly new) mount as the writer."""
        conn = self.connect()
        try:
            conn.execute("SELECT seq FROM outbox LIMIT 1").fetchall()
        except BaseException:
            conn.close()
            raise
        old, self.rconn = self.rconn, conn
        if old is not None:
            with contextlib.suppress(sqlite3.Error):
                old.close()

    # ---------------------------------------------------------------- reading (uplink)

    def fetch(self, alarms: bool, after_seq: int, limit: int, max_bytes: int) -> list[Row]:
        """Reader thread: the next stored rows of one lane, in seq order (none while nothing can be read)."""
        conn = self.rconn
        if conn is None:  # started on storage that could not be read
            return []
        where = "prio=0" if alarms else "+prio>0"  # unary + keeps the planner on the seq primary key
        # Alarms use the (prio, seq) index; the rest are walked in plain seq order.
        cur = conn.execute(
            f"SELECT seq, prio, body FROM outbox WHERE {where} AND seq>? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )
        out: list[Row] = []
        total = 0
        for seq, prio, body in cur:
            total += len(body)
            if out and total > max_bytes:
                break
            out.append(Row(seq, prio, bytes(body)))
        return out
