"""The truth comparison helper: a perfect agent passes, every kind of error is reported."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from simulators.clock import from_iso_z
from simulators.truth import Truth, compare, load_truth, path_of, published_from_truth


def tower_records(truth: Truth) -> list[dict[str, Any]]:
    return published_from_truth(truth.rows_for("tower", "site", "seeding", "automation"))


def test_a_perfect_agent_matches(tower_truth: Truth, factory_truth: Truth) -> None:
    diff = compare(tower_truth.rows, tower_records(tower_truth))
    assert diff.ok, str(diff)
    assert diff.expected == sum(r["outcome"] == "publish" for r in tower_truth.rows)
    diff = compare(factory_truth.rows, published_from_truth(factory_truth.rows))
    assert diff.ok, str(diff)


def test_missing_unexpected_mismatched_duplicated(tower_truth: Truth) -> None:
    records = tower_records(tower_truth)
    readings = [r for r in records if "tagStatus" in r]
    tagged = next(r for r in readings if r["growId"] and not r["growId"].startswith("minted:"))
    quarantined = next(r for r in tower_truth.rows if r["outcome"] == "quarantine")
    broken = [
        dict(tagged, growId="GR-wrong", air_temp_c=99.0),
        {"path": quarantined["file"], "line": quarantined["line"], "ts": quarantined["ts"]},
        {"path": "tower/nowhere.csv", "line": 2, "ts": "2026-01-20T00:00:00Z"},
        readings[1],
    ]
    gone = readings[-1]
    assert gone is not tagged
    kept = [r for r in records if r is not tagged and r is not gone]
    diff = compare(tower_truth.rows, kept + broken)
    assert not diff.ok
    assert [(r["file"], r["line"]) for r in diff.missing] == [(gone["path"], gone["line"])]
    assert {m.field for m in diff.mismatched} == {"growId", "air_temp_c"}
    assert len(diff.unexpected) == 2
    assert len(diff.duplicated) == 1
    report = str(diff)
    assert "1 missing, 2 unexpected, 2 mismatched, 1 duplicated" in report
    assert "expected quarantine" in report
    assert "GR-wrong" in report


def test_minted_grow_ids_must_be_consistent(tower_truth: Truth) -> None:
    records = tower_records(tower_truth)
    minted = [r for r in records if str(r.get("growId", "")).startswith("minted:")]
    assert len(minted) > 2
    minted[0]["growId"] = "something-else"
    minted[1]["growId"] = None
    diff = compare(tower_truth.rows, records)
    assert {m.field for m in diff.mismatched} == {"growId"}
    assert len(diff.mismatched) >= 1


def test_source_relative_paths_and_quarantine(tower_truth: Truth) -> None:
    rows = tower_truth.rows_for("site")
    records = published_from_truth(rows)
    for record in records:
        record["source"] = {"path": record.pop("path").removeprefix("site/")}
    assert compare(rows, records, prefix="site").ok
    for record in records:
        record["source"]["path"] = record["source"]["path"].removeprefix("site-01/")
    assert compare(rows, records).ok  # unique suffix
    towers = tower_truth.rows_for("tower")
    bad = [
        {"path": r["file"], "line": r["line"], "reason": r["reason"]}
        for r in towers
        if r["outcome"] == "quarantine"
    ]
    published = published_from_truth(towers)
    assert compare(towers, published, quarantined=bad).ok
    diff = compare(towers, published, quarantined=bad[1:])
    assert len(diff.missing) == 1
    assert diff.missing[0]["outcome"] == "quarantine"


def test_datasets_filter_and_overwritten_rows(factory_truth: Truth) -> None:
    wincc = factory_truth.rows_for("wincc")
    final = [r for r in wincc if not (r["file"].endswith("_0.csv") and r["version"] == 1)]
    assert len(final) < len(wincc)
    assert compare(factory_truth.rows, published_from_truth(final), datasets={"wincc"}).ok
    strict = compare(wincc, published_from_truth(final), require_overwritten=True)
    assert strict.missing


def test_a_dst_repeat_may_be_read_either_way(factory_truth: Truth) -> None:
    rows = [
        r for r in factory_truth.rows if r.get("ambiguousLocalTime") and r["outcome"] == "publish"
    ]
    records = published_from_truth(rows)
    for record in records:
        shifted = from_iso_z(record["ts"]) - timedelta(hours=1)
        record["ts"] = shifted.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert compare(rows, records).ok
    records[0]["ts"] = "2026-10-25T05:00:00Z"
    assert [m.field for m in compare(rows, records).mismatched] == ["ts"]


def test_load_truth_needs_the_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no ground truth"):
        load_truth(tmp_path)
    with pytest.raises(KeyError, match="source path"):
        path_of({"line": 1})
