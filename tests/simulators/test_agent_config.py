"""``edge-sim`` tells how to run edge-agent on what it wrote: a configuration for exactly those
files (tower and factory runs into one folder side by side), the ``edge-agent run`` line, and
for an SMB share the YAML to save."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from edge_agent.config.load import load_config, parse_config
from edge_agent.publish.fake import FakePublisher
from simulators.cli import build_parser, main, write_agent_config
from simulators.tower.sim import TowerSettings, TowerSimulation
from tests.agent.support import file_states, running_agent, until
from tests.cli import run_module

START = ["--seed", "3", "--start", "2026-03-28T00:00:00Z"]
START_TIME = datetime(2026, 3, 28, tzinfo=UTC)


def test_the_configuration_it_writes_reads_every_file_it_simulated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "site"
    assert main(["tower", "--out", str(out), *START, "--days", "0.25", "--towers", "1"]) == 0
    assert (
        main(["factory", "--out", str(out), *START, "--hours", "1", "--machines", "wincc,hmi"]) == 0
    )
    printed = capsys.readouterr().out
    config_path = out / "edge-agent.yaml"
    assert f"edge-agent run --config {config_path}" in printed

    config = load_config(config_path)
    assert [s.name for s in config.sources] == [
        "tower",
        "seeding",
        "automation",
        "site",
        "wincc",
        "cp1252_hmi",
    ]
    assert config.cea is not None and config.cea.site_id == "site-01"
    assert config.publish.mqtt.host == "localhost" and config.publish.mqtt.port == 1883
    assert Path(config.state_dir) == out / "edge-agent-state"


async def test_the_agent_reads_all_of_it_without_a_failed_file(tmp_path: Path) -> None:
    out = tmp_path / "site"
    assert main(["tower", "--out", str(out), *START, "--days", "0.25", "--quiet"]) == 0
    assert main(["factory", "--out", str(out), *START, "--hours", "1", "--quiet"]) == 0
    config = load_config(out / "edge-agent.yaml")
    state = Path(config.state_dir)
    expected = len([p for p in out.rglob("*.csv") if "_truth" not in p.parts])

    publisher = FakePublisher()
    async with running_agent(config, publisher=publisher):
        await until(
            lambda: (
                len(file_states(state)) >= expected
                and all(s in ("read", "reading", "duplicate") for s in file_states(state).values())
            ),
            timeout=60,
            what="every simulated file read",
        )
    states = file_states(state)
    assert "failed" not in states.values(), states
    assert sum(len(p["records"]) for p in publisher.payloads_json()) > 0


def test_for_an_smb_share_it_prints_the_yaml_to_save(tmp_path: Path) -> None:
    parser = build_parser()
    args = parser.parse_args(
        [
            "tower",
            "--smb-server",
            "nas.local",
            "--smb-share",
            "data",
            "--smb-user",
            "sim",
            "--smb-password-env",
            "SIM_PW",
            "--smb-folder",
            "farm",
            "--append",
        ]
    )
    simulation = TowerSimulation(TowerSettings(start=START_TIME, end=None, append=True))

    path, text = write_agent_config(args, simulation, parser)

    assert path is None
    config = parse_config(yaml.safe_load(text))
    tower = config.source("tower")
    assert tower.type == "smb" and tower.mode == "append"
    assert tower.smb is not None
    assert (tower.smb.server, tower.smb.share, tower.smb.folder) == (
        "nas.local",
        "data",
        "farm/tower",
    )
    assert tower.smb.password_env == "SIM_PW"


def test_a_file_it_did_not_write_is_not_overwritten(tmp_path: Path) -> None:
    mine = tmp_path / "agent.yaml"
    mine.write_text("thingName: mine\n", encoding="utf-8")
    result = run_module(
        "simulators.cli",
        "factory",
        "--out",
        str(tmp_path / "out"),
        *START,
        "--hours",
        "0.1",
        "--agent-config",
        str(mine),
    )
    assert result.returncode == 2
    assert "not written by edge-sim" in result.stderr
    assert mine.read_text(encoding="utf-8") == "thingName: mine\n"
    assert not list(tmp_path.rglob("*.csv")), "nothing is simulated after a refusal"


def test_in_real_time_the_run_line_comes_first(tmp_path: Path) -> None:
    result = run_module(
        "simulators.cli",
        "factory",
        "--out",
        str(tmp_path / "out"),
        "--speed",
        "600",
        "--duration",
        "1",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1] == f"  edge-agent run --config {tmp_path / 'out' / 'edge-agent.yaml'}"
    assert lines[2].startswith("edge-sim factory: ")
