"""Recipe alerts: runs of a station's readings outside a band, long enough to matter.

An alert is a run of consecutive readings of one station (in event-time order) with the same
variable outside its recipe band, from its first deviating reading (``since``) to its last,
lasting at least the recipe's ``minDeviationSeconds``. It *opens* when the run qualifies and
*closes* at the first reading of that station that is back in band. Runs are derived from the
readings in the state database, so files read late or out of order, and corrections, give the
same alerts as data read in order: readings of a station after one that is still held wait for
it, and an alert whose run no longer exists after a correction is withdrawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import orjson

from edge_agent.farm.records import iso


@dataclass(slots=True)
class Run:
    """A run of deviating readings of one variable."""

    variable: str
    since: float
    last: float
    readings: int = 1
    low: float = 0.0
    high: float = 0.0
    phases: list[str] = field(default_factory=list)
    latest: dict[str, Any] = field(default_factory=dict)
    grow_id: str | None = None
    tray_id: str | None = None
    ended: bool = False

    @property
    def seconds(self) -> float:
        """How long the run lasts (first to last deviating reading)."""
        return self.last - self.since


@dataclass(frozen=True, slots=True)
class StationReading:
    """What alert evaluation needs of one published reading."""

    ts: float
    tray_id: str
    grow_id: str | None
    deviations: list[dict[str, Any]]


class RunTracker:
    """Runs of one station, fed its readings in event-time order; the open ones carry over to
    the next feed (the farm worker keeps a tracker per station between steps)."""

    __slots__ = ("last", "open")

    def __init__(self) -> None:
        self.open: dict[str, Run] = {}
        self.last = -math.inf  # event time of the last reading fed

    def feed(self, readings: list[StationReading]) -> list[Run]:
        """Feed readings (after ``last``, in order); returns the runs they ended."""
        ended: list[Run] = []
        current = self.open
        for reading in readings:
            deviating = {d["variable"]: d for d in reading.deviations}
            if current:
                for variable in [v for v in current if v not in deviating]:
                    done = current.pop(variable)
                    done.ended = True
                    ended.append(done)
            for variable, deviation in deviating.items():
                value = float(deviation["value"])
                run = current.get(variable)
                if run is None:
                    run = current[variable] = Run(
                        variable, reading.ts, reading.ts, low=value, high=value
                    )
                else:
                    run.last = reading.ts
                    run.readings += 1
                    run.low = min(run.low, value)
                    run.high = max(run.high, value)
                if deviation["phase"] not in run.phases:
                    run.phases.append(deviation["phase"])
                run.latest = deviation
                run.grow_id = reading.grow_id
                run.tray_id = reading.tray_id
            self.last = reading.ts
        return ended


def alert_message(
    run: Run, event: str, *, thing_name: str, tower_id: str, station_id: str, reason: str = ""
) -> dict[str, Any]:
    """The alert as published. ``event``: ``open`` (the run lasted ``minDeviationSeconds``),
    ``close`` (a reading back in band ended it) or ``withdraw`` (corrected readings show the run
    never was: a consumer drops the alert)."""
    latest = run.latest
    message: dict[str, Any] = {
        "v": 1,
        "event": event,
        "alertId": alert_id(tower_id, station_id, run.variable, run.since),
        "thingName": thing_name,
        "towerId": tower_id,
        "stationId": station_id,
        "trayId": run.tray_id,
        "growId": run.grow_id,
        "variable": run.variable,
        "value": latest.get("value"),
        "min": latest.get("min"),
        "max": latest.get("max"),
        "setpoint": latest.get("setpoint"),
        "phase": latest.get("phase"),
        "since": iso(run.since),
        "ts": iso(run.last),
        "readings": run.readings,
        "low": run.low,
        "high": run.high,
        "phases": run.phases,
    }
    if event == "close":
        message["until"] = iso(run.last)
        message["durationSeconds"] = round(run.seconds)
    if reason:
        message["reason"] = reason
    return message


def alert_id(tower_id: str, station_id: str, variable: str, since: float) -> str:
    """Stable identity of an alert: station, variable and start."""
    return f"{tower_id}/{station_id}/{variable}/{iso(since)}"


def stored(run: Run) -> bytes:
    """A run as kept in ``farm_alerts.data``."""
    return orjson.dumps(
        {
            "variable": run.variable,
            "since": run.since,
            "last": run.last,
            "readings": run.readings,
            "low": run.low,
            "high": run.high,
            "phases": run.phases,
            "latest": run.latest,
            "growId": run.grow_id,
            "trayId": run.tray_id,
        }
    )


def restored(data: bytes) -> Run:
    """A run from ``farm_alerts.data``."""
    raw = orjson.loads(data)
    return Run(
        raw["variable"],
        raw["since"],
        raw["last"],
        readings=raw["readings"],
        low=raw["low"],
        high=raw["high"],
        phases=raw["phases"],
        latest=raw["latest"],
        grow_id=raw["growId"],
        tray_id=raw["trayId"],
    )
