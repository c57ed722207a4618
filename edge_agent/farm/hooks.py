"""The farm's part of one reading pass: typed records, joins, and rows for the commit.

A hook lives for one pass over one file (in the reading thread). ``take`` sees each record
the dataset layer built: it raises RowError (the row is quarantined) when the record lacks what
its kind needs, returns the record to publish (tower readings with their joins, seeding events
with their Grow ID), or None for a tower reading held until its context arrives. ``write`` runs
inside the transaction that advances the file, so the farm state and the file's offset move
together; ``committed`` updates the in-memory state once that transaction is durable.
"""

from __future__ import annotations

import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

import orjson

from edge_agent.batcher import encode
from edge_agent.farm import chunks
from edge_agent.farm.alerts import StationReading
from edge_agent.farm.chunks import Columns
from edge_agent.farm.enrich import Enricher
from edge_agent.farm.records import (
    AutomationState,
    Record,
    SeedingEvent,
    SiteReading,
    TowerReading,
)
from edge_agent.farm.state import Change, FarmState
from edge_agent.farm.timeline import mint_grow_id

T = TypeVar("T")


class PassHook(Protocol):
    """What the reading pass calls (see the module docstring)."""

    def take(self, record: Record, line: int) -> Record | bytes | None:
        """The record to publish (or its JSON, when the hook had to encode it anyway), None
        when it is held; RowError or EncodeError to quarantine it."""
        ...

    def discard(self, line: int) -> None:
        """The record taken last (at ``line``) was quarantined after all: forget it."""
        ...

    def write(self, conn: sqlite3.Connection) -> None:
        """Write what was taken since the last commit (inside the commit's transaction)."""
        ...

    def committed(self) -> None:
        """The transaction is durable: apply it to the in-memory state."""
        ...


class _ContextHook(ABC, Generic[T]):
    """Rows that become farm context: typed, written with their file's offset, then applied to
    the in-memory state. Subclasses say how a record becomes a row of their table."""

    insert = ""  # INSERT OR REPLACE ... with one ? per column of ``row``

    def __init__(self, state: FarmState, notify: Callable[[], None]) -> None:
        self._state = state
        self._notify = notify
        self._pending: list[tuple[T, tuple[Any, ...], int]] = []

    @abstractmethod
    def parse(self, record: Record) -> tuple[T, tuple[Any, ...]] | None:
        """The typed row and its database row; None to publish it without keeping it."""

    @abstractmethod
    def apply(self, items: list[T]) -> None:
        """Committed: update the in-memory state."""

    def take(self, record: Record, line: int) -> Record | bytes | None:
        parsed = self.parse(record)
        if parsed is not None:
            self._pending.append((*parsed, line))
        return record

    def discard(self, line: int) -> None:
        if self._pending and self._pending[-1][2] == line:
            self._pending.pop()

    def write(self, conn: sqlite3.Connection) -> None:
        conn.executemany(self.insert, [row for _item, row, _line in self._pending])

    def committed(self) -> None:
        if self._pending:
            self.apply([item for item, _row, _line in self._pending])
            self._pending = []
            self._notify()


class SiteHook(_ContextHook[SiteReading]):
    """Site rows: the readings of this gateway's site become the site timeline."""

    insert = "INSERT OR REPLACE INTO farm_site (site_id, ts, data) VALUES (?, ?, ?)"

    def parse(self, record: Record) -> tuple[SiteReading, tuple[Any, ...]] | None:
        reading = SiteReading.from_record(record)
        if reading.site_id != self._state.cea.site_id:
            return None
        return reading, (reading.site_id, reading.ts, encode(reading.values))

    def apply(self, items: list[SiteReading]) -> None:
        self._state.add_site(items)


class AutomationHook(_ContextHook[AutomationState]):
    """Automation rows: each tower's machine state over time."""

    insert = "INSERT OR REPLACE INTO farm_automation (tower_id, ts, data) VALUES (?, ?, ?)"

    def parse(self, record: Record) -> tuple[AutomationState, tuple[Any, ...]]:
        state = AutomationState.from_record(record)
        data = encode({"state": state.state, **state.values})
        return state, (state.tower_id, state.ts, data)

    def apply(self, items: list[AutomationState]) -> None:
        self._state.add_automation(items)


class SeedingHook(_ContextHook[SeedingEvent]):
    """Seeding events: cycles open and close; the published event carries its Grow ID."""

    insert = (
        "INSERT OR REPLACE INTO farm_cycle_events (tower_id, tray_id, ts, event, grow_id) "
        "VALUES (?, ?, ?, ?, ?)"
    )

    def parse(self, record: Record) -> tuple[SeedingEvent, tuple[Any, ...]]:
        e = SeedingEvent.from_record(record)
        if e.grow_id is not None:
            record["growId"], record["growIdMinted"] = e.grow_id, False
        elif e.event == "seeded":
            record["growId"] = mint_grow_id(e.tower_id, e.tray_id, e.ts)
            record["growIdMinted"] = True
        else:
            record["growId"], record["growIdMinted"] = None, False
        return e, (e.tower_id, e.tray_id, e.ts, e.event, e.grow_id)

    def apply(self, items: list[SeedingEvent]) -> None:
        self._state.add_cycle_events(items)


