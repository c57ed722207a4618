"""The state database: one SQLite file (WAL) under stateDir holding the ledger and the outbox.

Every thread that touches it has its own connection. Writes are short ``BEGIN IMMEDIATE``
transactions with ``synchronous=FULL``: a power cut loses nothing that was committed, and the
file's committed offset never runs ahead of the batches that carry its rows.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edge_agent.errors import StorageFullError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    path TEXT NOT NULL,
    file_id TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    size INTEGER NOT NULL DEFAULT 0,
    mtime_ns INTEGER NOT NULL DEFAULT 0,
    offset INTEGER NOT NULL DEFAULT 0,
    next_line INTEGER NOT NULL DEFAULT 1,
    head_len INTEGER NOT NULL DEFAULT 0,
    head_hash BLOB,
    tail_end INTEGER NOT NULL DEFAULT 0,
    tail_hash BLOB,
    state TEXT NOT NULL DEFAULT 'new',
    rows_published INTEGER NOT NULL DEFAULT 0,
    rows_quarantined INTEGER NOT NULL DEFAULT 0,
    rows_skipped INTEGER NOT NULL DEFAULT 0,
    batches INTEGER NOT NULL DEFAULT 0,
    first_seen REAL NOT NULL,
    updated REAL NOT NULL,
    read_at REAL,
    disposed_at REAL,
    disposed_to TEXT,
    note TEXT,
    content_fp TEXT,
    UNIQUE (source, path)
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id TEXT NOT NULL UNIQUE,
    file_ref INTEGER,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    rows INTEGER NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_file ON outbox (file_ref);
CREATE INDEX IF NOT EXISTS files_content ON files (source, content_fp);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
-- Farm context (edge_agent.farm), written in the transaction that advances its file.
CREATE TABLE IF NOT EXISTS farm_cycle_events (
    tower_id TEXT NOT NULL,
    tray_id TEXT NOT NULL,
    ts REAL NOT NULL,
    event TEXT NOT NULL,
    grow_id TEXT,
    PRIMARY KEY (tower_id, tray_id, ts, event)
);
CREATE TABLE IF NOT EXISTS farm_site (
    site_id TEXT NOT NULL,
    ts REAL NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (site_id, ts)
);
CREATE TABLE IF NOT EXISTS farm_automation (
    tower_id TEXT NOT NULL,
    ts REAL NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (tower_id, ts)
);
-- Tower readings held for their context (not in the outbox yet); the farm worker publishes
-- them and moves them to farm_chunks.
CREATE TABLE IF NOT EXISTS farm_held (
    file_ref INTEGER NOT NULL,
    version INTEGER NOT NULL,
    line INTEGER NOT NULL,
    tower_id TEXT NOT NULL,
    station_id TEXT NOT NULL,
    tray_id TEXT NOT NULL,
    ts REAL NOT NULL,
    record BLOB NOT NULL,
    hold_until REAL NOT NULL,
    PRIMARY KEY (file_ref, version, line)
);
CREATE INDEX IF NOT EXISTS farm_held_station ON farm_held (tower_id, station_id, ts);
-- Published tower readings kept for corrections and alerts (edge_agent/farm/chunks.py).
CREATE TABLE IF NOT EXISTS farm_chunks (
    id INTEGER PRIMARY KEY,
    file_ref INTEGER NOT NULL,
    version INTEGER NOT NULL,
    tower_id TEXT NOT NULL,
    ts_min REAL NOT NULL,
    ts_max REAL NOT NULL,
    first_line INTEGER NOT NULL,
    last_line INTEGER NOT NULL,
    data BLOB NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS farm_files (
    file_ref INTEGER NOT NULL,
    version INTEGER NOT NULL,
    units BLOB,
    PRIMARY KEY (file_ref, version)
);
CREATE TABLE IF NOT EXISTS farm_alerts (
    tower_id TEXT NOT NULL,
    station_id TEXT NOT NULL,
    variable TEXT NOT NULL,
    since REAL NOT NULL,
    until REAL NOT NULL,
    state TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (tower_id, station_id, variable, since)
);
"""


def _is_full(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_FULL or "full" in str(error).lower()


class StateDB:
    """A connection to the state database, safe to share between threads through its lock."""

    def __init__(self, state_dir: str | Path, *, durable: bool = True) -> None:
        """``durable=False`` (acknowledgements only) commits without waiting for the disk: a
        deletion lost in a power cut only means a batch is sent again with the same batchId."""
        self.dir = Path(state_dir)
        self.path = self.dir / "edge-agent.db"
        self.lock = threading.RLock()
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            # Payloads are 128 KiB blobs: big pages mean fewer WAL frames (one write each) per
            # commit. Only takes effect when the file is created.
            self.conn.execute("PRAGMA page_size=32768")
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.executescript(_SCHEMA)
            self.conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)",
                (str(SCHEMA_VERSION),),
            )
        except sqlite3.Error as e:
            if _is_full(e):
                raise StorageFullError(f"state database {self.path}: disk full") from e
            raise

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; a full disk becomes StorageFullError (nothing committed)."""
        with self.lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as e:
                if _is_full(e):
                    raise StorageFullError(f"state database {self.path}: disk full") from e
                raise
            try:
                yield self.conn
            except sqlite3.Error as e:
                self.conn.execute("ROLLBACK")
                if _is_full(e):
                    raise StorageFullError(f"state database {self.path}: disk full") from e
                raise
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as e:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                if _is_full(e):
                    raise StorageFullError(f"state database {self.path}: disk full") from e
                raise

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        """Run a read query and return every row."""
        with self.lock:
            cursor = self.conn.execute(sql, params)
            cursor.row_factory = sqlite3.Row
            return cursor.fetchall()

    def close(self) -> None:
        """Close the connection."""
        with self.lock:
            self.conn.close()
