"""``edge-agent preview``: the agent's reading pass over a local file, no broker, no state."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edge_agent.config.load import load_config
from edge_agent.errors import ConfigError
from edge_agent.reading.preview import show_preview


def _config(tmp_path: Path, datasets: dict[str, object], sources: list[object]) -> Path:
    path = tmp_path / "agent.yaml"
    document = {
        "thingName": "gw",
        "stateDir": str(tmp_path / "state"),
        "sources": sources,
        "datasets": datasets,
    }
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def _rows(n: int) -> str:
    return "ts,x,tag\n" + "".join(f"2026-11-27T00:00:{i % 60:02d}Z,{i},t{i}\n" for i in range(n))


def test_first_and_last_records_quarantine_entries_and_warnings(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    dataset = {"csv": {"timestampColumn": "ts"}, "columns": {"x": {"type": "int"}, "temp": {}}}
    config = load_config(
        _config(tmp_path, {"d": dataset}, [{"name": "s", "path": str(folder), "dataset": "d"}])
    )
    data = tmp_path / "export.csv"
    data.write_text(_rows(20) + "2026-11-27T00:01:00Z,oops,bad\n", encoding="utf-8")
    out = io.StringIO()
    assert show_preview(config, data, rows=2, out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("20 record(s), 1 quarantined, 0 skipped")
    assert lines[1:6] == [
        '{"ts":"2026-11-27T00:00:00Z","line":2,"x":0,"tag":"t0"}',
        '{"ts":"2026-11-27T00:00:01Z","line":3,"x":1,"tag":"t1"}',
        "  … 16 more …",
        '{"ts":"2026-11-27T00:00:18Z","line":20,"x":18,"tag":"t18"}',
        '{"ts":"2026-11-27T00:00:19Z","line":21,"x":19,"tag":"t19"}',
    ]
    assert lines[6] == "quarantined: line 22: column 'x': 'oops' is not an integer"
    assert lines[7] == "    2026-11-27T00:01:00Z,oops,bad"
    assert lines[8].startswith("warning: column 'temp' is mapped")
    assert not (tmp_path / "state").exists()  # no state touched


def test_the_dataset_is_the_one_of_the_source_whose_patterns_match(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    datasets = {"a": {"csv": {"timestampColumn": "ts"}}, "b": {"csv": {"timestampColumn": "x"}}}
    sources = [
        {"name": "sa", "path": str(folder), "include": ["*.csv"], "dataset": "a"},
        {"name": "sb", "path": str(folder), "include": ["*.log"], "dataset": "b"},
    ]
    config = load_config(_config(tmp_path, datasets, sources))
    data = tmp_path / "x.csv"
    data.write_text(_rows(3), encoding="utf-8")
    out = io.StringIO()
    show_preview(config, data, out=out)
    assert "dataset a (generic)" in out.getvalue()
    other = tmp_path / "x.txt"
    other.write_text(_rows(3), encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot tell which dataset"):
        show_preview(config, other, out=io.StringIO())


def test_the_command_refuses_a_file_whole_with_exit_1(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    dataset = {"csv": {"timestampColumn": "time"}}
    path = _config(tmp_path, {"d": dataset}, [{"name": "s", "path": str(folder), "dataset": "d"}])
    data = tmp_path / "export.csv"
    data.write_text(_rows(3), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "edge_agent", "preview", "--config", str(path), str(data)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "whole file" in done.stdout
    assert done.stderr == ""
