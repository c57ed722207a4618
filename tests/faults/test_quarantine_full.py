"""The local quarantine copy (stateDir/quarantine/<source>.jsonl) on a disk that fills up
mid-write: the write fails as StorageFullError (ingestion pauses) and leaves no half line
behind, so the file stays one JSON object per line after space comes back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_agent.errors import StorageFullError
from edge_agent.reading.quarantine import QuarantineLog
from tests.faults.support import fill, small_filesystem


def _entries(first: int, count: int) -> list[dict[str, object]]:
    return [
        {"line": n, "reason": "column 'v0': 'x' is not a number", "raw": "x" * 200}
        for n in range(first, first + count)
    ]


def test_quarantine_log_leaves_no_half_line_on_a_full_disk(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "statefs", 1024 * 1024) as statefs:
        log = QuarantineLog(statefs, "line1")
        log.write(_entries(1, 3))
        ballast = fill(statefs, leave_bytes=4096)
        with pytest.raises(StorageFullError) as raised:
            log.write(_entries(100, 400))  # ~100 KiB: fails part way
        assert str(log.path) in str(raised.value)
        ballast.unlink()
        log.write(_entries(1000, 2))
        lines = log.path.read_text(encoding="utf-8").splitlines()
    parsed = [json.loads(line) for line in lines]  # a half line would not parse
    assert [p["line"] for p in parsed] == [1, 2, 3, 1000, 1001]
