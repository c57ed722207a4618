"""The farm's record stages (``edge_agent.reading.stage.RecordStage``), one per pass over a file.

Context rows (site, automation, seeding) are published as read and kept as farm context;
seeding events carry their Grow ID (minted when the station left it empty). Tower readings are
tagged and joined as they are read: published at once when every context stream they wait
for is complete at their time (``farm/enrich.py``), otherwise held (``farm_held``) for the
farm worker to publish once it is, or after their grace period with ``late`` and ``pending``.

Whatever a stage keeps for a row is written only by the commit that covers that row
(``write(conn, below_line)`` takes the rows before ``below_line``) and applied to the in-memory
farm state only once that commit is durable, so a row read again after a stop or a crash is
never kept twice.
"""

from __future__ import annotations

import logging
import operator
import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import orjson

from edge_agent.batcher import encode
from edge_agent.datasets.generic import RowError
from edge_agent.farm import chunks
from edge_agent.farm.alerts import StationReading
from edge_agent.farm.chunks import Columns, Row
from edge_agent.farm.enrich import Enricher
from edge_agent.farm.joins import PassJoins
from edge_agent.farm.records import (
    AutomationState,
    Record,
    SeedingEvent,
    SiteReading,
)
from edge_agent.farm.state import Change, FarmState
from edge_agent.farm.timeline import mint_grow_id

T = TypeVar("T")
log = logging.getLogger("edge_agent.farm")


class _ContextStage(ABC, Generic[T]):
    """Rows that become farm context: typed, published as read, written with their file's
    offset, then applied to the in-memory state. Subclasses say how a record becomes a row of
    their table."""

    insert = ""  # INSERT OR REPLACE ... with one ? per column of ``row``

    def __init__(self, state: FarmState, notify: Callable[[], None], path: str = "") -> None:
        self._state = state
        self._notify = notify
        self._path = path
        self._warned = False
        self._pending: list[tuple[int, T, tuple[Any, ...]]] = []  # (line, item, row)

    @abstractmethod
    def parse(self, record: Record) -> tuple[T, tuple[Any, ...]] | None:
        """The typed row and its database row; None to publish it without keeping it."""

    @abstractmethod
    def apply(self, items: list[T]) -> float:
        """Committed: update the in-memory state. Returns how far (seconds) the latest new row
        that came after newer data of its stream is behind that stream's watermark."""

    def take(self, record: Record, line: int) -> bytes:
        """Keep the row's context (until its commit) and publish the record."""
        parsed = self.parse(record)
        text = encode(record)
        if parsed is not None:
            self._pending.append((line, *parsed))
        return text

    def drop(self, line: int) -> None:
        """The row at ``line`` was quarantined after all."""
        if self._pending and self._pending[-1][0] == line:
            self._pending.pop()

    def _count_below(self, below_line: int) -> int:
        n = 0
        for line, _item, _row in self._pending:
            if line >= below_line:
                break
            n += 1
        return n

    def write(self, conn: sqlite3.Connection, below_line: int) -> None:
        """Insert the context rows before ``below_line``."""
        n = self._count_below(below_line)
        if n:
            conn.executemany(self.insert, [row for _line, _item, row in self._pending[:n]])

    def committed(self, below_line: int) -> None:
        """Apply the committed rows to the in-memory state."""
        n = self._count_below(below_line)
        if n:
            behind = self.apply([item for _line, item, _row in self._pending[:n]])
            del self._pending[:n]
            self._notify()
            if behind > 0 and not self._warned:
                # Out of order: readings already published final in that span get corrected.
                self._warned = True
                log.warning(
                    "%s: rows %.0f s older than data already read of the same stream: "
                    "readings published final since then are corrected (docs/farm.md, "
                    "'When a reading is final')",
                    self._path or "a context file",
                    behind,
                )


class SiteStage(_ContextStage[SiteReading]):
    """Site rows: the readings of this gateway's site become the site timeline."""

    insert = "INSERT OR REPLACE INTO farm_site (site_id, ts, data) VALUES (?, ?, ?)"

    def parse(self, record: Record) -> tuple[SiteReading, tuple[Any, ...]] | None:
        """A reading of this gateway's site, or None (another site: published, not kept)."""
        reading = SiteReading.from_record(record)
        if reading.site_id != self._state.cea.site_id:
            return None
        return reading, (reading.site_id, reading.ts, encode(reading.values))

    def apply(self, items: list[SiteReading]) -> float:
        """Extend the site timeline."""
        return self._state.add_site(items)


