"""The component recipe: well-formed, deployable on the three Linux platforms, its default
configuration valid for the agent, and its accessControl covering every topic it publishes to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_agent.config.load import extract_configuration, load_config, parse_config
from edge_agent.config.models import AgentConfig
from edge_agent.config.topics import TopicTemplate
from tests.infra.nucleus import mqtt_topic_matches

RECIPE = Path(__file__).parents[2] / "recipes" / "io.edgeagent.EdgeAgent.yaml"
COMPONENT = "io.edgeagent.EdgeAgent"
THING = "{iot:thingName}"


@pytest.fixture(scope="module")
def recipe() -> dict[str, Any]:
    document = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


@pytest.fixture
def config(recipe: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> AgentConfig:
    # The recipe leaves thingName to the nucleus, which sets AWS_IOT_THING_NAME.
    monkeypatch.setenv("AWS_IOT_THING_NAME", "gateway-01")
    return parse_config(extract_configuration(recipe))


def _access_control(recipe: dict[str, Any]) -> dict[str, Any]:
    access_control = recipe["ComponentConfiguration"]["DefaultConfiguration"]["accessControl"]
    assert isinstance(access_control, dict)
    return access_control


def _resources(recipe: dict[str, Any], service: str, operation: str) -> list[str]:
    return [
        resource
        for policy in _access_control(recipe)[service].values()
        if f"aws.greengrass#{operation}" in policy["operations"]
        for resource in policy["resources"]
    ]


def test_recipe_header(recipe: dict[str, Any]) -> None:
    assert recipe["RecipeFormatVersion"] == "2020-01-25"
    assert recipe["ComponentName"] == COMPONENT
    assert not recipe["ComponentName"].startswith("aws.greengrass.")
    assert recipe["ComponentVersion"] == "0.1.0"
    assert recipe["ComponentDescription"]
    assert recipe["ComponentPublisher"]
    nucleus = recipe["ComponentDependencies"]["aws.greengrass.Nucleus"]
    assert nucleus == {"VersionRequirement": ">=2.9.0 <3.0.0", "DependencyType": "SOFT"}


def test_a_manifest_per_linux_platform_with_install_run_and_artifact(
    recipe: dict[str, Any],
) -> None:
    manifests = recipe["Manifests"]

    assert sorted(m["Platform"]["architecture"] for m in manifests) == ["aarch64", "amd64", "arm"]
    for manifest in manifests:
        assert manifest["Platform"]["os"] == "linux"
        install = manifest["Lifecycle"]["Install"]
        assert install["RequiresPrivilege"] is False
        assert install["Timeout"] == 900
        assert install["Script"].startswith("python3 -m venv {work:path}/venv && ")
        assert (
            "{work:path}/venv/bin/pip install --no-index --upgrade --find-links "
            "{artifacts:decompressedPath}/edge-agent/wheels 'edge-agent[greengrass,smb]'"
        ) in install["Script"]
        run = manifest["Lifecycle"]["Run"]
        assert run["Script"] == "{work:path}/venv/bin/edge-agent run --greengrass"
        assert run["RequiresPrivilege"] is False
        [artifact] = manifest["Artifacts"]
        assert artifact == {
            "URI": f"s3://BUCKET/{COMPONENT}/{recipe['ComponentVersion']}/edge-agent.zip",
            "Unarchive": "ZIP",
        }


def test_the_default_configuration_is_valid_and_publishes_through_greengrass(
    config: AgentConfig,
) -> None:
    assert config.publish.target == "greengrass"
    assert config.thing_name == "gateway-01"
    assert [s.type for s in config.sources] == ["local"]


def test_the_recipe_passes_as_a_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_IOT_THING_NAME", "gateway-01")

    assert load_config(RECIPE).publish.target == "greengrass"


def test_the_configuration_uses_no_recipe_variables_but_a_relative_state_dir(
    recipe: dict[str, Any], config: AgentConfig
) -> None:
    # Greengrass interpolates {work:path} and friends in Lifecycle only, not in configuration.
    configuration = extract_configuration(recipe)
    assert ":path}" not in yaml.safe_dump(configuration)
    assert not Path(config.state_dir).is_absolute()  # resolved against the work folder (the cwd)


def test_access_control_covers_every_topic_the_configuration_publishes_to(
    recipe: dict[str, Any], config: AgentConfig
) -> None:
    resources = _resources(recipe, "aws.greengrass.ipc.mqttproxy", "PublishToIoTCore")
    topics = [
        TopicTemplate(dataset.topic).render(thingName=THING, dataset=name, kind=dataset.kind)
        + suffix
        for name, dataset in config.datasets.items()
        for suffix in ("", "/quarantine")
    ]
    topics.append(f"dt/edge-agent/{THING}/alerts")

    uncovered = [t for t in topics if not any(mqtt_topic_matches(r, t) for r in resources)]

    assert uncovered == []
    assert all(THING in r for r in resources)  # this device's topics only


def test_access_control_allows_the_local_alerts_topic_and_secrets(
    recipe: dict[str, Any], config: AgentConfig
) -> None:
    local = _resources(recipe, "aws.greengrass.ipc.pubsub", "PublishToTopic")
    secrets = _resources(recipe, "aws.greengrass.SecretManager", "GetSecretValue")

    assert config.publish.greengrass.local_alerts_topic in local
    assert secrets == ["*"]


def test_policy_names_are_prefixed_with_the_component_name(recipe: dict[str, Any]) -> None:
    names = [name for policies in _access_control(recipe).values() for name in policies]

    assert names
    assert all(name.startswith(f"{COMPONENT}:") for name in names)
