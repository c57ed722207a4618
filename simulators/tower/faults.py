"""Faults on demand for the tower simulator, decided once per run from the seed.

Every decision (which station, which hour) is drawn in a fixed order whatever faults are
enabled, so enabling one fault never moves another. Fault times are fractions of the period
(of the first 24 h when the run has no end).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from simulators.clock import floor_time
from simulators.tower.farm import STEP

TOWER_FAULTS: Final = (
    "missing",
    "stuck",
    "drift",
    "late",
    "reorder",
    "site_gap",
    "duplicate",
    "half_written",
    "no_cycle",
    "bad_rows",
)
NOT_IN_APPEND_MODE: Final = frozenset({"late", "reorder", "duplicate"})
HOUR = timedelta(hours=1)
MISSING_RATE = 0.01
BAD_ROW_RATE = 0.004
LATE_DELAY = timedelta(hours=3)
REORDER_HOURS = 3
SITE_GAP = timedelta(hours=3)
NO_CYCLE_FOR = timedelta(hours=24)
HALF_WRITTEN_COMPLETION = timedelta(minutes=15)

# ("tower", tower, station) | ("site", site) | ("automation", tower) | ("seeding", tower)
StreamKey = tuple[str, ...]


def parse_faults(text: str, *, append: bool = False) -> frozenset[str]:
    """``a,b,c`` or ``all`` as a set of fault names; ValueError names what is wrong."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        chosen = set(TOWER_FAULTS)
        if append:
            chosen -= NOT_IN_APPEND_MODE
        return frozenset(chosen)
    unknown = sorted(set(names) - set(TOWER_FAULTS))
    if unknown:
        raise ValueError(
            f"unknown fault(s) {', '.join(unknown)}; choose from {', '.join(TOWER_FAULTS)} or all"
        )
    if append and NOT_IN_APPEND_MODE & set(names):
        bad = ", ".join(sorted(NOT_IN_APPEND_MODE & set(names)))
        raise ValueError(f"{bad}: growing logs (--append) are never delivered as separate files")
    return frozenset(names)


@dataclass(frozen=True, slots=True)
class SensorWindow:
    """A sensor fault: one variable of one station, from ``start`` to ``end``."""

    tower_id: str
    station_id: str
    variable: str
    start: datetime
    end: datetime
    rate_per_hour: float = 0.0

    def covers(self, tower_id: str, station_id: str, at: datetime) -> bool:
        """Whether a reading of this station at ``at`` is affected."""
        return (
            tower_id == self.tower_id
            and station_id == self.station_id
            and self.start <= at < self.end
        )


