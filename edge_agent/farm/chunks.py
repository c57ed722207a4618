"""Published tower readings kept for the correction window, a chunk per commit and tower.

Corrections need each published reading again (its record, its joins' signature) and alerts
need each station's readings in time order. One row per reading costs an insert and an index
entry per reading: a third of the pipeline's time. A chunk holds the readings one commit
published for one tower, as one JSON document of columns: two rows per commit instead of
hundreds. Lookups
(by time range, tower, tray, file lines) select chunks by their bounds and filter in memory;
over a 48-hour window a farm has a few hundred chunks.
"""

from __future__ import annotations

import bisect
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from edge_agent.state.db import StateDB


@dataclass(slots=True)
class Entry:
    """One published reading."""

    line: int
    ts: float
    station_id: str
    tray_id: str
    sig: str
    deviations: list[dict[str, Any]] | None
    revision: int
    late: bool
    record: dict[str, Any]  # the record as read, before its joins
    # The streams a late record was published without (None: not known, a chunk kept before
    # the agent recorded them).
    pending: list[str] | None = None

    def grow_id(self) -> str | None:
        """The Grow ID it was published with (the signature's first part)."""
        return self.sig.split("|", 1)[0] or None


@dataclass(slots=True)
class Chunk:
    """The readings of one tower one commit published (or a worker step released)."""

    id: int
    file_ref: int
    version: int
    tower_id: str
    entries: list[Entry]


class Columns:
    """A chunk being built, column by column (appending is all a reading pass pays per row).

    ``records`` are the records as read, already JSON-encoded (the pass encodes each anyway).
    """

    __slots__ = (
        "deviations",
        "lates",
        "lines",
        "pendings",
        "records",
        "revisions",
        "sigs",
        "stations",
        "timestamps",
        "trays",
    )

    def __init__(self) -> None:
        self.lines: list[int] = []
        self.timestamps: list[float] = []
        self.stations: list[str] = []
        self.trays: list[str] = []
        self.sigs: list[str] = []
        self.deviations: list[list[dict[str, Any]] | None] = []
        self.revisions: list[int] = []
        self.lates: list[bool] = []
        self.records: list[bytes] = []
        self.pendings: list[list[str] | None] = []

    def __len__(self) -> int:
        return len(self.lines)

    def add(
        self,
        line: int,
        ts: float,
        station_id: str,
        tray_id: str,
        *,
        sig: str,
        deviations: list[dict[str, Any]] | None,
        revision: int,
        late: bool,
        record: bytes,
        pending: list[str] | None = None,
    ) -> None:
        """One reading (``record``: its record as read, as JSON; ``pending``: the streams a
        late one went out without)."""
        self.lines.append(line)
        self.timestamps.append(ts)
        self.stations.append(station_id)
        self.trays.append(tray_id)
        self.sigs.append(sig)
        self.deviations.append(deviations)
        self.revisions.append(revision)
        self.lates.append(late)
        self.records.append(record)
        self.pendings.append(pending)

    def pop(self) -> None:
        """Take the last reading back out."""
        for name in self.__slots__:
            getattr(self, name).pop()

    def count_below(self, line: int) -> int:
        """How many readings are on lines before ``line`` (lines increase within a pass)."""
        return bisect.bisect_left(self.lines, line)

    def head(self, n: int) -> Columns:
        """A copy of the first ``n`` readings."""
        head = Columns()
        for name in self.__slots__:
            setattr(head, name, getattr(self, name)[:n])
        return head

    def drop_head(self, n: int) -> None:
        """Forget the first ``n`` readings."""
        for name in self.__slots__:
            del getattr(self, name)[:n]

    def data(self) -> bytes:
        """The chunk's ``data``: one JSON document (compressing it cost more time than the
        bytes it saved; the store is bounded by size instead, see farm/worker.py)."""
        document = {
            "line": self.lines,
            "ts": self.timestamps,
            "station": self.stations,
            "tray": self.trays,
            "sig": self.sigs,
            "deviations": self.deviations,
            "revision": self.revisions,
            "late": self.lates,
            "records": orjson.Fragment(b"[" + b",".join(self.records) + b"]"),
        }
        if any(self.pendings):  # most chunks have no late reading: no column of nulls
            document["pending"] = self.pendings
        return orjson.dumps(document)

    def bounds(self) -> tuple[float, float, int, int]:
        """(earliest ts, latest ts, first line, last line)."""
        return min(self.timestamps), max(self.timestamps), min(self.lines), max(self.lines)


def pack(entries: Sequence[Entry]) -> Columns:
    """Entries (a worker step's) as columns."""
    columns = Columns()
    for e in entries:
        columns.add(
            e.line,
            e.ts,
            e.station_id,
            e.tray_id,
            sig=e.sig,
            deviations=e.deviations,
            revision=e.revision,
            late=e.late,
            record=orjson.dumps(e.record),
            pending=e.pending,
        )
    return columns


def unpack(data: bytes) -> list[Entry]:
    """The entries of a chunk's ``data``."""
    raw = orjson.loads(data)
    pending = raw.get("pending")
    if pending is None:
        # No late reading in the chunk, or a chunk of an older agent: its late ones went out
        # without their pending streams recorded (None: corrected once they are complete).
        pending = [None if late else [] for late in raw["late"]]
    return [
        Entry(*fields)
        for fields in zip(
            raw["line"],
            raw["ts"],
            raw["station"],
            raw["tray"],
            raw["sig"],
            raw["deviations"],
            raw["revision"],
            raw["late"],
            raw["records"],
            pending,
            strict=True,
        )
    ]


def insert(
    conn: sqlite3.Connection, owner: tuple[int, int, str], columns: Columns, now: float
) -> None:
    """Add a chunk of ``owner`` (file_ref, version, tower) inside the caller's transaction."""
    file_ref, version, tower_id = owner
    conn.execute(
        "INSERT INTO farm_chunks (file_ref, version, tower_id, ts_min, ts_max, first_line, "
        "last_line, data, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (file_ref, version, tower_id, *columns.bounds(), columns.data(), now),
    )


def rewrite(conn: sqlite3.Connection, chunk: Chunk, now: float) -> None:
    """Store a chunk whose entries were corrected (inside the caller's transaction)."""
    conn.execute(
        "UPDATE farm_chunks SET data = ?, updated = ? WHERE id = ?",
        (pack(chunk.entries).data(), now, chunk.id),
    )


def load(db: StateDB, where: str = "1", params: Iterable[Any] = ()) -> list[Chunk]:
    """The chunks matching ``where`` (a condition on the chunk's columns), oldest first."""
    rows = db.query(
        f"SELECT id, file_ref, version, tower_id, data FROM farm_chunks WHERE {where} ORDER BY id",
        tuple(params),
    )
    return [
        Chunk(
            row["id"],
            row["file_ref"],
            row["version"],
            row["tower_id"],
            unpack(row["data"]),
        )
        for row in rows
    ]
