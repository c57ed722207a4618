"""The typed records of the farm datasets, taken from rows the dataset layer already typed.

A farm row missing what its kind needs (a tower reading without a tray, a seeding event that is
neither ``seeded`` nor ``harvested``) is quarantined with a reason naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from edge_agent.datasets.generic import RowError

Record = dict[str, Any]
EVENTS = ("seeded", "harvested")


def epoch(ts: str) -> float:
    """Seconds since the epoch of a record's ``ts`` (UTC ISO 8601 with ``Z``)."""
    return datetime.fromisoformat(ts).timestamp()


def iso(seconds: float) -> str:
    """A record timestamp (UTC ISO 8601 with ``Z``) from seconds since the epoch."""
    text = datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None).isoformat()
    return text + "Z"


def _ts(record: Record, kind: str) -> float:
    ts = record.get("ts")
    if not isinstance(ts, str):
        raise RowError(f"{kind} row without a timestamp: set csv.timestampColumn of the dataset")
    return epoch(ts)


def _text(record: Record, name: str, kind: str) -> str:
    value = record.get(name)
    if value is None or value == "":
        raise RowError(f"{kind} row without {name}: a {kind} dataset needs a {name} column")
    return str(value)


@dataclass(frozen=True, slots=True)
class SeedingEvent:
    """A growth cycle starts (``seeded``) or ends (``harvested``) on a tray."""

    ts: float
    tower_id: str
    tray_id: str
    event: str
    grow_id: str | None

    @classmethod
    def from_record(cls, record: Record) -> SeedingEvent:
        """The event of a seeding row; RowError names what is missing."""
        event = _text(record, "event", "seeding").strip().lower()
        if event not in EVENTS:
            raise RowError(f"seeding event {event!r} is neither 'seeded' nor 'harvested'")
        grow_id = record.get("grow_id")
        return cls(
            _ts(record, "seeding"),
            _text(record, "tower_id", "seeding"),
            _text(record, "tray_id", "seeding"),
            event,
            str(grow_id) if grow_id not in (None, "") else None,
        )


@dataclass(frozen=True, slots=True)
class SiteReading:
    """Weather and energy of the site at one time."""

    ts: float
    site_id: str
    values: Record

    @classmethod
    def from_record(cls, record: Record) -> SiteReading:
        """The reading of a site row; RowError names what is missing."""
        site_id = _text(record, "site_id", "site")
        values = {k: v for k, v in record.items() if k not in ("ts", "line", "site_id")}
        return cls(_ts(record, "site"), site_id, values)


@dataclass(frozen=True, slots=True)
class AutomationState:
    """The machine state of a tower from one time until the next row."""

    ts: float
    tower_id: str
    state: str
    values: Record

    @classmethod
    def from_record(cls, record: Record) -> AutomationState:
        """The state of an automation row; RowError names what is missing."""
        values = {k: v for k, v in record.items() if k not in ("ts", "line", "tower_id")}
        return cls(
            _ts(record, "automation"),
            _text(record, "tower_id", "automation"),
            _text(record, "state", "automation"),
            values,
        )


@dataclass(frozen=True, slots=True)
class TowerReading:
    """One sensor station's reading of the tray in front of it."""

    ts: float
    tower_id: str
    station_id: str
    tray_id: str

    @classmethod
    def from_record(cls, record: Record) -> TowerReading:
        """The keys of a tower row; RowError names what is missing."""
        return cls(
            _ts(record, "tower"),
            _text(record, "tower_id", "tower"),
            _text(record, "station_id", "tower"),
            _text(record, "tray_id", "tower"),
        )
