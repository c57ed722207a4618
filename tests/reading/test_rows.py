"""The row loop: commits, stops and a full outbox never lose or repeat a row."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from edge_agent.state.outbox import Outbox
from tests.reading.support import Reader, csv_rows


def test_a_full_outbox_ends_the_pass_after_a_commit_and_the_next_pass_goes_on(
    tmp_path: Path,
) -> None:
    reader = Reader(tmp_path, outbox_limit=64 * 1024)
    try:
        (reader.folder / "a.csv").write_bytes(csv_rows(20_000))
        outbox = Outbox(reader.db)
        passes = []
        lines: list[int] = []
        while True:
            result = reader.read("a.csv")
            passes.append(result)
            if result.complete:
                break
            # No thread waited for room: the pass ended, paused, with its rows committed.
            assert result.paused
            assert reader.gauge.full
            lines += [line for _version, line, _record in reader.published()]
            seqs = [item.seq for item in outbox.fetch(0, 10_000)]
            _refs, freed, _rows = outbox.acknowledge(seqs)  # the broker acknowledged them
            reader.gauge.remove(freed)
        lines += [line for _version, line, _record in reader.published()]
        assert len(passes) > 2
        assert sum(p.published for p in passes) == 20_000
        assert lines == list(range(2, 20_002))  # each row once, in order
        assert reader.record("a.csv").state == "read"
    finally:
        reader.close()


def test_a_stop_after_any_commit_then_the_rest_publishes_each_row_once(tmp_path: Path) -> None:
    reference = Reader(tmp_path / "ref")
    (reference.folder / "a.csv").write_bytes(csv_rows(5000))
    reference.read("a.csv")
    expected = [(line, r) for _v, line, r in reference.published()]
    commits = reference.commits
    reference.close()
    assert commits >= 3
    for stop_at in range(1, commits):
        reader = Reader(tmp_path / f"stop-{stop_at}")
        (reader.folder / "a.csv").write_bytes(csv_rows(5000))
        assert not reader.read_stopped("a.csv", after_commits=stop_at).complete
        assert reader.read("a.csv").complete
        assert [(line, r) for _v, line, r in reader.published()] == expected, stop_at
        reader.close()


def test_a_mapped_column_the_file_lacks_is_reported_once_per_file_version(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dataset = {
        "csv": {"timestampColumn": "ts"},
        "columns": {"temp": {"type": "float"}, "x": {"type": "int"}},
    }
    reader = Reader(tmp_path, dataset=dataset, mode="append")
    try:
        log = reader.folder / "a.csv"
        log.write_bytes(csv_rows(5))
        with caplog.at_level(logging.WARNING, logger="edge_agent.reading"):
            first = reader.read("a.csv")
            with log.open("ab") as f:
                f.write(csv_rows(3, start=5)[len(b"ts,x,tag\n") :])
            later = reader.read("a.csv")
        assert any("temp" in w for w in first.warnings)
        assert later.warnings == first.warnings  # the status keeps counting it
        said = [r for r in caplog.records if "temp" in r.getMessage()]
        assert len(said) == 1  # the log says it once, at the file's first rows
        assert later.published == 3
    finally:
        reader.close()
