"""bench/run_all.py end to end at toy sizes, so the benchmark command cannot rot.

No figure is judged here (the machine is shared; timings belong in docs/BENCHMARKS.md): the
run must finish, every scenario must deliver every row through both ingests, and the report
must carry each scenario's table with the machine and the command.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent

pytestmark = pytest.mark.infra


@pytest.mark.timeout(240)
def test_run_all_at_toy_sizes(tmp_path: Path) -> None:
    out, raw = tmp_path / "BENCHMARKS.md", tmp_path / "figures.json"
    args = [
        *("--rows", "300", "--smb-rows", "300"),
        *("--latency-files", "2", "--latency-rows", "3"),
        *("--limits-seconds", "1", "--drain-days", "0.05", "--naive-poll", "0.1"),
        *("--out", str(out), "--json", str(raw), "--workdir", str(tmp_path)),
    ]
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_all.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=220,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(raw.read_text())["results"]
    assert set(figures) == {"local", "smb", "limits", "drain"}
    for name in ("local", "smb"):
        f = figures[name]
        assert f["rows"] == 300
        assert f["naive_messages"] == 300  # one message per row
        assert 1 <= f["agent_messages"] < 300  # batches
        assert f["agent_latency_files"] == f["naive_latency_files"] == 2
        assert f["agent_peak_rss_mb"] > 0 and f["naive_peak_rss_mb"] > 0
    drain = figures["drain"]
    assert drain["files"] > 0 and drain["rows"] > 0
    assert drain["naive_rows_published"] == drain["rows"]
    for prefix in ("agent",):
        assert (
            drain[f"{prefix}_rows_published"] + drain[f"{prefix}_rows_quarantined"]
            == (drain["rows"])
        )
        assert figures["limits"][f"{prefix}_messages"] >= 1
    text = out.read_text()
    for heading in ("## (a)", "## (b)", "## (c)", "## (d)", "## (e)", "## (f)", "| CPU |"):
        assert heading in text
    assert "bench/run_all.py --rows 300" in text
