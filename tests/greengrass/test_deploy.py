"""deploy/: the build makes an artifact that installs offline and a recipe that deploys it; the
GDK configuration, the deployment template and the local deployment script fit the recipe."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import platform
import signal
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from edge_agent.config.topics import TopicTemplate
from edge_agent.greengrass.configuration import parse_component_configuration
from tests.agent.support import write_rows
from tests.infra.nucleus import NucleusDouble, mqtt_topic_matches

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
RECIPE = ROOT / "recipes" / "io.edgeagent.EdgeAgent.yaml"
COMPONENT = "io.edgeagent.EdgeAgent"
THING = "{iot:thingName}"
BUCKET = "test-bucket"
ARCHITECTURE = {"x86_64": "amd64", "aarch64": "aarch64", "armv7l": "arm"}


def _load_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("edge_agent_deploy_build", DEPLOY / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build()


def project_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def greengrass_merge(base: Any, update: Any) -> Any:
    """A deployment's configurationUpdate.merge as the nucleus applies it: objects merge key by
    key, anything else (lists too) replaces."""
    if isinstance(base, dict) and isinstance(update, dict):
        return {**base, **{k: greengrass_merge(base.get(k), v) for k, v in update.items()}}
    return copy.deepcopy(update)


def default_configuration(recipe: dict[str, Any]) -> dict[str, Any]:
    configuration = recipe["ComponentConfiguration"]["DefaultConfiguration"]
    assert isinstance(configuration, dict)
    return configuration


def publish_topics(recipe: dict[str, Any]) -> list[str]:
    """Every IoT Core topic the default configuration can publish to, as the nucleus matches it
    against accessControl ({iot:thingName} left for the nucleus to fill in)."""
    _, config = parse_component_configuration(default_configuration(recipe))
    topics = [
        TopicTemplate(dataset.topic).render(thingName=THING, dataset=name, kind=dataset.kind)
        + suffix
        for name, dataset in config.datasets.items()
        for suffix in ("", "/quarantine")
    ]
    return [*topics, f"dt/edge-agent/{THING}/alerts", f"dt/edge-agent/{THING}/status"]


def allowed(recipe: dict[str, Any], service: str, operation: str) -> list[str]:
    policies = default_configuration(recipe)["accessControl"][service].values()
    return [
        resource
        for policy in policies
        if f"aws.greengrass#{operation}" in policy["operations"]
        for resource in policy["resources"]
    ]


@pytest.fixture(autouse=True)
def _thing_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_IOT_THING_NAME", "gateway-01")  # as the nucleus sets it


# --------------------------------------------------------------------------- fast checks


def test_the_recipe_is_rendered_with_the_version_bucket_and_buildable_platforms() -> None:
    rendered = yaml.safe_load(build.render_recipe("1.2.3", "my-bucket", {"amd64", "aarch64"}))
    source = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))

    assert rendered["ComponentName"] == COMPONENT
    assert rendered["ComponentVersion"] == "1.2.3"
    assert [m["Platform"]["architecture"] for m in rendered["Manifests"]] == ["amd64", "aarch64"]
    for manifest in rendered["Manifests"]:
        [artifact] = manifest["Artifacts"]
        assert artifact == {
            "URI": f"s3://my-bucket/{COMPONENT}/1.2.3/edge-agent.zip",
            "Unarchive": "ZIP",
        }
        [original] = [m for m in source["Manifests"] if m["Platform"] == manifest["Platform"]]
        assert manifest["Lifecycle"] == original["Lifecycle"]
    assert rendered["ComponentConfiguration"] == source["ComponentConfiguration"]


def test_the_install_step_asks_for_the_extras_the_build_collects() -> None:
    recipe = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
    with (ROOT / "pyproject.toml").open("rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]

    wanted = build.GATEWAY_EXTRAS.split(",")
    assert set(wanted) <= set(extras)
    for manifest in recipe["Manifests"]:
        script = manifest["Lifecycle"]["Install"]["Script"]
        assert script.endswith(f"'edge-agent[{build.GATEWAY_EXTRAS}]'"), script


def test_the_zip_is_the_same_for_the_same_wheels(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for name in ("b-1-py3-none-any.whl", "a-1-py3-none-any.whl"):
        (wheels / name).write_bytes(name.encode() * 100)

    build.write_zip(wheels, tmp_path / "one.zip")
    os.utime(wheels / "a-1-py3-none-any.whl", (0, 0))
    build.write_zip(wheels, tmp_path / "two.zip")

    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "one.zip") as archive:
        assert archive.namelist() == ["wheels/a-1-py3-none-any.whl", "wheels/b-1-py3-none-any.whl"]


def test_gdk_config_builds_this_component_with_build_py() -> None:
    config = json.loads((DEPLOY / "gdk-config.json").read_text(encoding="utf-8"))
    [(name, component)] = config["component"].items()

    assert name == COMPONENT
    assert component["version"] == project_version()
    assert component["build"] == {
        "build_system": "custom",
        "custom_build_command": ["python3", "build.py", "--gdk"],
    }
    assert set(component["publish"]) == {"bucket", "region"}


def test_deploy_recipe_is_the_generated_copy_of_the_source_recipe() -> None:
    # GDK reads recipe.yaml next to gdk-config.json; recipes/ holds the source. A regular file
    # (a symlink is a text file holding its target in a Windows checkout), equal to what
    # `build.py --sync-recipe` writes: this fails when one is edited without the other.
    copy = DEPLOY / "recipe.yaml"
    assert not copy.is_symlink()
    assert copy.read_text(encoding="utf-8") == build.gdk_recipe_text(), (
        "deploy/recipe.yaml differs from recipes/io.edgeagent.EdgeAgent.yaml: edit the source, "
        "then run python3 deploy/build.py --sync-recipe"
    )
    assert yaml.safe_load(copy.read_text(encoding="utf-8")) == yaml.safe_load(
        RECIPE.read_text(encoding="utf-8")
    )


def test_a_gdk_build_refuses_a_stale_copy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stale = tmp_path / "recipe.yaml"
    stale.write_text(build.gdk_recipe_text().replace("maxInflight: 8", "maxInflight: 9"))
    monkeypatch.setattr(build, "GDK_RECIPE", stale)
    with pytest.raises(build.BuildError, match="--sync-recipe"):
        build.check_gdk_recipe()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([], "give --bucket BUCKET"),
        (["--bucket", "BUCKET"], "not an S3 bucket name"),
        (["--bucket", "s3://my-bucket/x"], "not an S3 bucket name"),
        (["--bucket", "my-bucket", "--local"], "--bucket goes without --local"),
    ],
)
def test_a_build_without_a_real_bucket_is_refused_before_it_starts(
    args: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        build.parse_args(args)
    assert exit_.value.code == 2
    assert words in capsys.readouterr().err


def test_a_local_build_names_no_bucket_and_says_it_loudly() -> None:
    assert build.parse_args(["--local"]).bucket is None
    assert build.parse_args(["--bucket", "my-bucket.eu"]).bucket == "my-bucket.eu"
    text = build.render_recipe("1.2.3", build.LOCAL_ONLY_BUCKET, {"amd64"})
    assert "LOCAL DEPLOYMENT ONLY" in text
    [manifest] = yaml.safe_load(text)["Manifests"]
    [artifact] = manifest["Artifacts"]
    bucket = artifact["URI"].removeprefix("s3://").split("/")[0]
    assert bucket == build.LOCAL_ONLY_BUCKET and bucket != bucket.lower()  # never a real bucket


def test_the_deployment_template_merges_into_a_valid_configuration() -> None:
    template = json.loads((DEPLOY / "deployment-template.json").read_text(encoding="utf-8"))
    recipe = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
    components = template["components"]
    agent = components[COMPONENT]
    merge = json.loads(agent["configurationUpdate"]["merge"])
    example = json.loads((DEPLOY / "site-configuration.example.json").read_text("utf-8"))

    document, config = parse_component_configuration(
        greengrass_merge(default_configuration(recipe), merge)
    )

    assert template["targetArn"].split(":")[5].startswith("thinggroup/")
    assert agent["componentVersion"] == project_version()
    assert merge == example  # the readable example is what the template deploys
    assert {s.type for s in config.sources} == {"local", "smb"}
    secret_ids = {s.smb.password_secret_id for s in config.sources if s.smb is not None}
    cloud_secrets = json.loads(
        components["aws.greengrass.SecretManager"]["configurationUpdate"]["merge"]
    )["cloudSecrets"]
    assert secret_ids and secret_ids <= {secret["arn"] for secret in cloud_secrets}
    nucleus = json.loads(components["aws.greengrass.Nucleus"]["configurationUpdate"]["merge"])
    assert nucleus == {"interpolateComponentConfiguration": True}  # for {iot:thingName}
    assert "accessControl" not in document


def test_local_deploy_runs_greengrass_cli_with_the_newest_build(tmp_path: Path) -> None:
    out = tmp_path / "out"
    for version in ("0.1.0", "0.10.0", "0.9.1"):
        (out / "recipes").mkdir(parents=True, exist_ok=True)
        (out / "recipes" / f"{COMPONENT}-{version}.yaml").write_text("x", encoding="utf-8")
        artifact = out / "artifacts" / COMPONENT / version / "edge-agent.zip"
        artifact.parent.mkdir(parents=True)
        artifact.write_bytes(b"zip")
    calls = tmp_path / "calls.json"
    cli = tmp_path / "gg" / "bin" / "greengrass-cli"
    cli.parent.mkdir(parents=True)
    cli.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" -c '
        f'"import json, sys; json.dump(sys.argv[1:], open({str(calls)!r}, \'w\'))" "$@"\n',
        encoding="utf-8",
    )
    cli.chmod(0o755)
    site = DEPLOY / "site-configuration.example.json"

    result = subprocess.run(
        [
            "bash",
            str(DEPLOY / "local-deploy.sh"),
            "--build-dir",
            str(out),
            "--greengrass-root",
            str(tmp_path / "gg"),
            "--reset",
            "--update-config",
            str(site),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )

    assert result.returncode == 0, result.stderr
    args = json.loads(calls.read_text(encoding="utf-8"))
    assert args[:8] == [
        "deployment",
        "create",
        "--recipeDir",
        str(out / "recipes"),
        "--artifactDir",
        str(out / "artifacts"),
        "--merge",
        f"{COMPONENT}=0.10.0",
    ]
    assert args[8] == "--update-config"
    assert json.loads(args[9]) == {
        COMPONENT: {"RESET": [""], "MERGE": json.loads(site.read_text(encoding="utf-8"))}
    }


def test_local_deploy_names_what_is_missing(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(DEPLOY / "local-deploy.sh"), "--greengrass-root", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )

    assert result.returncode == 2
    assert "aws.greengrass.Cli" in result.stderr


# --------------------------------------------------------------------------- the real build


@dataclass(frozen=True)
class Built:
    out: Path
    recipe_path: Path
    recipe: dict[str, Any]
    zip_path: Path
    report: dict[str, Any]


@dataclass(frozen=True)
class Installed:
    work: Path  # {work:path}
    decompressed: Path  # {artifacts:decompressedPath}
    install_output: str


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment without pip's configuration (no extra index, no find-links: the
    artifact alone must do) and without the test runner's virtualenv."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "VIRTUAL_ENV", "PYTHON", "AWS_", "SVCUID"))
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    # `python3` in the recipe's Install step: the interpreter the host build collected for.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """`python deploy/build.py --platform host` into a temporary folder (once per module)."""
    out = tmp_path_factory.mktemp("deploy-out")
    result = subprocess.run(
        [
            *(sys.executable, str(DEPLOY / "build.py")),
            *("--platform", "host", "--out", str(out), "--bucket", BUCKET),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    version = project_version()
    recipe_path = out / "recipes" / f"{COMPONENT}-{version}.yaml"
    return Built(
        out=out,
        recipe_path=recipe_path,
        recipe=yaml.safe_load(recipe_path.read_text(encoding="utf-8")),
        zip_path=out / "artifacts" / COMPONENT / version / "edge-agent.zip",
        report=json.loads((out / "build-report.json").read_text(encoding="utf-8")),
    )


@pytest.fixture(scope="module")
def installed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The recipe's Install step, run as Greengrass runs it: the zip unpacked into a folder named
    after it, recipe variables replaced, the script run by sh in the work folder."""
    root = tmp_path_factory.mktemp("greengrass")
    version = built.recipe["ComponentVersion"]
    decompressed = root / "packages" / "artifacts-unarchived" / COMPONENT / version
    with zipfile.ZipFile(built.zip_path) as archive:
        archive.extractall(decompressed / built.zip_path.stem)
    work = root / "work" / COMPONENT
    work.mkdir(parents=True)
    [manifest] = [
        m
        for m in built.recipe["Manifests"]
        if m["Platform"]["architecture"] == ARCHITECTURE[platform.machine()]
    ]
    script = (
        manifest["Lifecycle"]["Install"]["Script"]
        .replace("{work:path}", str(work))
        .replace("{artifacts:decompressedPath}", str(decompressed))
    )
    result = subprocess.run(
        ["sh", "-c", script],
        cwd=work,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=manifest["Lifecycle"]["Install"]["Timeout"],
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    return Installed(work, decompressed, result.stdout + result.stderr)


@pytest.mark.slow
def test_the_host_build_makes_a_zip_of_wheels_and_a_recipe_for_this_platform(
    built: Built,
) -> None:
    arch = platform.machine()
    version = project_version()

    assert built.report["platforms"] == {arch: {"complete": True, "missing": []}}
    with zipfile.ZipFile(built.zip_path) as archive:
        names = archive.namelist()
    assert names and all(n.startswith("wheels/") and n.endswith(".whl") for n in names)
    assert f"wheels/edge_agent-{version}-py3-none-any.whl" in names
    assert any(n.startswith("wheels/awscrt-") for n in names)  # the greengrass extra
    assert any(n.startswith("wheels/smbprotocol-") for n in names)  # the smb extra
    assert not any(n.startswith("wheels/amqtt-") for n in names)  # the demo's, not a gateway's
    assert built.recipe["ComponentVersion"] == version
    [manifest] = built.recipe["Manifests"]
    assert manifest["Platform"] == {"os": "linux", "architecture": ARCHITECTURE[arch]}
    assert manifest["Artifacts"] == [
        {"URI": f"s3://{BUCKET}/{COMPONENT}/{version}/edge-agent.zip", "Unarchive": "ZIP"}
    ]


@pytest.mark.slow
def test_the_built_recipes_access_control_covers_every_topic_it_publishes_to(
    built: Built,
) -> None:
    iot_core = allowed(built.recipe, "aws.greengrass.ipc.mqttproxy", "PublishToIoTCore")
    local = allowed(built.recipe, "aws.greengrass.ipc.pubsub", "PublishToTopic")
    _, config = parse_component_configuration(default_configuration(built.recipe))

    uncovered = [
        t
        for t in publish_topics(built.recipe)
        if not any(mqtt_topic_matches(r, t) for r in iot_core)
    ]

    assert uncovered == []
    assert config.publish.greengrass.local_alerts_topic in local
    assert allowed(built.recipe, "aws.greengrass.SecretManager", "GetSecretValue")


@pytest.mark.slow
def test_install_works_offline_in_a_clean_venv_and_the_recipe_passes_check(
    built: Built, installed: Installed
) -> None:
    edge_agent = installed.work / "venv" / "bin" / "edge-agent"

    def check(recipe: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(edge_agent), "check", "--config", str(recipe)],
            cwd=installed.work,  # as Greengrass runs it, and not this checkout's folder
            env=_clean_env(AWS_IOT_THING_NAME="gateway-01"),
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    # The shipped recipe names the gateway's folders, which this build machine has not: check
    # says so (and nothing else), as it would on a gateway where they are missing.
    missing = check(built.recipe_path)
    assert missing.returncode == 2, missing.stdout + missing.stderr
    problems = [line for line in missing.stderr.splitlines() if line.startswith("sources[")]
    assert problems
    assert all(".path:" in line for line in problems), missing.stderr
    # On a gateway where the folders exist, it passes.
    recipe = yaml.safe_load(built.recipe_path.read_text(encoding="utf-8"))
    sources = recipe["ComponentConfiguration"]["DefaultConfiguration"]["sources"]
    for i, source in enumerate(sources):
        if source.get("type", "local") == "local":
            folder = installed.work / f"source-{i}"
            folder.mkdir(exist_ok=True)
            source["path"] = str(folder)
    gateway = installed.work / "gateway-recipe.yaml"
    gateway.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    passed = check(gateway)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "publish to greengrass" in passed.stdout
    # Installed from the artifact, not from this checkout.
    where = subprocess.run(
        [
            str(installed.work / "venv" / "bin" / "python"),
            "-c",
            "import edge_agent; print(edge_agent.__file__)",
        ],
        cwd=installed.work,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert where.startswith(str(installed.work / "venv"))


@pytest.mark.slow
@pytest.mark.infra
def test_the_installed_component_runs_as_the_recipe_says(
    built: Built, installed: Installed, nucleus: NucleusDouble, tmp_path: Path
) -> None:
    [manifest] = built.recipe["Manifests"]
    run = manifest["Lifecycle"]["Run"]["Script"].replace("{work:path}", str(installed.work))
    configuration = copy.deepcopy(default_configuration(built.recipe))
    inbox = tmp_path / "line1"
    inbox.mkdir()
    configuration["sources"][0].update(path=str(inbox), settleSeconds=0.2)
    nucleus.configuration = configuration
    nucleus.access_control = configuration["accessControl"]
    write_rows(inbox / "a.csv", 100)
    env = _clean_env(**nucleus.env, **manifest["Lifecycle"]["Setenv"])

    with (tmp_path / "run.log").open("wb") as log:
        proc = subprocess.Popen(
            ["sh", "-c", f"exec {run}"], cwd=installed.work, env=env, stdout=log, stderr=log
        )
    try:
        nucleus.wait_until_sync(lambda: published_lines(nucleus) == set(range(2, 102)), timeout=30)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert code == 0, (tmp_path / "run.log").read_text(errors="replace")[-3000:]
    assert nucleus.states == ["RUNNING"]


def published_lines(nucleus: NucleusDouble) -> set[int]:
    return {r["line"] for p in nucleus.published for r in json.loads(p.payload)["records"]}
