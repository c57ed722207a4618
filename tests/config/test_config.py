"""Configuration: loading, every problem named with its key path, and `edge-agent check`."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from edge_agent.cli import main
from edge_agent.config.load import extract_configuration, load_config, parse_config
from edge_agent.config.models import AgentConfig
from edge_agent.config.topics import TopicTemplate, check_topic, sanitize_topic_value
from edge_agent.errors import ConfigError


def minimal(**extra: Any) -> dict[str, Any]:
    return {
        "thingName": "gw-01",
        "stateDir": "/tmp/state",
        "sources": [{"name": "line1", "path": "/srv/line1", "dataset": "line1"}],
        "datasets": {"line1": {"csv": {"timestampColumn": "ts"}}},
        **extra,
    }


def problems(document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_config(document)
    return {p.path: f"{p.message} {p.hint}" for p in info.value.problems}


def test_minimal_configuration_has_working_defaults() -> None:
    config = parse_config(minimal())
    assert config.publish.max_payload_bytes == 131072
    assert config.publish.max_publishes_per_second == 100
    assert config.sources[0].settle_seconds == 5
    assert config.datasets["line1"].csv.data_start_line == 2


def test_every_problem_is_named_with_its_key_path_in_one_pass() -> None:
    document = minimal()
    document["sources"][0].update(settleSecond=3, mode="appnd", dataset="line2")
    document["datasets"]["line1"].update(colums={}, topic="dt/{thing}/x")
    document["datasets"]["line1"]["csv"].update(encoding="utf-99", timezone="Mars/Base")
    document["publish"] = {
        "mqtt": {"port": 99999, "tls": {"ca": "ca.pem", "cert": "c.pem"}},
        "qos": 0,
    }
    found = problems(document)
    assert "did you mean 'settleSeconds'" in found["sources[0].settleSecond"]
    assert "'complete' or 'append'" in found["sources[0].mode"]
    assert "line2" in found["sources[0].dataset"]
    assert "did you mean 'columns'" in found["datasets.line1.colums"]
    assert "{thing}" in found["datasets.line1.topic"]
    assert "utf-99" in found["datasets.line1.csv.encoding"]
    assert "Mars/Base" in found["datasets.line1.csv.timezone"]
    assert "65535" in found["publish.mqtt.port"]
    assert "cert and key go together" in found["publish.mqtt.tls"]
    assert "QoS 0" in found["publish.qos"]


def test_cross_field_rules() -> None:
    doc = minimal()
    doc["sources"][0].update(afterIngest="move")
    assert "moveTo" in " ".join(problems(doc).values())
    doc = minimal()
    doc["sources"][0].update(mode="append", afterIngest="delete")
    assert "afterIngest: keep" in " ".join(problems(doc).values())
    doc = minimal()
    doc["sources"].append(dict(doc["sources"][0]))
    assert "used twice" in problems(doc)["sources[1].name"]


def test_thing_name_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = minimal()
    del doc["thingName"]
    monkeypatch.setenv("AWS_IOT_THING_NAME", "from-env")
    assert parse_config(doc).thing_name == "from-env"
    monkeypatch.delenv("AWS_IOT_THING_NAME")
    assert "AWS_IOT_THING_NAME" in problems(doc)["thingName"]


def test_greengrass_floats_are_accepted() -> None:
    doc = minimal(publish={"mqtt": {"port": 8883.0, "protocol": 5.0}, "qos": 1.0})
    doc["sources"][0]["settleSeconds"] = 5.0
    config = parse_config(doc)
    assert config.publish.mqtt.port == 8883
    assert config.publish.mqtt.protocol == 5


def test_topic_limits_checked_at_load() -> None:
    doc = minimal()
    doc["datasets"]["line1"]["topic"] = "a/b/c/d/e/f/g/h/{thingName}"
    assert "slashes" in problems(doc)["datasets.line1.topic"] or any(
        "slashes" in v for v in problems(doc).values()
    )
    assert check_topic("x" * 257) is not None
    assert check_topic("$aws/rules/r/a/b/c/d/e/f/g/h") is None
    assert sanitize_topic_value("a/b+c#d\x00") == "a_b_c_d_"
    assert (
        TopicTemplate("dt/{thingName}/{dataset}").render(thingName="t/x", dataset="d#")
        == "dt/t_x/d_"
    )


def test_recipe_default_configuration_is_read(tmp_path: Path) -> None:
    recipe = {
        "RecipeFormatVersion": "2020-01-25",
        "ComponentName": "io.edgeagent.EdgeAgent",
        "ComponentConfiguration": {
            "DefaultConfiguration": {
                **minimal(),
                "accessControl": {"aws.greengrass.ipc.mqttproxy": {}},
            }
        },
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert load_config(path).thing_name == "gw-01"
    with pytest.raises(ConfigError):
        extract_configuration({"RecipeFormatVersion": "2020-01-25"})


def test_check_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # check also checks this machine: the folders are there, relative to the file.
    (tmp_path / "line1").mkdir()
    good_doc = minimal(stateDir="state")
    good_doc["sources"][0]["path"] = "line1"
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(good_doc))
    assert main(["check", "--config", str(good)]) == 0
    assert "OK" in capsys.readouterr().out
    bad_doc = copy.deepcopy(good_doc)
    bad_doc["sources"][0]["settleSecond"] = 1
    bad_doc["publish"] = {"maxPayloadBytes": 10**6}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(bad_doc))
    assert main(["check", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith("sources[0].settleSecond: unknown key") for line in err)
    assert any(line.startswith("publish.maxPayloadBytes:") for line in err)
    assert err[-1] == "2 problem(s) in " + str(bad)


def test_check_reports_unreadable_yaml_and_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("sources:\n  - name: a\n\tpath: x\n")
    assert main(["check", "--config", str(broken)]) == 2
    assert "line" in capsys.readouterr().err
    assert main(["check", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_console_script_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edge_agent", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.startswith("edge-agent ")


def test_the_status_and_alerts_topics_cannot_be_a_datasets_topic() -> None:
    document = {
        "thingName": "gw",
        "sources": [
            {"name": "s", "path": "/srv/s", "dataset": "status"},
            {"name": "a", "path": "/srv/a", "dataset": "alerts"},
        ],
        "datasets": {"status": {}, "alerts": {"kind": "site"}},
        "cea": {"siteId": "site-01"},
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(document)
    found = {(p.path, p.message.split(",")[0]) for p in caught.value.problems}
    assert ("health.statusTopic", "renders to 'dt/edge-agent/gw/status'") in found
    assert ("cea.alertsTopic", "renders to 'dt/edge-agent/gw/alerts'") in found


def test_checks_across_sections_are_errors_at_their_key_with_a_hint() -> None:
    document = minimal()
    document["sources"][0]["dataset"] = "nope"
    document["sources"].append({**document["sources"][0], "dataset": "line1"})
    with pytest.raises(ValidationError) as caught:
        AgentConfig.model_validate(document)
    assert [(e["loc"], e.get("ctx")) for e in caught.value.errors()] == [
        (
            ("sources", 0, "dataset"),
            {"message": "dataset 'nope' is not defined under datasets", "hint": "defined: line1"},
        ),
        (("sources", 1, "name"), {"message": "'line1' is used twice", "hint": "rename one"}),
    ]
    found = problems(document)
    assert (
        found["sources[0].dataset"] == "dataset 'nope' is not defined under datasets defined: line1"
    )


def test_checks_across_sections_run_on_what_is_valid_when_a_section_is_not() -> None:
    document = minimal(cea={"siteId": "x", "recipes": {}, "defaultRecipe": "missing"})
    document["sources"][0].update(dataset="nope", mode="appnd")
    document["datasets"]["tower"] = {"kind": "tower", "csv": {"delimiter": ";;"}}
    document["datasets"]["b@d"] = {}
    found = problems(document)
    assert set(found) == {
        "sources[0].mode",
        "sources[0].dataset",
        "datasets.tower.csv.delimiter",
        "datasets.b@d",
        "cea.defaultRecipe",
    }
    assert "defined: b@d, line1, tower" in found["sources[0].dataset"]


def test_model_checks_name_the_key_to_fix() -> None:
    doc = minimal()
    smb = {"server": "s", "share": "d", "username": "u", "passwordEnv": "PW"}
    doc["sources"][0].update(type="smb", smb=smb)
    assert "an smb source takes smb.folder, not path" in problems(doc)["sources[0].path"]
    del smb["passwordEnv"]
    assert problems(doc)["sources[0].smb.password"].startswith("missing: give one of password, ")
    doc = minimal(publish={"mqtt": {"host": "h.example", "password": "pw"}})
    assert "clear text" in problems(doc)["publish.mqtt.password"]


def test_a_list_given_as_text_says_what_to_write() -> None:
    doc = minimal()
    doc["sources"][0]["include"] = "*.csv"
    doc["datasets"]["line1"]["csv"]["timestampColumn"] = 5
    found = problems(doc)
    assert found["sources[0].include"] == (
        'a list is expected here, not the text "*.csv" write it as a list: include: ["*.csv"]'
    )
    assert found["datasets.line1.csv.timestampColumn"].startswith(
        "a name or a list of names is expected here, not the number 5"
    )
    doc = minimal()
    doc["sources"] = doc["sources"][0]
    assert "starting with '- '" in problems(doc)["sources"]
