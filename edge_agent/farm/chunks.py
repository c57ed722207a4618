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
import operator
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
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


# One reading of a chunk being built: line, ts, station, tray, sig, deviations, revision,
# late, record as read (JSON), pending.
Row = tuple[
    int, float, str, str, str, list[dict[str, Any]] | None, int, bool, bytes, list[str] | None
]
_LINE = operator.itemgetter(0)


class Columns:
    """A chunk being built (appending one tuple is all a reading pass pays per reading); it is
    stored column by column.

    ``records`` are the records as read, already JSON-encoded (the pass encodes each anyway).
    """

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: list[Row] = []

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, row: Row) -> None:
        """One reading (its record as read, as JSON; ``pending``: the streams a late one went
        out without)."""
        self.rows.append(row)

    def pop(self) -> None:
        """Take the last reading back out."""
        self.rows.pop()

    def count_below(self, line: int) -> int:
        """How many readings are on lines before ``line`` (lines increase within a pass)."""
        return bisect.bisect_left(self.rows, line, key=_LINE)

    def head(self, n: int) -> Columns:
        """A copy of the first ``n`` readings."""
        head = Columns()
        head.rows = self.rows[:n]
        return head

    def drop_head(self, n: int) -> None:
        """Forget the first ``n`` readings."""
        del self.rows[:n]

    def data(self) -> bytes:
        """The chunk's ``data``: one JSON document of columns (compressing it cost more time
        than the bytes it saved; the store is bounded by size instead, see farm/worker.py)."""
        lines, ts, stations, trays, sigs, deviations, revisions, lates, records, pendings = zip(
            *self.rows, strict=True
        )
        document = {
            "line": lines,
            "ts": ts,
            "station": stations,
            "tray": trays,
            "sig": sigs,
            "deviations": deviations,
            "revision": revisions,
            "late": lates,
            "records": orjson.Fragment(b"[" + b",".join(records) + b"]"),
        }
        if any(pendings):  # most chunks have no late reading: no column of nulls
            document["pending"] = pendings
        return orjson.dumps(document)

    def bounds(self) -> tuple[float, float, int, int]:
        """(earliest ts, latest ts, first line, last line)."""
        stamps = [row[1] for row in self.rows]
        return min(stamps), max(stamps), self.rows[0][0], self.rows[-1][0]


def pack(entries: Sequence[Entry]) -> Columns:
    """Entries (a worker step's) as columns."""
    columns = Columns()
    columns.rows = [
        (
            e.line,
            e.ts,
            e.station_id,
            e.tray_id,
            e.sig,
            e.deviations,
            e.revision,
            e.late,
            orjson.dumps(e.record),
            e.pending,
        )
        for e in entries
    ]
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


def iterate(
    db: StateDB, where: str = "1", params: Iterable[Any] = (), *, per_query: int = 16
) -> Iterator[Chunk]:
    """The chunks matching ``where``, oldest first, read ``per_query`` at a time: a change
    that touches weeks of readings (a tray's new cycle) never holds them all unpacked."""
    values = tuple(params)
    after = -1
    while True:
        rows = db.query(
            f"SELECT id, file_ref, version, tower_id, data FROM farm_chunks WHERE ({where}) "
            "AND id > ? ORDER BY id LIMIT ?",
            (*values, after, per_query),
        )
        for row in rows:
            yield Chunk(
                row["id"], row["file_ref"], row["version"], row["tower_id"], unpack(row["data"])
            )
        if len(rows) < per_query:
            return
        after = rows[-1]["id"]
