"""Each tower fault appears when asked, where the truth says, and not when not asked."""

from __future__ import annotations

import os
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from simulators.clock import from_iso_z
from simulators.tower.faults import TOWER_FAULTS, parse_faults
from simulators.truth import Truth, load_truth

from .conftest import TOWER_ARGS, generate


def faults_named(truth: Truth, name: str) -> list[dict[str, object]]:
    return [f for f in truth.faults if f["fault"] == name]


def mtime(path: Path) -> float:
    return os.stat(path).st_mtime


def test_no_faults_unless_asked(clean_tower_out: Path) -> None:
    truth = load_truth(clean_tower_out)
    assert truth.faults == []
    assert {r["outcome"] for r in truth.rows} == {"publish"}
    assert not list(clean_tower_out.rglob("* - Copy.csv"))
    for path in clean_tower_out.rglob("*.csv"):
        assert path.read_bytes().endswith(b"\n")
    # Only the first readings, before the site station's first row, have no site data.
    stale = {r["ts"][:16] for r in truth.rows if r.get("siteStale")}
    assert stale == {"2026-01-20T00:00"}


def test_every_fault_is_recorded(tower_truth: Truth) -> None:
    assert {f["fault"] for f in tower_truth.faults} == set(TOWER_FAULTS)


def test_duplicate_copy_has_same_bytes_and_old_mtime(tower_out: Path, tower_truth: Truth) -> None:
    (fault,) = faults_named(tower_truth, "duplicate")
    original, copy = tower_out / str(fault["file"]), tower_out / str(fault["copy"])
    assert copy.name.endswith(" - Copy.csv")
    assert copy.read_bytes() == original.read_bytes()
    assert mtime(copy) == mtime(original)
    rows = [r for r in tower_truth.rows if r["file"] == fault["copy"]]
    assert rows
    assert {(r["outcome"], r["reason"]) for r in rows} == {("skip", "duplicate_file")}


def test_half_written_file_stays_cut_in_batch_mode(tower_out: Path, tower_truth: Truth) -> None:
    (fault,) = faults_named(tower_truth, "half_written")
    assert fault["completed"] is False
    data = (tower_out / str(fault["file"])).read_text(encoding="utf-8")
    assert not data.endswith("\n")
    last = data.split("\n")[-1]
    assert len(data.split("\n")) == fault["line"]
    assert last.count(",") < 12
    (row,) = [
        r for r in tower_truth.rows if (r["file"], r["line"]) == (fault["file"], fault["line"])
    ]
    assert (row["outcome"], row["reason"]) == ("quarantine", "truncated")


def test_site_gap_has_no_site_rows(tower_out: Path, tower_truth: Truth) -> None:
    (fault,) = faults_named(tower_truth, "site_gap")
    start, end = from_iso_z(str(fault["from"])), from_iso_z(str(fault["to"]))
    site_rows = [r for r in tower_truth.rows if r["dataset"] == "site"]
    assert not [r for r in site_rows if start <= from_iso_z(r["ts"]) < end]
    hours = {r["file"] for r in site_rows}
    assert len(hours) == 48 - 3
    stale = [
        r
        for r in tower_truth.rows
        if r["dataset"] == "tower"
        and r["outcome"] == "publish"
        and start + timedelta(minutes=10) < from_iso_z(r["ts"]) < end
    ]
    assert stale
    assert all(r["siteStale"] and r["site"] is None for r in stale)


def sensor_values(truth: Truth, fault: dict[str, object]) -> list[float]:
    start, end = from_iso_z(str(fault["from"])), from_iso_z(str(fault["to"]))
    return [
        r["values"][fault["variable"]]
        for r in truth.rows
        if r["dataset"] == "tower"
        and r["outcome"] == "publish"
        and r["values"]["tower_id"] == fault["towerId"]
        and r["values"]["station_id"] == fault["stationId"]
        and start <= from_iso_z(r["ts"]) < end
    ]


def test_stuck_sensor_repeats_one_value(tower_truth: Truth) -> None:
    (fault,) = faults_named(tower_truth, "stuck")
    values = sensor_values(tower_truth, fault)
    assert len(values) > 30
    assert set(values) == {fault["value"]}


