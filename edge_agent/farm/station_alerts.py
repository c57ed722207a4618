"""Alert evaluation per station, incremental in the common case.

Readings mostly arrive in event-time order, so each station keeps a :class:`RunTracker` with its
open runs and the time of the last reading it saw; newly published readings after that time are
fed on. Readings of a station from its first held one on wait (runs are judged on readings in
order, not on those that happen to be out first). A reading at or before the tracker's last one
(a late file), or a correction, makes the station start again from the readings kept in
``farm_chunks``: its alerts are recomputed and compared with the stored ones (new runs open,
ended runs close, runs that no longer exist are withdrawn).
"""

from __future__ import annotations

import math
from typing import Any

from edge_agent.farm import chunks
from edge_agent.farm.alerts import Run, RunTracker, StationReading, alert_message, restored, stored
from edge_agent.farm.recipes import RecipeBook
from edge_agent.state.db import StateDB

Write = tuple[str, tuple[Any, ...]]
Key = tuple[str, str]


class StationAlerts:
    """Alert state of every station (see the module docstring)."""

    def __init__(self, db: StateDB, recipes: RecipeBook, thing_name: str) -> None:
        self.db = db
        self.recipes = recipes
        self.thing_name = thing_name
        self._trackers: dict[Key, RunTracker] = {}
        self._pending: dict[Key, list[StationReading]] = {}
        self._full: set[Key] = set()
        # This round's reads: each tower's kept readings as station readings, by station.
        self._loaded: dict[str, dict[str, list[StationReading]]] = {}

    def add(self, key: Key, readings: list[StationReading]) -> None:
        """Readings of a station were published (in any order)."""
        self._pending.setdefault(key, []).extend(readings)

    def forget(self, key: Key) -> None:
        """Readings of the station already seen changed: start it again from the store."""
        self._trackers.pop(key, None)
        self._full.add(key)

    def begin(self) -> None:
        """A new round of evaluations: what the store holds may have changed since the last."""
        self._loaded.clear()

    def stations(self) -> list[Key]:
        """Stations with something to evaluate."""
        return sorted({*self._pending, *self._full})

    def evaluate(self, key: Key) -> tuple[list[dict[str, Any]], list[Write]]:
        """Alert messages and database writes for one station."""
        full = key in self._full
        self._full.discard(key)
        held = self.db.query(
            "SELECT MIN(ts) AS ts FROM farm_held WHERE tower_id = ? AND station_id = ?", key
        )[0]["ts"]
        until = math.inf if held is None else held
        pending = self._pending.pop(key, [])
        tracker = self._trackers.get(key)
        ready = sorted((r for r in pending if r.ts < until), key=lambda r: r.ts)
        waiting = [r for r in pending if r.ts >= until]
        if tracker is None or full or (ready and ready[0].ts <= tracker.last):
            return self._recompute(key, until)
        if waiting:
            self._pending[key] = waiting
        if not ready:
            return [], []
        oldest_open = min((r.since for r in tracker.open.values()), default=math.inf)
        ended = tracker.feed(ready)
        candidates = [*ended, *tracker.open.values()]
        floor = min(oldest_open, *(r.since for r in candidates)) if candidates else math.inf
        return self._reconcile(key, candidates, floor, withdraw=False)

    def _recompute(self, key: Key, until: float) -> tuple[list[dict[str, Any]], list[Write]]:
        tower_id, station_id = key
        readings = sorted(self._tower_readings(tower_id).get(station_id, ()), key=lambda r: r.ts)
        tracker = RunTracker()
        ready = [r for r in readings if r.ts < until]
        waiting = [r for r in readings if r.ts >= until]
        if waiting:
            self._pending[key] = waiting
        ended = tracker.feed(ready)
        self._trackers[key] = tracker
        if not ready:
            return [], []
        candidates = [*ended, *tracker.open.values()]
        return self._reconcile(key, candidates, ready[0].ts, withdraw=True)

    def _tower_readings(self, tower_id: str) -> dict[str, list[StationReading]]:
        """A tower's kept readings by station, read once per round (its stations recompute
        from them). The chunks stream past a few at a time and only what alerts need of each
        reading is kept: unpacking weeks of a tower's records at once stepped the RSS up."""
        found = self._loaded.get(tower_id)
        if found is None:
            found = self._loaded[tower_id] = {}
            for chunk in chunks.iterate(self.db, "tower_id = ?", (tower_id,)):
                for e in chunk.entries:
                    found.setdefault(e.station_id, []).append(
                        StationReading(e.ts, e.tray_id, e.grow_id(), e.deviations or [])
                    )
        return found

    def _reconcile(
        self, key: Key, candidates: list[Run], floor: float, *, withdraw: bool
    ) -> tuple[list[dict[str, Any]], list[Write]]:
        tower_id, station_id = key
        minimum = self.recipes.min_deviation_seconds(tower_id)
        qualifying = {(r.variable, r.since): r for r in candidates if r.seconds >= minimum}
        known = {
            (r["variable"], r["since"]): (r["state"], restored(r["data"]))
            for r in self.db.query(
                "SELECT variable, since, state, data FROM farm_alerts WHERE tower_id = ? AND "
                "station_id = ? AND since >= ?",
                (*key, floor),
            )
        }
        messages: list[dict[str, Any]] = []
        writes: list[Write] = []

        def emit(run: Run, event: str, reason: str = "") -> None:
            messages.append(
                alert_message(
                    run,
                    event,
                    thing_name=self.thing_name,
                    tower_id=tower_id,
                    station_id=station_id,
                    reason=reason,
                )
            )

        for alert_key, run in qualifying.items():
            state = "closed" if run.ended else "open"
            previous = known.get(alert_key)
            if previous is None:
                emit(run, "open")
                if run.ended:
                    emit(run, "close")
            elif previous[0] == "open" and run.ended:
                emit(run, "close")
            elif previous[0] == "closed" and not run.ended:
                emit(run, "open", "reopened: readings that ended it were corrected")
            elif previous[0] == "closed" and previous[1].last != run.last:
                emit(run, "close", "revised: corrected readings moved its end")
            if previous is None or previous[0] != state or stored(previous[1]) != stored(run):
                writes.append(
                    (
                        "INSERT OR REPLACE INTO farm_alerts (tower_id, station_id, variable, "
                        "since, until, state, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            tower_id,
                            station_id,
                            run.variable,
                            run.since,
                            run.last,
                            state,
                            stored(run),
                        ),
                    )
                )
        if withdraw:
            for alert_key, (_state, run) in known.items():
                if alert_key in qualifying:
                    continue
                emit(run, "withdraw", "the readings it was based on were corrected")
                writes.append(
                    (
                        "DELETE FROM farm_alerts WHERE tower_id = ? AND station_id = ? AND "
                        "variable = ? AND since = ?",
                        (tower_id, station_id, *alert_key),
                    )
                )
        return messages, writes
