"""The reference enrichment behind the tower ground truth: as-of joins and recipe alerts.

This is the answer key, computed while the data is generated; the tests recompute it a second
way from the files. Semantics (notes/cea-domain.md): the site reading is a backward as-of join
within a tolerance (nothing recent enough -> null and stale); the automation state holds until
it changes; an alert is a run of readings of one station with the same variable outside its
band that lasts at least the recipe's ``minDeviationSeconds``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from simulators.clock import from_iso_z, iso_z
from simulators.ops import Json
from simulators.recipe import Recipe

SITE_TOLERANCE: Final = timedelta(minutes=10)
KEEP: Final = timedelta(hours=3)


class AsOf:
    """Rows in time order; the latest one at or before a time."""

    def __init__(self) -> None:
        self._rows: deque[tuple[datetime, Json]] = deque()

    def add(self, ts: datetime, record: Json) -> None:
        """Add a row (rows come in time order)."""
        self._rows.append((ts, record))
        while self._rows and self._rows[0][0] < ts - KEEP:
            self._rows.popleft()

    def lookup(self, ts: datetime) -> tuple[datetime, Json] | None:
        """The latest row at or before ``ts``."""
        for row_ts, record in reversed(self._rows):
            if row_ts <= ts:
                return row_ts, record
        return None


def site_join(history: AsOf, ts: datetime) -> tuple[Json | None, bool]:
    """(joined site row, stale): the latest site row within the tolerance before ``ts``."""
    found = history.lookup(ts)
    if found is None or ts - found[0] > SITE_TOLERANCE:
        return None, True
    row_ts, record = found
    age = int((ts - row_ts).total_seconds())
    return {
        "ts": record["ts"],
        "ageSeconds": age,
        "file": record["file"],
        "line": record["line"],
    }, False


def automation_join(history: AsOf, ts: datetime) -> Json | None:
    """The automation row in force at ``ts`` (a state holds until the next row)."""
    found = history.lookup(ts)
    if found is None:
        return None
    record = found[1]
    return {
        "ts": record["ts"],
        "state": record["state"],
        "file": record["file"],
        "line": record["line"],
    }


@dataclass
class _Episode:
    start: datetime
    last: datetime
    low: float
    high: float
    readings: int = 1
    phases: list[str] = field(default_factory=list)


class AlertTracker:
    """Deviation episodes per (tower, station, variable), reported when long enough."""

    def __init__(self, recipe: Recipe) -> None:
        self._min = timedelta(seconds=recipe["minDeviationSeconds"])
        self._open: dict[tuple[str, str, str], _Episode] = {}

    def feed(self, record: Json) -> list[Json]:
        """Take one published tower reading (in time order per station); alerts that ended."""
        values = record["values"]
        tower_id, station_id = values["tower_id"], values["station_id"]
        ts = from_iso_z(record["ts"])
        deviating = {d["variable"]: d for d in record.get("deviations", [])}
        ended: list[Json] = []
        for key in [k for k in self._open if k[:2] == (tower_id, station_id)]:
            if key[2] not in deviating:
                ended.extend(self._close(key, ongoing=False))
        for variable, deviation in deviating.items():
            key = (tower_id, station_id, variable)
            value = float(deviation["value"])
            episode = self._open.get(key)
            if episode is None:
                episode = self._open[key] = _Episode(ts, ts, value, value)
            else:
                episode.last = ts
                episode.low = min(episode.low, value)
                episode.high = max(episode.high, value)
                episode.readings += 1
            if deviation["phase"] not in episode.phases:
                episode.phases.append(deviation["phase"])
        return ended

    def flush(self) -> list[Json]:
        """End every open episode (the period is over)."""
        ended: list[Json] = []
        for key in list(self._open):
            ended.extend(self._close(key, ongoing=True))
        return ended

    def _close(self, key: tuple[str, str, str], *, ongoing: bool) -> list[Json]:
        episode = self._open.pop(key)
        duration = episode.last - episode.start
        if duration < self._min:
            return []
        return [
            {
                "towerId": key[0],
                "stationId": key[1],
                "variable": key[2],
                "from": iso_z(episode.start),
                "to": iso_z(episode.last),
                "durationSeconds": int(duration.total_seconds()),
                "readings": episode.readings,
                "min": episode.low,
                "max": episode.high,
                "phases": episode.phases,
                "ongoing": ongoing,
            }
        ]