def test_drifting_sensor_climbs(tower_truth: Truth) -> None:
    (fault,) = faults_named(tower_truth, "drift")
    values = sensor_values(tower_truth, fault)
    assert values[-1] - values[0] > 0.6
    assert max(values) > 6.8  # out of the recipe band


def test_late_files_arrive_hours_later(tower_out: Path, tower_truth: Truth) -> None:
    late = faults_named(tower_truth, "late")
    assert {str(f["file"]).split("/")[0] for f in late} == {"tower", "site", "automation"}
    for fault in late:
        delivered = from_iso_z(str(fault["deliveredAt"]))
        assert delivered - from_iso_z(str(fault["naturalDeliveryAt"])) == timedelta(hours=3)
        assert mtime(tower_out / str(fault["file"])) == delivered.timestamp()


def test_reordered_files_arrive_newest_first(tower_out: Path, tower_truth: Truth) -> None:
    (fault,) = faults_named(tower_truth, "reorder")
    files = [tower_out / str(f) for f in fault["files"]]  # type: ignore[attr-defined]
    assert [p.name for p in files] == sorted((p.name for p in files), reverse=True)
    times = [mtime(p) for p in files]
    assert times == sorted(times)


def test_missing_readings_are_absent(tower_truth: Truth) -> None:
    missing = faults_named(tower_truth, "missing")
    assert len(missing) >= 6
    present = {
        (r["values"]["tower_id"], r["values"]["station_id"], r["ts"])
        for r in tower_truth.rows
        if r["dataset"] == "tower" and r["values"]
    }
    for fault in missing:
        assert (fault["towerId"], fault["stationId"], fault["ts"]) not in present
    counts = Counter((f["towerId"], f["stationId"]) for f in missing)
    assert max(counts.values()) >= 6  # the 30-minute outage


def test_tray_without_cycle_is_untracked_and_empty(tower_truth: Truth) -> None:
    (fault,) = faults_named(tower_truth, "no_cycle")
    start, end = from_iso_z(str(fault["from"])), from_iso_z(str(fault["to"]))
    rows = [
        r
        for r in tower_truth.rows
        if r["dataset"] == "tower"
        and r["outcome"] == "publish"
        and (r["values"]["tower_id"], r["values"]["tray_id"]) == (fault["towerId"], fault["trayId"])
        and start < from_iso_z(r["ts"]) < end
    ]
    assert rows
    assert all(r["tagStatus"] == "untracked" and r["values"]["height_mm"] < 5 for r in rows)


def test_bad_rows_are_garbled_in_the_file(tower_out: Path, tower_truth: Truth) -> None:
    bad = faults_named(tower_truth, "bad_rows")
    assert bad
    for fault in bad:
        line = (
            (tower_out / str(fault["file"]))
            .read_text(encoding="utf-8")
            .split("\n")[int(str(fault["line"])) - 1]
        )
        if fault["reason"] == "bad_value":
            assert ",ERR," in line
        else:
            assert line.count(",") == 11


def test_append_mode_grows_logs_and_cuts_the_tail(tmp_path: Path) -> None:
    out = generate(tmp_path, "tower", *TOWER_ARGS[:4], "--days", "1", "--append", "--faults", "all")
    truth = load_truth(out)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.csv")) == [
        "automation/tower-01.csv",
        "automation/tower-02.csv",
        "seeding/tower-01.csv",
        "seeding/tower-02.csv",
        "site/site-01.csv",
        *(f"tower/tower-0{t}/st-{s}.csv" for t in (1, 2) for s in (1, 2, 3)),
    ]
    (fault,) = faults_named(truth, "half_written")
    data = (out / str(fault["file"])).read_text(encoding="utf-8")
    assert not data.endswith("\n")
    assert len(data.split("\n")) == fault["line"]
    skipped = [r for r in truth.rows if r["outcome"] == "skip"]
    assert [(r["file"], r["reason"]) for r in skipped] == [(fault["file"], "incomplete_line")]


def test_fault_names_are_checked() -> None:
    assert parse_faults("all") == frozenset(TOWER_FAULTS)
    assert "late" not in parse_faults("all", append=True)
    with pytest.raises(ValueError, match="unknown fault"):
        parse_faults("stuck,wobbly")
    with pytest.raises(ValueError, match="growing logs"):
        parse_faults("duplicate", append=True)
