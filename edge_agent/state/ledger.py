"""The ledger: what the agent knows of every file, and the outbox commit that advances it.

A file is keyed by (source, relative path). Its ``version`` changes when the file is truncated
or rewritten in place; ``offset``/``next_line`` say how far its rows are safely in the outbox.
Batches are inserted and the offset advanced in one transaction, so after a crash reading
resumes exactly where the outbox ends, and anything re-sent keeps its ``batchId``.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass

from edge_agent.state.db import StateDB

# File states: new (seen, nothing read) -> reading (part read; growing logs stay here)
# -> read (a complete file wholly in the outbox) -> disposed (moved or deleted after every
# batch was acknowledged). A rewritten file starts again at reading with a new version.
# failed: the file cannot be read with its dataset (quarantined whole, left in place);
# duplicate: the same bytes as a file already read (a copy under another name), skipped.


ROTATED_PREFIX = "\0rotated/"  # the path of a rotated log's row until its new name is found
_CHUNK = 500  # paths per query (SQLite's default limit on parameters is far above)


@dataclass(frozen=True, slots=True)
class Batch:
    """One MQTT message ready for the outbox."""

    batch_id: str
    topic: str
    payload: bytes
    rows: int


@dataclass(frozen=True, slots=True)
class FileRecord:
    """A row of the ledger."""

    id: int
    source: str
    path: str
    file_id: str
    version: int
    size: int
    mtime_ns: int
    offset: int
    next_line: int
    head_len: int
    head_hash: bytes | None
    tail_end: int
    tail_hash: bytes | None
    state: str
    rows_published: int
    rows_quarantined: int
    rows_skipped: int
    dataset_fp: str | None
    reread: int

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> FileRecord:
        """Build from a ``SELECT *`` row."""
        return cls(**{name: row[name] for name in cls.__slots__})


@dataclass(frozen=True, slots=True)
class Probes:
    """Hashes of the start of a file and of the bytes just before a point in it.

    They tell a file that grew (both still match) from one rewritten or replaced in place.
    """

    head_len: int
    head_hash: bytes
    tail_end: int
    tail_hash: bytes


@dataclass(frozen=True, slots=True)
class FileAdvance:
    """What one commit says about its file: how far its rows are in the outbox, and counts."""

    offset: int
    next_line: int
    state: str
    size: int
    mtime_ns: int
    published: int = 0
    quarantined: int = 0
    skipped: int = 0
    batches: int = 0
    probes: Probes | None = None
    note: str | None = None
    content_fp: str | None = None
    dataset_fp: str | None = None


def digest(data: bytes) -> bytes:
    """The probe hash of some bytes."""
    return hashlib.blake2b(data, digest_size=16).digest()


def make_file_id(source: str, path: str, first_seen_ns: int) -> str:
    """A file identity that stays the same for the life of the ledger row."""
    return hashlib.blake2b(
        f"{source}\0{path}\0{first_seen_ns}".encode(), digest_size=12
    ).hexdigest()


def make_batch_id(file_id: str, version: int, first_line: int, last_line: int, kind: str) -> str:
    """Deterministic: the same rows of the same file version always get the same id."""
    return hashlib.blake2b(
        f"{file_id}:{version}:{first_line}-{last_line}:{kind}".encode(), digest_size=16
    ).hexdigest()


class Ledger:
    """Ledger and outbox operations on one StateDB connection."""

    def __init__(self, db: StateDB) -> None:
        self.db = db

    def get(self, source: str, path: str) -> FileRecord | None:
        """The ledger row of one file, if any."""
        rows = self.db.query("SELECT * FROM files WHERE source = ? AND path = ?", (source, path))
        return FileRecord.from_row(rows[0]) if rows else None

    def by_id(self, file_ref: int) -> FileRecord | None:
        """The ledger row with this id."""
        rows = self.db.query("SELECT * FROM files WHERE id = ?", (file_ref,))
        return FileRecord.from_row(rows[0]) if rows else None

    def many(self, source: str, paths: Sequence[str]) -> dict[str, FileRecord]:
        """The ledger rows of these files of a source, by path (those it has)."""
        found: dict[str, FileRecord] = {}
        for start in range(0, len(paths), _CHUNK):
            part = tuple(paths[start : start + _CHUNK])
            marks = ",".join("?" * len(part))
            rows = self.db.query(
                f"SELECT * FROM files WHERE source = ? AND path IN ({marks})", (source, *part)
            )
            found.update((row["path"], FileRecord.from_row(row)) for row in rows)
        return found

    def to_read_again(self, source: str) -> list[str]:
        """Files of a source that ``edge-agent reingest`` asked to be read again."""
        rows = self.db.query("SELECT path FROM files WHERE source = ? AND reread != 0", (source,))
        return [str(row["path"]) for row in rows]

    def request_reread(
        self,
        source: str,
        paths: Sequence[str] = (),
        *,
        failed: bool = False,
        quarantined: bool = False,
    ) -> list[str]:
        """Ask for files to be read again as a new version (``edge-agent reingest``): the
        given paths, every file that failed whole, and/or every file with quarantined rows.
        Returns the paths marked (files the ledger does not know are not)."""
        conditions = []
        params: list[object] = [source]
        if paths:
            conditions.append(f"path IN ({','.join('?' * len(paths))})")
            params += list(paths)
        if failed:
            conditions.append("state = 'failed'")
        if quarantined:
            conditions.append("rows_quarantined > 0")
        if not conditions:
            return []
        where = (
            f"source = ? AND state NOT IN ('disposed', 'rotated') AND ({' OR '.join(conditions)})"
        )
        with self.db.transaction() as conn:
            rows = conn.execute(f"SELECT path FROM files WHERE {where}", params).fetchall()
            conn.execute(f"UPDATE files SET reread = 1 WHERE {where}", params)
        return [str(row[0]) for row in rows]

    def page(self, source: str, after_id: int, limit: int) -> list[tuple[int, str, float | None]]:
        """(id, path, gone_at) of the source's rows after ``after_id``, in id order."""
        rows = self.db.query(
            "SELECT id, path, gone_at FROM files WHERE source = ? AND id > ? ORDER BY id LIMIT ?",
            (source, after_id, limit),
        )
        return [(int(r["id"]), str(r["path"]), r["gone_at"]) for r in rows]

    def mark_gone(self, file_refs: Sequence[int], at: float | None) -> None:
        """The files are no longer in their source since ``at`` (None: they are back)."""
        with self.db.transaction() as conn:
            conn.executemany(
                "UPDATE files SET gone_at = ? WHERE id = ?", [(at, ref) for ref in file_refs]
            )

    def forget(self, file_refs: Sequence[int]) -> int:
        """Delete ledger rows of files long gone (none with batches still in the outbox)."""
        with self.db.transaction() as conn:
            cursor = conn.executemany(
                "DELETE FROM files WHERE id = ? AND gone_at IS NOT NULL "
                "AND NOT EXISTS (SELECT 1 FROM outbox WHERE file_ref = files.id)",
                [(ref,) for ref in file_refs],
            )
            return cursor.rowcount

    def create(self, source: str, path: str) -> FileRecord:
        """Start tracking a file (idempotent)."""
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO files (source, path, file_id, first_seen, updated) "
                "VALUES (?, ?, ?, ?, ?)",
                (source, path, make_file_id(source, path, time.time_ns()), now, now),
            )
        record = self.get(source, path)
        assert record is not None
        return record

    def new_version(self, record: FileRecord, reason: str) -> FileRecord:
        """The file was truncated or rewritten: read it again from the start as a new version."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE files SET version = version + 1, offset = 0, next_line = 1, size = 0, "
                "mtime_ns = 0, head_len = 0, head_hash = NULL, tail_end = 0, tail_hash = NULL, "
                "state = 'reading', dataset_fp = NULL, reread = 0, gone_at = NULL, "
                "rows_published = 0, rows_quarantined = 0, rows_skipped = 0, "
                "batches = 0, read_at = NULL, disposed_at = NULL, disposed_to = NULL, note = ?, "
                "updated = ? WHERE id = ?",
                (reason, time.time(), record.id),
            )
        fresh = self.by_id(record.id)
        assert fresh is not None
        return fresh

    def retire(self, record: FileRecord, reason: str) -> FileRecord:
        """A growing log was rotated (renamed away, a new log in its place): its row keeps
        the old content's identity under a placeholder path (state ``rotated``) until the
        renamed file is found (``adopt``), and a new row continues the path as the next
        version. Returns the new row."""
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE files SET path = ?, state = 'rotated', gone_at = ?, note = ?, "
                "updated = ? WHERE id = ?",
                (f"{ROTATED_PREFIX}{record.id}", now, reason, now, record.id),
            )
            conn.execute(
                "INSERT INTO files (source, path, file_id, version, state, first_seen, updated, "
                "note) VALUES (?, ?, ?, ?, 'reading', ?, ?, ?)",
                (record.source, record.path, record.file_id, record.version + 1, now, now, reason),
            )
        fresh = self.get(record.source, record.path)
        assert fresh is not None
        return fresh

    def adopt(self, record: FileRecord, path: str) -> FileRecord:
        """The content of ``record`` (a rotated log) continues in the file at ``path``."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE files SET path = ?, state = 'reading', gone_at = NULL, note = ?, "
                "updated = ? WHERE id = ?",
                (path, f"renamed from {record.path}", time.time(), record.id),
            )
        fresh = self.by_id(record.id)
        assert fresh is not None
        return fresh

    def continuations(self, source: str) -> list[FileRecord]:
        """Rows whose content a renamed file may continue: logs part read, and rotated ones."""
        rows = self.db.query(
            "SELECT * FROM files WHERE source = ? AND state IN ('reading', 'rotated') "
            "AND offset > 0 AND head_hash IS NOT NULL",
            (source,),
        )
        return [FileRecord.from_row(r) for r in rows]

    def advance(self, conn: sqlite3.Connection, file_ref: int, step: FileAdvance) -> None:
        """Record how far a file's rows are in the outbox, inside the caller's transaction (the
        one that inserts the batches carrying those rows: see ``OutboxWriter.commit``)."""
        now = time.time()
        sets = [
            "offset = ?",
            "next_line = ?",
            "state = ?",
            "updated = ?",
            "rows_published = rows_published + ?",
            "rows_quarantined = rows_quarantined + ?",
            "rows_skipped = rows_skipped + ?",
            "batches = batches + ?",
            "size = ?",
            "mtime_ns = ?",
            "gone_at = NULL",
        ]
        params: list[object] = [
            step.offset,
            step.next_line,
            step.state,
            now,
            step.published,
            step.quarantined,
            step.skipped,
            step.batches,
            step.size,
            step.mtime_ns,
        ]
        if step.probes is not None:
            sets += ["head_len = ?", "head_hash = ?", "tail_end = ?", "tail_hash = ?"]
            probes = step.probes
            params += [probes.head_len, probes.head_hash, probes.tail_end, probes.tail_hash]
        if step.state == "read":
            sets.append("read_at = ?")
            params.append(now)
        for column, value in (
            ("note", step.note),
            ("content_fp", step.content_fp),
            ("dataset_fp", step.dataset_fp),
        ):
            if value is not None:
                sets.append(f"{column} = ?")
                params.append(value)
        params.append(file_ref)
        conn.execute(f"UPDATE files SET {', '.join(sets)} WHERE id = ?", params)

    def find_duplicate(self, source: str, content_fp: str, exclude_id: int) -> str | None:
        """The path of a wholly read file of this source with the same content, if any."""
        rows = self.db.query(
            "SELECT path FROM files WHERE source = ? AND content_fp = ? AND id != ? "
            "AND state IN ('read', 'disposed') LIMIT 1",
            (source, content_fp, exclude_id),
        )
        return str(rows[0]["path"]) if rows else None

    def mark_disposed(self, file_ref: int, where: str | None) -> None:
        """The file was moved (to ``where``) or deleted after every batch was acknowledged."""
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE files SET state = 'disposed', disposed_at = ?, disposed_to = ?, "
                "gone_at = ?, updated = ? WHERE id = ?",
                (now, where, now, now, file_ref),
            )

    def awaiting_disposal(self, source: str) -> list[FileRecord]:
        """Files of a source wholly read and wholly acknowledged, not yet moved or deleted."""
        rows = self.db.query(
            "SELECT * FROM files f WHERE f.source = ? AND f.state IN ('read', 'duplicate') "
            "AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.file_ref = f.id)",
            (source,),
        )
        return [FileRecord.from_row(r) for r in rows]

    def pending_batches(self, file_ref: int) -> int:
        """How many batches of a file are still in the outbox."""
        rows = self.db.query("SELECT COUNT(*) AS n FROM outbox WHERE file_ref = ?", (file_ref,))
        return int(rows[0]["n"])
