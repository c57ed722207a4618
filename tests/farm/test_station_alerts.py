"""Alert evaluation per station: runs of deviating readings open and close alerts, the same
whether readings come in order, out of order, or corrected (then a vanished run is withdrawn)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent.config.farm import CeaConfig
from edge_agent.farm import chunks
from edge_agent.farm.alerts import RunTracker, StationReading
from edge_agent.farm.chunks import Columns
from edge_agent.farm.recipes import RecipeBook
from edge_agent.farm.schema import ensure_schema
from edge_agent.farm.station_alerts import StationAlerts
from edge_agent.state.db import StateDB
from simulators.datasets import cea_mapping

KEY = ("tower-01", "st-1")
T0 = 1_800_000_000.0


def _deviation(value: float) -> dict[str, Any]:
    return {"variable": "water_ph", "value": value, "min": 6.0, "max": 6.8, "phase": "growth"}


def _reading(minute: int, value: float | None) -> StationReading:
    deviations = [] if value is None else [_deviation(value)]
    return StationReading(T0 + 60 * minute, "tray-01", "GR-1", deviations)


def _series() -> list[StationReading]:
    """In band for 5 min, out of band for 20 (longer than the recipe's 15), back in band."""
    return [_reading(m, 7.2 + m / 100 if 5 <= m < 25 else None) for m in range(0, 30)]


class Alerts:
    """StationAlerts on a real state database; writes applied as the worker applies them."""

    def __init__(self, tmp_path: Path) -> None:
        self.db = StateDB(tmp_path / "state")
        ensure_schema(self.db)
        cea = CeaConfig.model_validate(cea_mapping())
        self.alerts = StationAlerts(self.db, RecipeBook(cea), "gw")

    def keep(self, readings: list[StationReading]) -> None:
        """Store readings as kept published readings (what recomputation reads)."""
        columns = Columns()
        for i, r in enumerate(readings):
            sig = f"{r.grow_id}|x|y"
            columns.add(
                (i + 2, r.ts, KEY[1], r.tray_id, sig, r.deviations or None, 0, False, b"{}", None)
            )
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM farm_chunks")
            chunks.insert(conn, (1, 1, KEY[0]), columns, 0.0)

    def evaluate(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        self.alerts.begin()
        for key in self.alerts.stations():
            found, writes = self.alerts.evaluate(key)
            messages += found
            with self.db.transaction() as conn:
                for sql, params in writes:
                    conn.execute(sql, params)
        return messages


@pytest.fixture
def alerts(tmp_path: Path) -> Iterator[Alerts]:
    a = Alerts(tmp_path)
    yield a
    a.db.close()


def _events(messages: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    return [(m["event"], m["since"], m.get("until")) for m in messages]


def test_readings_one_at_a_time_open_then_close_one_alert(alerts: Alerts) -> None:
    series = _series()
    alerts.keep(series)
    seen: list[dict[str, Any]] = []
    for reading in series:
        alerts.alerts.add(KEY, [reading])
        seen += alerts.evaluate()
    assert _events(seen) == [
        ("open", "2027-01-15T08:05:00Z", None),
        ("close", "2027-01-15T08:05:00Z", "2027-01-15T08:24:00Z"),
    ]
    assert seen[0]["readings"] >= 16  # opened once the run lasted 15 minutes, not before
    assert seen[1]["durationSeconds"] == 19 * 60


def test_a_short_excursion_raises_nothing(alerts: Alerts) -> None:
    series = [_reading(m, 7.5 if 5 <= m < 10 else None) for m in range(20)]
    alerts.keep(series)
    alerts.alerts.add(KEY, series)
    assert alerts.evaluate() == []


def test_readings_out_of_order_give_the_same_alert(alerts: Alerts) -> None:
    series = _series()
    alerts.keep(series)
    alerts.alerts.add(KEY, series[15:])  # a later file first
    first = alerts.evaluate()
    alerts.alerts.add(KEY, series[:15])  # then the earlier one: recomputed from the store
    second = alerts.evaluate()
    final = {m["alertId"]: m for m in first + second}
    assert [(m["event"], m["since"], m.get("until")) for m in final.values()] == [
        ("close", "2027-01-15T08:05:00Z", "2027-01-15T08:24:00Z")
    ]


def test_a_correction_that_removes_the_run_withdraws_its_alert(alerts: Alerts) -> None:
    series = _series()
    alerts.keep(series)
    alerts.alerts.add(KEY, series)
    assert [m["event"] for m in alerts.evaluate()] == ["open", "close"]
    corrected = [_reading(m, None) for m in range(30)]  # the readings were in band after all
    alerts.keep(corrected)
    alerts.alerts.forget(KEY)
    assert [m["event"] for m in alerts.evaluate()] == ["withdraw"]
    assert not alerts.db.query("SELECT 1 FROM farm_alerts")


def test_a_held_reading_makes_later_readings_of_its_station_wait(alerts: Alerts) -> None:
    series = _series()
    alerts.keep(series)
    with alerts.db.transaction() as conn:  # minute 10 is held for its context
        conn.execute(
            "INSERT INTO farm_held VALUES (1, 1, 99, ?, ?, 'tray-01', ?, x'7b7d', 0)",
            (*KEY, series[10].ts),
        )
    alerts.alerts.add(KEY, series[:10] + series[11:])
    assert alerts.evaluate() == []  # the run is not judged past a reading not out yet
    with alerts.db.transaction() as conn:
        conn.execute("DELETE FROM farm_held")
    alerts.alerts.add(KEY, [series[10]])
    assert [m["event"] for m in alerts.evaluate()] == ["open", "close"]


def test_the_tracker_carries_open_runs_across_feeds() -> None:
    tracker = RunTracker()
    series = _series()
    assert tracker.feed(series[:12]) == []
    assert set(tracker.open) == {"water_ph"}
    [ended] = tracker.feed(series[12:])
    assert (ended.since, ended.last, ended.readings) == (series[5].ts, series[24].ts, 20)
    assert (ended.low, ended.high) == (7.25, 7.44)
    assert tracker.open == {}
