"""The tower simulator's files have the DESIGN.md layouts, and the truth agrees with them.

Every expected join is recomputed here a second way, from the CSV files alone: Grow ID
intervals from the seeding files, the site row by brute force, the automation state as of the
reading, recipe deviations from the recipe data.
"""

from __future__ import annotations

import csv
import itertools
import math
import re
from bisect import bisect_right
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from statistics import mean
from typing import Any

import pytest

from simulators.clock import from_iso_z
from simulators.recipe import DEFAULT_RECIPE, phase_for_day
from simulators.tower.files import HEADERS
from simulators.truth import Truth

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def csv_files(root: Path, kind: str) -> list[Path]:
    return sorted((root / kind).rglob("*.csv"))


def rows_of(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line, row) of a well-formed file; malformed rows are left out."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return [
            (reader.line_num, row)
            for row in reader
            if None not in row and None not in row.values() and "Copy" not in path.name
        ]


def by_kind(root: Path, kind: str) -> list[dict[str, str]]:
    return [
        row | {"_file": p.relative_to(root).as_posix(), "_line": str(n)}
        for p in csv_files(root, kind)
        for n, row in rows_of(p)
    ]


def readings(truth: Truth) -> list[dict[str, Any]]:
    return [r for r in truth.rows if r["dataset"] == "tower" and r["outcome"] == "publish"]


def test_files_have_the_design_layouts(tower_out: Path) -> None:
    for kind, header in HEADERS.items():
        files = csv_files(tower_out, kind)
        assert files, kind
        for path in files:
            data = path.read_bytes()
            assert not data.startswith(b"\xef\xbb\xbf")
            assert b"\r" not in data
            text = data.decode("utf-8")
            assert text.split("\n", 1)[0] == header
            for line in text.splitlines()[1:]:
                assert ISO_Z.match(line.split(",", 1)[0]), (path, line)


def test_every_row_has_one_truth_record(tower_out: Path, tower_truth: Truth) -> None:
    expected: dict[str, set[int]] = defaultdict(set)
    for row in tower_truth.rows:
        expected[row["file"]].add(row["line"])
    on_disk = {
        p.relative_to(tower_out).as_posix(): p
        for kind in HEADERS
        for p in csv_files(tower_out, kind)
    }
    assert set(expected) == set(on_disk)
    for name, path in on_disk.items():
        lines = path.read_text(encoding="utf-8").split("\n")
        data_lines = {n for n in range(2, len(lines) + 1) if lines[n - 1]}
        assert expected[name] == data_lines, name
    assert len(tower_truth.rows) == len({(r["file"], r["line"]) for r in tower_truth.rows})


def test_truth_values_match_the_cells(tower_out: Path, tower_truth: Truth) -> None:
    cells: dict[tuple[str, int], dict[str, str]] = {}
    for kind in HEADERS:
        for row in by_kind(tower_out, kind):
            cells[(row["_file"], int(row["_line"]))] = row
    for record in tower_truth.rows:
        if record["outcome"] != "publish":
            continue
        row = cells[(record["file"], record["line"])]
        assert record["ts"] == row["timestamp"]
        for name, value in record["values"].items():
            text = row[name]
            if value is None:
                assert text in ("", "NaN"), (record, name)
            elif isinstance(value, bool):
                assert text == str(value).lower()
            elif isinstance(value, float):
                assert math.isclose(float(text), value), (record, name)
            else:
                assert text == str(value)


def test_grow_ids_follow_the_seeding_intervals(tower_out: Path, tower_truth: Truth) -> None:
    intervals: dict[tuple[str, str], list[list[Any]]] = defaultdict(list)
    for row in sorted(by_kind(tower_out, "seeding"), key=lambda r: r["timestamp"]):
        key = (row["tower_id"], row["tray_id"])
        at = from_iso_z(row["timestamp"])
        if row["event"] == "seeded":
            intervals[key].append([at, None, row["grow_id"]])
        else:
            assert intervals[key][-1][1] is None
            assert intervals[key][-1][2] == row["grow_id"]
            intervals[key][-1][1] = at
    untracked = 0
    for record in readings(tower_truth):
        values, ts = record["values"], from_iso_z(record["ts"])
        found = [
            c
            for c in intervals[(values["tower_id"], values["tray_id"])]
            if c[0] <= ts and (c[1] is None or ts < c[1])
        ]
        assert len(found) <= 1
        if not found:
            untracked += 1
            assert record["tagStatus"] == "untracked"
            assert record["growId"] is None
            assert record["dayOfCycle"] is None
            continue
        seeded, _, grow_id = found[0]
        assert record["tagStatus"] == "tagged"
        assert record["growId"] == (grow_id or None)
        assert record["growIdMinted"] == (grow_id == "")
        assert record["dayOfCycle"] == (ts - seeded).days
        assert record["cycle"]["seededAt"] == seeded.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert untracked > 0  # the no_cycle fault
    assert any(r["growIdMinted"] for r in readings(tower_truth))