class AutomationStage(_ContextStage[AutomationState]):
    """Automation rows: each tower's machine state over time."""

    insert = "INSERT OR REPLACE INTO farm_automation (tower_id, ts, data) VALUES (?, ?, ?)"

    def parse(self, record: Record) -> tuple[AutomationState, tuple[Any, ...]]:
        """The tower's state from this row on."""
        state = AutomationState.from_record(record)
        data = encode({"state": state.state, **state.values})
        return state, (state.tower_id, state.ts, data)

    def apply(self, items: list[AutomationState]) -> float:
        """Extend the towers' state timelines."""
        return self._state.add_automation(items)


class SeedingStage(_ContextStage[SeedingEvent]):
    """Seeding events: cycles open and close; the published event carries its Grow ID."""

    insert = (
        "INSERT OR REPLACE INTO farm_cycle_events (tower_id, tray_id, ts, event, grow_id) "
        "VALUES (?, ?, ?, ?, ?)"
    )

    def parse(self, record: Record) -> tuple[SeedingEvent, tuple[Any, ...]]:
        """The event, with ``growId`` (minted when empty) added to the published record."""
        e = SeedingEvent.from_record(record)
        if e.grow_id is not None:
            record["growId"], record["growIdMinted"] = e.grow_id, False
        elif e.event == "seeded":
            record["growId"] = mint_grow_id(e.tower_id, e.tray_id, e.ts)
            record["growIdMinted"] = True
        else:
            record["growId"], record["growIdMinted"] = None, False
        return e, (e.tower_id, e.tray_id, e.ts, e.event, e.grow_id)

    def apply(self, items: list[SeedingEvent]) -> float:
        """Open and close the trays' cycles."""
        return self._state.add_cycle_events(items)