class TowerHook:
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
        self._enricher = enricher
        self._state = enricher.state
        self._notify = notify
        self._file_ref = file_ref
        self._version = version
        self._units = units
        self._grace = grace_seconds
        self._sent: dict[str, Columns] = {}  # by tower
        self._last_tower = ""
        self._held: list[tuple[Any, ...]] = []
        self._last: tuple[str, int] | None = None  # ("sent" | "held", line) of the last take
        self._generation: int | None = None
        self._lines: list[int] = []
        self._first_commit = True

    def take(self, record: Record, line: int) -> Record | bytes | None:
        reading = TowerReading.from_record(record)
        if self._generation is None:
            self._generation = self._state.generation
        joined = self._enricher.join(record, reading)
        if not self._lines:
            self._lines = [line, line]
        self._lines[1] = line
        if joined.complete or self._grace <= 0:
            late = not joined.complete
            fields = joined.fields
            fields["late"] = late
            # The record as read is kept for corrections (they join it again); the published
            # record is it with the joins appended: two small encodings, no copy of the dict.
            base = encode(record)
            text = base[:-1] + b"," + encode(fields)[1:]
            columns = self._sent.get(reading.tower_id)
            if columns is None:
                columns = self._sent[reading.tower_id] = Columns()
            columns.add(
                line,
                reading.ts,
                reading.station_id,
                reading.tray_id,
                sig=joined.sig,
                deviations=fields["deviations"] or None,
                revision=0,
                late=late,
                record=base,
            )
            self._last_tower = reading.tower_id
            self._last = ("sent", line)
            return text
        self._held.append(
            (
                self._file_ref,
                self._version,
                line,
                reading.tower_id,
                reading.station_id,
                reading.tray_id,
                reading.ts,
                encode(record),
                time.time() + self._grace,
            )
        )
        self._last = ("held", line)
        return None

    def discard(self, line: int) -> None:
        if self._last is None or self._last[1] != line:
            return
        if self._last[0] == "held":
            self._held.pop()
        else:
            self._sent[self._last_tower].pop()
        self._last = None

    def write(self, conn: sqlite3.Connection) -> None:
        if self._first_commit:
            conn.execute(
                "INSERT OR IGNORE INTO farm_files (file_ref, version, units) VALUES (?, ?, ?)",
                (self._file_ref, self._version, orjson.dumps(self._units)),
            )
        if self._held:
            conn.executemany(
                "INSERT OR REPLACE INTO farm_held (file_ref, version, line, tower_id, "
                "station_id, tray_id, ts, record, hold_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                self._held,
            )
        now = time.time()
        for tower, columns in self._sent.items():
            if columns:
                chunks.insert(conn, (self._file_ref, self._version, tower), columns, now)

    def committed(self) -> None:
        self._first_commit = False
        sent = [
            (tower, station, reading)
            for tower, columns in self._sent.items()
            for station, readings in _by_station(columns).items()
            for reading in readings
        ]
        if sent:
            self._state.readings_sent(sent)
        if self._generation is not None and self._generation != self._state.generation:
            # Context arrived while these readings were joined: look at them again.
            key = f"{self._file_ref}:{self._version}"
            self._state.readings_changed(
                [Change("file", None, key, self._lines[0], self._lines[1])]
            )
        if sent or self._held or self._generation is not None:
            self._notify()
        self._sent = {}
        self._held = []
        self._last = None
        self._lines = []
        self._generation = None


def _by_station(columns: Columns) -> dict[str, list[StationReading]]:
    """What alert evaluation needs of a chunk, by station (see :func:`_turns`)."""
    rows: dict[str, list[int]] = {}
    for i, station in enumerate(columns.stations):
        rows.setdefault(station, []).append(i)
    found: dict[str, list[StationReading]] = {}
    for station, indexes in rows.items():
        indexes.sort(key=columns.timestamps.__getitem__)
        found[station] = [
            StationReading(
                columns.timestamps[i],
                columns.trays[i],
                columns.sigs[i].split("|", 1)[0] or None,
                columns.deviations[i] or [],
            )
            for i in _turns([not columns.deviations[i] for i in indexes], indexes)
        ]
    return found


def _turns(clean: list[bool], items: list[int]) -> list[int]:
    """What alerts need of a station's readings in time order (``clean``: in band): those out
    of band, the first back in band after them (it ends runs), and the first and the last (the
    tracker's bounds). A reading in band after another in band changes nothing."""
    last = len(items) - 1
    return [
        item for i, item in enumerate(items) if not (clean[i] and i and clean[i - 1]) or i == last
    ]
