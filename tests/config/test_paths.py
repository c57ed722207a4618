"""Relative paths in a configuration start at the configuration file's folder (inside
Greengrass: the component's work folder), whatever the current directory."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_agent.cli import main
from edge_agent.config.load import load_config, parse_config
from edge_agent.greengrass.configuration import (
    configuration_problems,
    parse_component_configuration,
    resolve_state_dir,
)
from edge_agent.state.db import StateDB


def document() -> dict[str, Any]:
    return {
        "thingName": "gw-01",
        "stateDir": "state",
        "sources": [
            {
                "name": "line1",
                "path": "data/line1",
                "afterIngest": "move",
                "moveTo": "done",
                "dataset": "line1",
            },
            {
                "name": "nas",
                "type": "smb",
                "smb": {"server": "nas", "share": "data", "username": "u", "password": "p"},
                "afterIngest": "move",
                "moveTo": "archive",  # on the share, relative to its root: left alone
                "dataset": "line1",
            },
            {"name": "abs", "path": "/srv/abs", "dataset": "line1"},
            {"name": "home", "path": "~/csv", "dataset": "line1"},
        ],
        "datasets": {"line1": {}},
        "publish": {"mqtt": {"tls": {"ca": "certs/ca.pem", "cert": "c.pem", "key": "k.pem"}}},
    }


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current directory: not the configuration's folder."""
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def test_relative_paths_start_at_the_configuration_file(tmp_path: Path, elsewhere: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "agent.yaml").write_text(yaml.safe_dump(document()))
    config = load_config(Path("..") / "etc" / "agent.yaml")  # a relative path to the file too
    assert config.state_dir == str(folder / "state")
    local, smb, absolute, home = config.sources
    assert (local.path, local.move_to) == (str(folder / "data/line1"), str(folder / "done"))
    assert (smb.path, smb.move_to) == (None, "archive")
    assert absolute.path == "/srv/abs"
    assert home.path == str(Path.home() / "csv")
    tls = config.publish.mqtt.tls
    assert tls is not None
    assert (tls.ca, tls.cert, tls.key) == tuple(
        str(folder / n) for n in ("certs/ca.pem", "c.pem", "k.pem")
    )


def test_a_recipe_resolves_against_its_own_folder(tmp_path: Path, elsewhere: Path) -> None:
    recipe = {
        "RecipeFormatVersion": "2020-01-25",
        "ComponentConfiguration": {"DefaultConfiguration": document()},
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    assert load_config(tmp_path / "recipe.yaml").state_dir == str(tmp_path / "state")


def test_a_mapping_without_a_file_keeps_its_paths_as_written() -> None:
    config = parse_config(document())
    assert (config.state_dir, config.sources[0].path) == ("state", "data/line1")


def test_status_from_another_directory_finds_the_same_state(
    tmp_path: Path, elsewhere: Path
) -> None:
    (tmp_path / "agent.yaml").write_text(yaml.safe_dump(document()))
    StateDB(tmp_path / "state").close()  # what the agent started from the file's folder made
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["status", "--config", str(tmp_path / "agent.yaml"), "--json"])
    assert code == 0
    assert json.loads(out.getvalue())["stateDir"] == str(tmp_path / "state")
    assert not (elsewhere / "state").exists()


def test_greengrass_resolves_against_the_work_folder(tmp_path: Path, elsewhere: Path) -> None:
    work = tmp_path / "work"
    _, config = parse_component_configuration({**document(), "accessControl": {}})
    config = resolve_state_dir(config, work)
    assert config.state_dir == str(work / "state")
    assert config.sources[0].path == str(work / "data/line1")
    assert config.sources[1].move_to == "archive"
    assert config.publish.mqtt.tls is not None
    assert config.publish.mqtt.tls.ca == str(work / "certs/ca.pem")


def test_greengrass_validation_checks_this_machine_in_the_work_folder(tmp_path: Path) -> None:
    work = tmp_path / "work"
    proposal = {**document(), "publish": {"target": "greengrass"}, "accessControl": {}}
    proposal["sources"] = proposal["sources"][:1]
    problems = configuration_problems(proposal, work_dir=work)
    assert [(p.path, p.message) for p in problems] == [
        ("sources[0].path", f"folder {work / 'data/line1'} does not exist")
    ]
    (work / "data/line1").mkdir(parents=True)
    assert configuration_problems(proposal, work_dir=work) == []
    # By default the working directory, which Greengrass makes the work folder.
    cwd = Path.cwd()
    try:
        os.chdir(work)
        assert configuration_problems(proposal) == []
    finally:
        os.chdir(cwd)
