"""Published tower readings kept for the correction window, a chunk per commit and tower.

Corrections need each published reading again (its record, its joins' signature) and alerts
need each station's readings in time order. One row per reading costs an insert and an index
entry per reading: a third of the pipeline's time. A chunk holds the readings one commit
published for one tower, as one JSON list: two rows per commit instead of hundreds. Lookups
(by time range, tower, tray, file lines) select chunks by their bounds and filter in memory;
over a 48-hour window a farm has a few hundred chunks.
"""

from __future__ import annotations

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


def pack(entries: Sequence[Entry]) -> bytes:
    """The ``data`` of a chunk: the records' field names once per layout, then each entry
    with its record's values only (a file's records share their names: a third of the bytes)."""
    layouts: dict[tuple[str, ...], int] = {}
    rows = []
    for e in entries:
        names = tuple(e.record)
        layout = layouts.setdefault(names, len(layouts))
        rows.append(
            [
                e.line,
                e.ts,
                e.station_id,
                e.tray_id,
                e.sig,
                e.deviations,
                e.revision,
                e.late,
                layout,
                list(e.record.values()),
            ]
        )
    return orjson.dumps({"names": list(layouts), "entries": rows})


def unpack(data: bytes) -> list[Entry]:
    """The entries of a chunk's ``data``."""
    raw = orjson.loads(data)
    names = raw["names"]
    entries = []
    for line, ts, station, tray, sig, devs, revision, late, layout, values in raw["entries"]:
        record = dict(zip(names[layout], values, strict=True))
        entries.append(Entry(line, ts, station, tray, sig, devs, revision, late, record))
    return entries


def _bounds(entries: Sequence[Entry]) -> tuple[float, float, int, int]:
    return (
        min(e.ts for e in entries),
        max(e.ts for e in entries),
        min(e.line for e in entries),
        max(e.line for e in entries),
    )


def insert(
    conn: sqlite3.Connection, owner: tuple[int, int, str], entries: Sequence[Entry], now: float
) -> None:
    """Add a chunk of ``owner`` (file_ref, version, tower) inside the caller's transaction."""
    file_ref, version, tower_id = owner
    conn.execute(
        "INSERT INTO farm_chunks (file_ref, version, tower_id, ts_min, ts_max, first_line, "
        "last_line, data, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (file_ref, version, tower_id, *_bounds(entries), pack(entries), now),
    )


def rewrite(conn: sqlite3.Connection, chunk: Chunk, now: float) -> None:
    """Store a chunk whose entries were corrected (inside the caller's transaction)."""
    conn.execute(
        "UPDATE farm_chunks SET data = ?, updated = ? WHERE id = ?",
        (pack(chunk.entries), now, chunk.id),
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
