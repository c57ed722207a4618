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

SCHEMA_VERSION = 2

# Columns added after a state directory may have been created: (table, column, declaration).
_ADDED_COLUMNS = (
    ("files", "dataset_fp", "TEXT"),
    ("files", "reread", "INTEGER NOT NULL DEFAULT 0"),
    ("files", "gone_at", "REAL"),
)

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
    dataset_fp TEXT,
    reread INTEGER NOT NULL DEFAULT 0,
    gone_at REAL,
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
CREATE INDEX IF NOT EXISTS files_reread ON files (source) WHERE reread != 0;
-- Files by state (disposal looks for read files, status counts by state): a ledger of a
-- million rows is not read whole for either.
CREATE INDEX IF NOT EXISTS files_state ON files (source, state);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
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
            self._add_columns()
            self.conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)",
                (str(SCHEMA_VERSION),),
            )
        except sqlite3.Error as e:
            if _is_full(e):
                raise StorageFullError(f"state database {self.path}: disk full") from e
            raise

    def _add_columns(self) -> None:
        """Bring a state database made by an earlier version up to this schema."""
        for table, column, declaration in _ADDED_COLUMNS:
            present = {row[1] for row in self.conn.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

    def ensure_schema(self, script: str) -> None:
        """Create the tables of another part of the agent (``CREATE ... IF NOT EXISTS``): a stage
        that keeps state beside the ledger owns its schema, the state layer does not know it."""
        with self.lock:
            try:
                self.conn.executescript(script)
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