class TowerStage:
    """Tower readings: joined now and published, or held for the grace period."""

    def __init__(
        self,
        enricher: Enricher,
        notify: Callable[[], None],
        *,
        file_ref: int,
        version: int,
        units: dict[str, str],
        grace_seconds: float,
    ) -> None:
        self._joins = PassJoins(enricher)
        self._state = enricher.state
        self._notify = notify
        self._file_ref = file_ref
        self._version = version
        self._units = units
        self._grace = grace_seconds
        self._sent: dict[str, Columns] = {}  # by tower, lines increasing
        self._held: list[tuple[Any, ...]] = []  # farm_held rows (the line is the third)
        # The line taken last and the list it went to (a chunk's rows or the held ones).
        self._last_line = -1
        self._last_in: list[Any] = self._held
        # The farm state's generation when the oldest uncommitted reading was joined, and
        # the first line not committed yet: context that arrived in between is looked at again.
        self._generation: int | None = None
        self._first_line: int | None = None
        self._units_written = False

    def take(self, record: Record, line: int) -> bytes | None:
        """The reading with its joins, or None when it is held for its context."""
        joins = self._joins
        ts = joins.seconds(record)
        tower_id = record.get("tower_id")
        station_id = record.get("station_id")
        tray_id = record.get("tray_id")
        if not (
            type(tower_id) is str
            and tower_id
            and type(station_id) is str
            and station_id
            and type(tray_id) is str
            and tray_id
        ):
            tower_id, station_id, tray_id = (_key(record, name) for name in _KEYS)
        if self._generation is None:
            self._generation = self._state.generation
        if self._first_line is None:
            self._first_line = line
        body, pending, sig, found = joins.join(record, ts, tower_id, tray_id)
        # The record as read is kept (for corrections, which join it again, and for held
        # readings); the published record is it with the joins appended.
        base = encode(record)
        if not pending or self._grace <= 0:
            if pending:
                late = b',"late":true,"pending":' + encode(list(pending)) + b"}"
            else:
                late = b',"late":false}'
            columns = self._sent.get(tower_id)
            if columns is None:
                columns = self._sent[tower_id] = Columns()
            rows = columns.rows
            rows.append(
                (
                    line,
                    ts,
                    station_id,
                    tray_id,
                    sig,
                    found,
                    0,
                    bool(pending),
                    base,
                    list(pending) if pending else None,
                )
            )
            self._last_line, self._last_in = line, rows
            return b"".join((base[:-1], b",", body, late))
        self._held.append(
            (
                self._file_ref,
                self._version,
                line,
                tower_id,
                station_id,
                tray_id,
                ts,
                base,
                time.time() + self._grace,
            )
        )
        self._last_line, self._last_in = line, self._held
        return None

    def drop(self, line: int) -> None:
        """The reading at ``line`` was quarantined after all (too large for a payload)."""
        if self._last_line == line:
            self._last_in.pop()
            self._last_line = -1

    def _held_below(self, below_line: int) -> int:
        n = 0
        for row in self._held:
            if row[2] >= below_line:
                break
            n += 1
        return n

    def write(self, conn: sqlite3.Connection, below_line: int) -> None:
        """Store the file's units (once), the held readings and the published readings kept
        for corrections, of the rows before ``below_line``."""
        if not self._units_written:
            conn.execute(
                "INSERT OR IGNORE INTO farm_files (file_ref, version, units) VALUES (?, ?, ?)",
                (self._file_ref, self._version, orjson.dumps(self._units)),
            )
        held = self._held_below(below_line)
        if held:
            conn.executemany(
                "INSERT OR REPLACE INTO farm_held (file_ref, version, line, tower_id, "
                "station_id, tray_id, ts, record, hold_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                self._held[:held],
            )
        now = time.time()
        for tower, columns in self._sent.items():
            n = columns.count_below(below_line)
            if n:
                owner = (self._file_ref, self._version, tower)
                chunks.insert(conn, owner, columns.head(n) if n < len(columns) else columns, now)

    def committed(self, below_line: int) -> None:
        """Tell the farm state and the worker what the commit published and held."""
        self._units_written = True
        sent: list[tuple[str, str, StationReading]] = []
        for tower, columns in self._sent.items():
            n = columns.count_below(below_line)
            if n:
                committed = columns.head(n) if n < len(columns) else columns
                sent += [
                    (tower, station, reading)
                    for station, readings in _by_station(committed).items()
                    for reading in readings
                ]
                columns.drop_head(n)
        held = self._held_below(below_line)
        del self._held[:held]
        if self._last_line < below_line:
            self._last_line = -1  # committed: no longer to be dropped
        if sent:
            self._state.readings_sent(sent)
        generation = self._generation
        if (
            generation is not None
            and self._first_line is not None
            and self._first_line < below_line
            and generation != self._state.generation
        ):
            # Context arrived while these readings were joined: look at them again.
            key = f"{self._file_ref}:{self._version}"
            self._state.readings_changed(
                [Change("file", None, key, self._first_line, below_line - 1)]
            )
        if sent or held or generation is not None:
            self._notify()
        if self._held or any(self._sent.values()):
            # A reading taken after this commit stays: keep the (older) generation, so its
            # joins are looked at again if context changed since; its line starts the range.
            self._first_line = below_line
        else:
            self._generation = None
            self._first_line = None


_KEYS = ("tower_id", "station_id", "tray_id")


def _key(record: Record, name: str) -> str:
    """A key field of a tower reading (``tower_id``, ...); RowError names it when missing."""
    value = record.get(name)
    if value is None or value == "":
        raise RowError(f"tower row without {name}: a tower dataset needs a {name} column")
    return value if type(value) is str else str(value)


def _by_station(columns: Columns) -> dict[str, list[StationReading]]:
    """What alert evaluation needs of a chunk, by station (see :func:`_turns`)."""
    rows: dict[str, list[Row]] = {}
    for row in columns.rows:
        rows.setdefault(row[2], []).append(row)
    found: dict[str, list[StationReading]] = {}
    for station, readings in rows.items():
        readings.sort(key=_TS)
        found[station] = [
            StationReading(row[1], row[3], row[4].split("|", 1)[0] or None, row[5] or [])
            for row in _turns([not row[5] for row in readings], readings)
        ]
    return found


_TS = operator.itemgetter(1)


def _turns(clean: list[bool], items: list[T]) -> list[T]:
    """What alerts need of a station's readings in time order (``clean``: in band): those out
    of band, the first back in band after them (it ends runs), and the first and the last (the
    tracker's bounds). A reading in band after another in band changes nothing."""
    last = len(items) - 1
    return [
        item for i, item in enumerate(items) if not (clean[i] and i and clean[i - 1]) or i == last
    ]
