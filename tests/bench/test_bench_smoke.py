"""bench/run_all.py end to end at toy sizes, so the benchmark command cannot rot.

The field-scale scenarios (many files, idle, restart with a big ledger, the outage drain, the
soak) run at toy sizes too; Node-RED only where it is installed already (the benchmark installs
it with npm; a test does not reach for the network).

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

sys.path.insert(0, str(ROOT / "bench"))
import nodered  # noqa: E402


def _run_all(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_all.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=220,
        check=False,
    )


@pytest.mark.timeout(240)
def test_run_all_at_toy_sizes(tmp_path: Path) -> None:
    out, raw = tmp_path / "BENCHMARKS.md", tmp_path / "figures.json"
    args = [
        *("--rows", "300", "--smb-rows", "300"),
        *("--latency-files", "2", "--latency-rows", "3"),
        *("--limits-seconds", "1", "--drain-days", "0.05", "--naive-poll", "0.1"),
        *("--only", "local,smb,limits,drain"),
        *("--out", str(out), "--json", str(raw), "--workdir", str(tmp_path)),
    ]
    result = _run_all(args)
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


@pytest.mark.timeout(240)
def test_field_scale_scenarios_at_toy_sizes(tmp_path: Path) -> None:
    out, raw = tmp_path / "BENCHMARKS.md", tmp_path / "figures.json"
    args = [
        *("--only", "files,arrivals,restart,outage,soak", "--repeat", "1"),
        *("--kept", "50", "--arrivals", "3", "--arrival-interval", "0.1"),
        *("--ledger-idle-seconds", "1"),
        *("--files", "120", "--idle-seconds", "1", "--restart-idle-seconds", "1"),
        *("--ledger-rows", "3000", "--present-files", "20"),
        *("--outage-sources", "3", "--outage-rows", "500", "--outage-seconds", "1"),
        *("--soak-days", "0.2", "--soak-towers", "1", "--soak-minutes", "0.05"),
        *("--soak-sample", "0.5"),
        *("--out", str(out), "--json", str(raw), "--workdir", str(tmp_path)),
    ]
    result = _run_all(args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(raw.read_text())["results"]
    assert set(figures) == {"files", "arrivals", "restart", "outage", "soak"}
    arrived = figures["arrivals"]["runs"][0]
    assert arrived["kept_rows_inserted"] == 50 and arrived["kept_cpu_ms_per_file"] > 0
    files = figures["files"]["runs"][0]
    assert files["files"] == 120 and len(files["tenths_files_per_s"]) == 10
    assert files["idle_rss_mb"] > 0 and files["restart_idle_rss_mb"] > 0
    restart = figures["restart"]["runs"][0]
    assert restart["ledger_rows"] == 3000
    assert restart["ledger_by_state"] == {"disposed": 2980, "read": 20}
    assert restart["restart_to_ack_seconds"] > 0
    outage = figures["outage"]["runs"][0]
    assert outage["rows_delivered"] == outage["rows"] + 1  # the warm-up row
    assert outage["rows_missing"] == outage["rows_under_two_batch_ids"] == 0
    soak = figures["soak"]["runs"][0]
    assert soak["files"] > 0 and soak["rows_published"] > 0 and len(soak["series"]) >= 2
    text = out.read_text()
    for heading in ("## (g)", "## (h)", "## (h2)", "## (i)", "## (j)", "## (k)", "| Node.js |"):
        assert heading in text


@pytest.mark.timeout(120)
def test_node_red_scenario_at_toy_size(tmp_path: Path) -> None:
    reason = nodered.why_not_available() or (
        None if nodered.installed() else f"Node-RED {nodered.VERSION} is not installed"
    )
    if reason is not None:
        pytest.skip(f"{reason} (bench/run_all.py --only nodered installs it with npm)")
    out, raw = tmp_path / "BENCHMARKS.md", tmp_path / "figures.json"
    args = [
        *("--only", "nodered", "--rows", "400", "--no-install"),
        *("--out", str(out), "--json", str(raw), "--workdir", str(tmp_path)),
    ]
    result = _run_all(args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    red = json.loads(raw.read_text())["results"]["nodered"]["runs"][0]
    assert red["rows"] == 400
    assert red["nodered_messages"] == 400  # one message per row, each once
    assert 1 <= red["agent_messages"] < 400
    assert json.loads(red["nodered_sample"])["sensor"] == "S0"
    assert "## (l) Node-RED" in out.read_text()
