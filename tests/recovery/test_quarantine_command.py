"""``edge-agent quarantine``: the quarantined lines of a stopped agent with file, line, reason and
the full raw line (read back from the file when the entry had to cut it); lines of files read
again since are history; wrong arguments exit 2 with what to give."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_agent.publish.fake import FakePublisher
from edge_agent.quarantine_list import show_quarantine
from tests.agent.support import file_states, running_agent, until
from tests.cli import edge_agent

LONG = 10_000  # characters in the bad value of the long row: more than an entry keeps


def _config(tmp_path: Path) -> dict[str, Any]:
    inbox = tmp_path / "in"
    inbox.mkdir(exist_ok=True)
    return {
        "thingName": "gw-1",
        "stateDir": str(tmp_path / "state"),
        "sources": [
            {"name": "line1", "path": str(inbox), "settleSeconds": 0.1, "dataset": "line1"}
        ],
        "datasets": {
            "line1": {"csv": {"timestampColumn": "ts"}, "columns": {"v0": {"type": "float"}}}
        },
        "publish": {"maxPublishesPerSecond": None, "maxBytesPerSecond": None},
        "health": {"port": None, "heartbeatSeconds": None},
    }


def _write_config(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


async def _ingest(config: dict[str, Any], files: dict[str, str], wanted: dict[str, str]) -> None:
    """Run an agent until the files are in the ledger in the wanted states, then stop it."""
    inbox = Path(config["sources"][0]["path"])
    state = Path(config["stateDir"])
    async with running_agent(config, publisher=FakePublisher()):
        for name, text in files.items():
            (inbox / name).write_text(text, encoding="utf-8")
        await until(
            lambda: all(file_states(state).get(n) == s for n, s in wanted.items()),
            what=f"files {wanted}",
        )


def _version(state: Path, name: str) -> tuple[int, str] | None:
    with contextlib.closing(sqlite3.connect(state / "edge-agent.db")) as conn:
        row = conn.execute("SELECT version, state FROM files WHERE path = ?", (name,)).fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def _listed(path: Path, *args: str) -> tuple[int, list[dict[str, Any]], str]:
    out = io.StringIO()
    code = show_quarantine(
        config_path=str(path),
        source=None,
        show_all="--all" in args,
        as_json=True,
        out=out,
    )
    return code, [json.loads(line) for line in out.getvalue().splitlines()], out.getvalue()


async def test_a_stopped_agents_quarantined_lines_with_file_line_reason_and_raw(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    path = _write_config(tmp_path, config)
    await _ingest(
        config,
        {
            "a.csv": "ts,v0\n2026-01-01T00:00:00Z,1.5\n2026-01-01T00:00:01Z,abc\n"
            "2026-01-01T00:00:02Z,2.5\n2026-01-01T00:00:03Z,\u00e4\u00f6\n",
            "b.csv": "time,v0\n2026-01-01T00:00:00Z,1.5\n",  # no ts column: refused whole
        },
        {"a.csv": "read", "b.csv": "failed"},
    )

    result = edge_agent("quarantine", "--config", str(path))

    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "line1/a.csv:3  " in text and "    2026-01-01T00:00:01Z,abc\n" in text
    assert "line1/a.csv:5  " in text and "    2026-01-01T00:00:03Z,\u00e4\u00f6\n" in text
    assert "'abc'" in text.split("line1/a.csv:3  ")[1].splitlines()[0]  # the reason
    assert "line1/b.csv:1  whole file: " in text
    assert "    time,v0" in text
    assert "3 quarantined line(s) in 2 file(s)" in text

    only = edge_agent("quarantine", "--config", str(path), "--source", "line1", "--json")
    entries = [json.loads(line) for line in only.stdout.splitlines()]
    assert [(e["path"], e["line"]) for e in entries] == [("a.csv", 3), ("a.csv", 5), ("b.csv", 1)]
    assert entries[0]["raw"] == "2026-01-01T00:00:01Z,abc"
    assert entries[0]["rawComplete"] and entries[0]["rawFrom"] == "quarantine"


async def test_a_row_longer_than_an_entry_keeps_is_read_back_whole_from_its_file(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    path = _write_config(tmp_path, config)
    long_row = "2026-01-01T00:00:01Z," + "x" * LONG
    await _ingest(
        config,
        {"a.csv": f"ts,v0\n2026-01-01T00:00:00Z,1.5\n{long_row}\n2026-01-01T00:00:02Z,2.5\n"},
        {"a.csv": "read"},
    )
    kept = json.loads((tmp_path / "state" / "quarantine" / "line1.jsonl").read_text())["raw"]
    assert len(kept) < len(long_row), "the entry was expected to cut the row"

    code, [entry], _ = _listed(path)
    assert code == 0
    assert entry["line"] == 3
    assert entry["raw"] == long_row
    assert entry["rawFrom"] == "file" and entry["rawComplete"]

    os.remove(tmp_path / "in" / "a.csv")
    code, [entry], _ = _listed(path)
    assert entry["raw"] == kept and not entry["rawComplete"]
    assert "could not be read" in entry["note"]


async def test_lines_of_a_file_read_again_since_are_history(tmp_path: Path) -> None:
    config = _config(tmp_path)
    path = _write_config(tmp_path, config)
    await _ingest(
        config,
        {"a.csv": "ts,v0\n2026-01-01T00:00:00Z,abc\n2026-01-01T00:00:01Z,1.5\n"},
        {"a.csv": "read"},
    )
    # Rewritten in place with other content: the agent reads it again as version 2.
    state = tmp_path / "state"
    async with running_agent(config, publisher=FakePublisher()):
        (tmp_path / "in" / "a.csv").write_text("ts,v0\n2026-01-01T00:00:05Z,7.5\n")
        await until(lambda: _version(state, "a.csv") == (2, "read"), what="version 2 read")

    code, entries, _ = _listed(path)
    assert code == 0 and entries == []
    out = io.StringIO()
    show_quarantine(config_path=str(path), source=None, show_all=False, as_json=False, out=out)
    assert "1 more of files read again since (--all shows them)" in out.getvalue()

    code, [entry], _ = _listed(path, "--all")
    assert not entry["current"] and "read again since, as version 2" in entry["note"]


def test_wrong_arguments_exit_2_naming_what_to_give(tmp_path: Path) -> None:
    path = _write_config(tmp_path, _config(tmp_path))

    unknown = edge_agent("quarantine", "--config", str(path), "--source", "line9")
    assert unknown.returncode == 2
    assert "no source 'line9'" in unknown.stderr and "sources: line1" in unknown.stderr

    missing = edge_agent("quarantine", "--config", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr

    empty = edge_agent("quarantine", "--config", str(path))
    assert empty.returncode == 0
    assert f"no quarantined lines in {tmp_path / 'state' / 'quarantine'}" in empty.stdout


@pytest.mark.parametrize("encoding", ["utf-16", "cp1252"])
async def test_the_full_line_is_decoded_as_the_dataset_reads_it(
    tmp_path: Path, encoding: str
) -> None:
    config = _config(tmp_path)
    config["datasets"]["line1"]["csv"]["encoding"] = encoding
    path = _write_config(tmp_path, config)
    long_row = "2026-01-01T00:00:01Z," + "\u00e9" * LONG
    inbox = tmp_path / "in"
    state = tmp_path / "state"
    async with running_agent(config, publisher=FakePublisher()):
        (inbox / "a.csv").write_bytes(
            f"ts,v0\r\n2026-01-01T00:00:00Z,1.5\r\n{long_row}\r\n".encode(encoding)
        )
        await until(lambda: file_states(state).get("a.csv") == "read")

    assert _listed(path)[1][0]["raw"] == long_row
