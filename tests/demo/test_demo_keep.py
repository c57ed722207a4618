"""``edge-agent demo --keep DIR``: the run's configuration, log, data and state stay in DIR, the
summary says so and how to use them; a folder that holds files is refused before anything runs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from edge_agent.config.load import load_config
from tests.cli import edge_agent, run_module


def _demo(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TERM"}
    return run_module("edge_agent", "demo", "--plain", *args, cwd=cwd, env={**env, "NO_COLOR": "1"})


def test_keep_leaves_configuration_log_data_and_state_and_says_so(tmp_path: Path) -> None:
    kept = tmp_path / "demo-run"

    result = _demo("--duration", "6", "--keep", "demo-run", cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"working folder {kept} (kept at the end)" in result.stdout
    assert f"kept in {kept}:" in result.stdout
    assert f"edge-agent status --config {kept / 'agent.yaml'}" in result.stdout
    assert f"edge-agent run --config {kept / 'agent.yaml'}" in result.stdout
    assert "working folder removed" not in result.stdout

    config = load_config(kept / "agent.yaml")
    assert Path(config.state_dir) == kept / "state"
    assert all(Path(s.path or "").is_relative_to(kept / "data") for s in config.sources)
    assert any((kept / "data").rglob("*.csv")), "no simulated files kept"
    assert (kept / "demo.log").is_file()
    status = edge_agent("status", "--config", str(kept / "agent.yaml"))
    assert status.returncode == 0, status.stderr
    assert "stopped" in status.stdout.splitlines()[0]


def test_keep_refuses_a_folder_that_holds_files(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine", encoding="utf-8")

    result = _demo("--duration", "1", "--keep", str(tmp_path / "busy"), cwd=tmp_path)

    assert result.returncode == 2
    assert "the folder is not empty" in result.stderr
    assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == ["notes.txt"]