class FaultPlan:
    """Where and when each enabled fault strikes."""

    def __init__(
        self,
        enabled: Iterable[str],
        *,
        seed: int,
        start: datetime,
        horizon: timedelta,
        towers: Sequence[tuple[str, Sequence[str]]],
        site_id: str,
    ) -> None:
        self.enabled = frozenset(enabled)
        rng = random.Random(f"{seed}:faults")
        self._missing_rng = random.Random(f"{seed}:faults:missing")
        self._bad_rng = random.Random(f"{seed}:faults:bad")

        def at(fraction: float, step: timedelta = HOUR) -> datetime:
            return floor_time(start + horizon * fraction, step)

        def station() -> StreamKey:
            tower_id, stations = rng.choice(list(towers))
            return ("tower", tower_id, rng.choice(list(stations)))

        self.missing_station = station()
        self.missing_from = at(0.3, STEP)
        self.missing_to = self.missing_from + 6 * STEP
        key = station()
        self.stuck = SensorWindow(key[1], key[2], "humidity_pct", at(0.25), at(0.25) + 4 * HOUR)
        key = station()
        self.drift = SensorWindow(
            key[1], key[2], "water_ph", at(0.4), at(0.4) + 12 * HOUR, rate_per_hour=0.08
        )
        late_tower = rng.choice(list(towers))[0]
        self.late: dict[tuple[StreamKey, datetime], timedelta] = {
            (station(), at(0.3)): LATE_DELAY,
            (("site", site_id), at(0.55)): LATE_DELAY,
            (("automation", late_tower), at(0.7)): LATE_DELAY,
        }
        self.reorder_key = station()
        self.reorder_from = at(0.15)
        self.site_gap_from = at(0.75)
        self.duplicate_key = station()
        self.duplicate_hour = at(0.45)
        self.half_written_key = station()
        self.half_written_hour = at(0.65)
        self.half_written_at = at(0.65, STEP)
        self.no_cycle_tower = rng.choice(list(towers))[0]
        self.no_cycle_from = at(0.2, STEP)
        self.bad_key = station()
        self.bad_from = at(0.1, STEP)
        self._stuck_value: float | None = None
        self._no_cycle_used = False
        self._bad_forced = False
        self._half_written_used = False

    def on(self, name: str) -> bool:
        """Whether fault ``name`` is enabled."""
        return name in self.enabled

    def missing(self, tower_id: str, station_id: str, at: datetime) -> bool:
        """Whether the reading of this station at ``at`` never gets written."""
        if not self.on("missing"):
            return False
        outage = self.missing_station == ("tower", tower_id, station_id)
        if outage and self.missing_from <= at < self.missing_to:
            return True
        return self._missing_rng.random() < MISSING_RATE

    def sensor(
        self, tower_id: str, station_id: str, at: datetime, values: dict[str, float]
    ) -> list[str]:
        """Apply a stuck or drifting sensor to ``values`` in place; the faults applied."""
        applied: list[str] = []
        if self.on("stuck") and self.stuck.covers(tower_id, station_id, at):
            if self._stuck_value is None:
                self._stuck_value = values[self.stuck.variable]
            values[self.stuck.variable] = self._stuck_value
            applied.append("stuck")
        if self.on("drift") and self.drift.covers(tower_id, station_id, at):
            hours = (at - self.drift.start) / HOUR
            values[self.drift.variable] += self.drift.rate_per_hour * hours
            applied.append("drift")
        return applied

    def stuck_value(self) -> float | None:
        """The value the stuck sensor repeats (once it is stuck)."""
        return self._stuck_value

    def late_delay(self, key: StreamKey, hour: datetime) -> timedelta | None:
        """Extra delivery delay of the file of ``key`` for ``hour``, if it is late."""
        if not self.on("late"):
            return None
        return self.late.get((key, hour))

    def reorder_position(self, key: StreamKey, hour: datetime) -> tuple[int, datetime] | None:
        """(index in the group, last hour of the group) if this file is delivered out of order."""
        if not self.on("reorder") or key != self.reorder_key:
            return None
        index = int((hour - self.reorder_from) / HOUR)
        if 0 <= index < REORDER_HOURS and hour == self.reorder_from + index * HOUR:
            return index, self.reorder_from + (REORDER_HOURS - 1) * HOUR
        return None

    def site_gap(self, at: datetime) -> bool:
        """Whether the site station writes nothing at ``at``."""
        return self.on("site_gap") and self.site_gap_from <= at < self.site_gap_from + SITE_GAP

    def duplicate(self, key: StreamKey, hour: datetime) -> bool:
        """Whether a copy of this file appears under another name."""
        return self.on("duplicate") and key == self.duplicate_key and hour == self.duplicate_hour

    def half_written(self, key: StreamKey, hour: datetime) -> bool:
        """Whether this interval file is delivered with its last line cut."""
        return (
            self.on("half_written")
            and key == self.half_written_key
            and hour == self.half_written_hour
        )

    def half_written_row(self, key: StreamKey, at: datetime) -> bool:
        """Growing logs: whether this row is the one written in two halves (once per run)."""
        if not self.on("half_written") or self._half_written_used or key != self.half_written_key:
            return False
        if at >= self.half_written_at:
            self._half_written_used = True
            return True
        return False

    def leave_empty(self, tower_id: str, at: datetime) -> datetime | None:
        """After this harvest, until when the tray stays empty, or None.

        Strikes once per run: the first harvest in the chosen tower after the fault time.
        """
        if not self.on("no_cycle") or self._no_cycle_used:
            return None
        if tower_id == self.no_cycle_tower and at >= self.no_cycle_from:
            self._no_cycle_used = True
            return at + NO_CYCLE_FOR
        return None

    def bad_row(self, tower_id: str, station_id: str, at: datetime) -> str | None:
        """How this reading is garbled (``bad_value`` or ``field_count``), or None."""
        if not self.on("bad_rows"):
            return None
        forced = (
            not self._bad_forced
            and self.bad_key == ("tower", tower_id, station_id)
            and at >= self.bad_from
        )
        if forced:
            self._bad_forced = True
            return "bad_value"
        if self._bad_rng.random() < BAD_ROW_RATE:
            return self._bad_rng.choice(("bad_value", "field_count"))
        return None