def test_cycles_last_six_to_eight_days(tower_truth: Truth) -> None:
    harvested = [c for c in tower_truth.cycles if c["harvestedAt"]]
    assert harvested
    for cycle in harvested:
        days = (from_iso_z(cycle["harvestedAt"]) - from_iso_z(cycle["seededAt"])) / timedelta(
            days=1
        )
        assert cycle["targetDays"] <= days < cycle["targetDays"] + 0.05
        assert 6 <= days < 8.05
    assert {c["targetDays"] for c in tower_truth.cycles} <= {6, 7, 8}


def test_site_join_by_brute_force(tower_out: Path, tower_truth: Truth) -> None:
    site = sorted(from_iso_z(r["timestamp"]) for r in by_kind(tower_out, "site"))
    stale = 0
    for record in readings(tower_truth):
        ts = from_iso_z(record["ts"])
        before = [s for s in site if s <= ts and ts - s <= timedelta(minutes=10)]
        if not before:
            stale += 1
            assert record["site"] is None
            assert record["siteStale"] is True
        else:
            assert record["siteStale"] is False
            assert from_iso_z(record["site"]["ts"]) == max(before)
            assert record["site"]["ageSeconds"] == (ts - max(before)).total_seconds()
    assert stale > 0  # the site gap


def test_automation_state_as_of_the_reading(tower_out: Path, tower_truth: Truth) -> None:
    states: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for row in by_kind(tower_out, "automation"):
        states[row["tower_id"]].append((from_iso_z(row["timestamp"]), row["state"]))
    for rows in states.values():
        rows.sort()
    for record in readings(tower_truth):
        rows = states[record["values"]["tower_id"]]
        index = bisect_right([t for t, _ in rows], from_iso_z(record["ts"])) - 1
        assert index >= 0
        assert from_iso_z(record["automation"]["ts"]) == rows[index][0]
        assert record["automation"]["state"] == rows[index][1]


def test_recipe_deviations_recomputed(tower_truth: Truth) -> None:
    deviating = 0
    for record in readings(tower_truth):
        day = record["dayOfCycle"]
        expected = []
        if day is not None:
            phase = phase_for_day(DEFAULT_RECIPE, day)
            assert phase is not None
            for variable, band in phase["bands"].items():
                value = record["values"][variable]
                if value is not None and not band["min"] <= value <= band["max"]:
                    expected.append(variable)
        assert [d["variable"] for d in record["deviations"]] == expected
        deviating += bool(expected)
    assert deviating > 0  # the drifting pH sensor
    assert any(a["variable"] == "water_ph" for a in tower_truth.alerts)


def test_values_follow_growth_curves_and_ranges(tower_out: Path, tower_truth: Truth) -> None:
    seed_kg = {
        r["cycle"]["seededAt"] + r["values"]["tray_id"] + r["values"]["tower_id"]: r["values"][
            "seed_kg"
        ]
        for r in tower_truth.rows
        if r["dataset"] == "seeding" and r["values"]["event"] == "seeded"
    }
    early, late, ratios = [], [], []
    for record in readings(tower_truth):
        values, day = record["values"], record["dayOfCycle"]
        assert 15 <= values["air_temp_c"] <= 35
        assert 40 <= values["humidity_pct"] <= 90
        assert 400 <= values["co2_ppm"] <= 1700
        assert 17 <= values["water_temp_c"] <= 21
        if day is None:
            continue
        if day <= 1:
            early.append(values["height_mm"])
        if day >= 6:
            late.append(values["height_mm"])
            key = record["cycle"]["seededAt"] + values["tray_id"] + values["tower_id"]
            ratios.append(values["weight_kg"] / seed_kg[key])
    assert max(early) < 10
    assert 150 <= mean(late) <= 300
    assert 4.5 <= mean(ratios) <= 7.5
    by_hour: dict[int, list[float]] = defaultdict(list)
    for record in readings(tower_truth):
        by_hour[from_iso_z(record["ts"]).hour].append(record["values"]["air_temp_c"])
    assert mean(by_hour[15]) > mean(by_hour[3]) + 1.5


def test_energy_counter_only_grows_or_wraps(tower_out: Path) -> None:
    rows = sorted(by_kind(tower_out, "site"), key=lambda r: r["timestamp"])
    counters = [float(r["energy_kwh_total"]) for r in rows]
    for before, after in itertools.pairwise(counters):
        assert after > before or before - after > 90_000


@pytest.mark.parametrize("kind", ["tower", "automation", "site"])
def test_one_file_per_stream_per_hour(tower_out: Path, kind: str) -> None:
    for path in csv_files(tower_out, kind):
        if "Copy" in path.name:
            continue
        hour = datetime.strptime(path.stem, "%Y%m%dT%H").strftime("%Y-%m-%dT%H")
        for _, row in rows_of(path):
            assert row["timestamp"].startswith(hour)
