"""Watermarks: how far each context stream is complete, what a reading still waits for, and
that both come back the same from the state database after a restart.

The real context stages commit into a real state database; a second farm loads it as the
agent does at start.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from edge_agent.config.load import parse_config
from edge_agent.farm.records import TowerReading
from edge_agent.farm.service import Farm
from edge_agent.state.db import StateDB
from edge_agent.state.ledger import FileAdvance
from edge_agent.state.outbox import OutboxGauge
from edge_agent.state.writer import OutboxWriter
from simulators.datasets import builtin_dataset_mapping, cea_mapping

NAMES = ("tower", "site", "automation", "seeding")


def _farm(tmp_path: Path, **cea: Any) -> tuple[Farm, OutboxWriter]:
    config = parse_config(
        {
            "thingName": "gw",
            "stateDir": str(tmp_path / "state"),
            "sources": [{"name": n, "path": str(tmp_path / n), "dataset": n} for n in NAMES],
            "datasets": {n: builtin_dataset_mapping(n) for n in NAMES},
            "cea": cea_mapping(**cea),
        }
    )
    farm = Farm(config)
    db = StateDB(tmp_path / "state")
    farm.load(db)
    gauge = OutboxGauge(0, 1 << 40)
    writer = OutboxWriter(db, gauge, state_dir=tmp_path / "state", min_free_disk_bytes=0)
    return farm, writer


def _commit(farm: Farm, writer: OutboxWriter, kind: str, path: str, rows: list[dict[str, Any]]):
    record = writer.ledger.create(kind, path)
    stage = farm.open_stage(kind, record, {})
    for line, row in enumerate(rows, start=2):
        stage.take({**row, "line": line}, line)
    below = len(rows) + 2
    advance = FileAdvance(
        offset=1, next_line=below, state="read", size=1, mtime_ns=1, published=len(rows)
    )
    writer.commit([], advance=(record.id, advance), writes=lambda c: stage.write(c, below))
    stage.committed(below)


def _context(farm: Farm, writer: OutboxWriter) -> None:
    _commit(farm, writer, "site", "site/a.csv", [
        {"ts": f"2026-05-01T01:{m:02d}:30Z", "site_id": "site-01", "power_kw": 4.0}
        for m in (0, 5, 10, 30)  # a hole from 01:10:30 to 01:30:30
    ])  # fmt: skip
    _commit(farm, writer, "automation", "automation/a.csv", [
        {"ts": "2026-05-01T01:00:00Z", "tower_id": "tower-01", "state": "running"},
        {"ts": "2026-05-01T01:28:00Z", "tower_id": "tower-01", "state": "fault"},
    ])  # fmt: skip
    _commit(farm, writer, "seeding", "seeding/a.csv", [
        {"ts": "2026-05-01T00:30:00Z", "tower_id": "tower-01", "tray_id": "tray-01",
         "event": "seeded", "grow_id": "G-1"},
    ])  # fmt: skip


def _pending(farm: Farm, at: str, tower: str = "tower-01") -> tuple[str, ...]:
    record = {"ts": f"2026-05-01T{at}Z", "tower_id": tower, "station_id": "st-1",
              "tray_id": "tray-01"}  # fmt: skip
    return farm.enricher.join(record, TowerReading.from_record(record)).pending


def test_what_a_reading_waits_for(tmp_path: Path) -> None:
    farm, writer = _farm(tmp_path, waitFor=["site", "automation", "seeding"])
    _context(farm, writer)
    assert _pending(farm, "01:05:00") == ("seeding",)  # the seeding station said nothing since
    assert _pending(farm, "00:20:00") == ("site",)  # before the first site reading: a hole
    assert _pending(farm, "01:25:00") == ("site", "seeding")  # a hole in the site data
    assert _pending(farm, "01:31:00") == ("site", "automation", "seeding")  # past every mark
    assert _pending(farm, "01:05:00", tower="tower-02") == ("automation", "seeding")  # silent
    default, _ = _farm(tmp_path / "default")
    assert default.enricher.wait_for == {"site", "automation"}


def test_watermarks_come_back_the_same_after_a_restart(tmp_path: Path) -> None:
    farm, writer = _farm(tmp_path, waitFor=["site", "automation", "seeding"])
    _context(farm, writer)
    times = ["00:20:00", "01:05:00", "01:27:59", "01:28:00", "01:25:00", "01:30:30", "01:31:00"]
    before = {at: _pending(farm, at) for at in times}
    again, _ = _farm(tmp_path, waitFor=["site", "automation", "seeding"])
    assert {at: _pending(again, at) for at in times} == before
    assert again.state.site.watermark == farm.state.site.watermark
    assert again.state.automation["tower-01"].watermark == (
        farm.state.automation["tower-01"].watermark
    )
    assert again.state.seeding_watermarks == farm.state.seeding_watermarks


def test_rows_older_than_their_streams_watermark_are_named_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    farm, writer = _farm(tmp_path)
    _context(farm, writer)
    with caplog.at_level(logging.WARNING, logger="edge_agent.farm"):
        _commit(farm, writer, "automation", "automation/again.csv", [
            {"ts": "2026-05-01T01:28:00Z", "tower_id": "tower-01", "state": "fault"},
        ])  # fmt: skip
        assert not caplog.records  # the same row again (a file read again) is not late
        _commit(farm, writer, "automation", "automation/late.csv", [
            {"ts": "2026-05-01T01:10:00Z", "tower_id": "tower-01", "state": "irrigating"},
        ])  # fmt: skip
    [warning] = caplog.records
    assert "automation/late.csv" in warning.getMessage()
    assert "1080 s older" in warning.getMessage()
