"""Optional features: a missing package is named with the extra that installs it, for run,
check and the demo; any other ImportError is a bug and surfaces as one.

A missing package is simulated with ``sys.modules[name] = None`` in a fresh interpreter (so
this test process keeps its own imports).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
import yaml

from edge_agent.extras import EXTRAS, MissingExtraError, optional_dependency

ROOT = Path(__file__).resolve().parent.parent


def cli(argv: list[str], *, missing: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``edge-agent ARGV`` in a fresh interpreter where the modules ``missing`` cannot be found."""
    script = textwrap.dedent(
        f"""
        import sys
        for name in {missing!r}:
            sys.modules[name] = None
        from edge_agent.cli import main
        sys.exit(main({argv!r}))
        """
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT": str(cwd / "no-nucleus.sock"),
        "SVCUID": "token",
    }
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.fixture
def smb_and_greengrass_config(tmp_path: Path) -> Path:
    path = tmp_path / "agent.yaml"
    document = {
        "thingName": "gateway-01",
        "stateDir": str(tmp_path / "state"),
        "sources": [
            {
                "name": "line2",
                "type": "smb",
                "smb": {"server": "127.0.0.1", "share": "s", "username": "u", "password": "p"},
                "dataset": "line2",
            }
        ],
        "datasets": {"line2": {"kind": "generic"}},
        "publish": {"target": "greengrass"},
    }
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@pytest.mark.parametrize("command", ["check", "run"])
def test_check_and_run_name_the_extra_of_each_configured_feature(
    command: str, smb_and_greengrass_config: Path, tmp_path: Path
) -> None:
    result = cli(
        [command, "--config", str(smb_and_greengrass_config)],
        missing=["smbclient", "awsiot"],
        cwd=tmp_path,
    )

    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("sources[line2].type: reading SMB shares needs the smbprotocol")
    assert lines[0].endswith("pip install 'edge-agent[smb]'")
    assert lines[1].startswith("publish.target: talking to the Greengrass nucleus needs")
    assert lines[1].endswith("pip install 'edge-agent[greengrass]'")
    assert not (tmp_path / "state").exists()  # run refused before it started anything


def test_check_passes_when_the_extras_are_installed(
    smb_and_greengrass_config: Path, tmp_path: Path
) -> None:
    result = cli(["check", "--config", str(smb_and_greengrass_config)], missing=[], cwd=tmp_path)

    assert result.returncode == 0, result.stderr


def test_the_demo_names_its_extra(tmp_path: Path) -> None:
    result = cli(["demo", "--duration", "1", "--plain"], missing=["amqtt"], cwd=tmp_path)

    assert result.returncode == 1
    assert "the demo's embedded MQTT broker needs the amqtt package" in result.stderr
    assert "pip install 'edge-agent[demo]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_greengrass_names_its_extra(tmp_path: Path) -> None:
    result = cli(["run", "--greengrass"], missing=["awscrt"], cwd=tmp_path)

    assert result.returncode == 1
    assert "pip install 'edge-agent[greengrass]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_greengrass_lets_any_other_import_error_surface_as_a_bug(tmp_path: Path) -> None:
    # One of our own modules missing is a broken build, not a feature left out.
    result = cli(["run", "--greengrass"], missing=["edge_agent.greengrass.session"], cwd=tmp_path)

    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "ModuleNotFoundError" in result.stderr
    assert "edge_agent.greengrass.session" in result.stderr
    assert "edge-agent[" not in result.stderr


def test_only_the_extras_own_modules_are_translated() -> None:
    with pytest.raises(MissingExtraError) as caught, optional_dependency("smb"):
        raise ModuleNotFoundError("No module named 'spnego.ntlm'", name="spnego.ntlm")
    error = caught.value
    assert isinstance(error, ImportError)  # `except ImportError` still sees it
    assert (error.extra, error.package, error.name) == ("smb", "smbprotocol", "spnego")
    assert error.install == "pip install 'edge-agent[smb]'"

    with pytest.raises(ModuleNotFoundError) as other, optional_dependency("smb"):
        raise ModuleNotFoundError("No module named 'edge_agent.x'", name="edge_agent.x")
    assert not isinstance(other.value, MissingExtraError)

    with pytest.raises(ImportError) as broken, optional_dependency("smb"):
        raise ImportError("cannot import name 'Gone' from 'smbprotocol'", name="smbprotocol")
    assert not isinstance(broken.value, MissingExtraError)  # installed but broken: a bug


def test_every_extra_is_declared_in_pyproject_and_dev_installs_them_all() -> None:
    with (ROOT / "pyproject.toml").open("rb") as f:
        optional = tomllib.load(f)["project"]["optional-dependencies"]

    for extra in EXTRAS.values():
        assert any(req.startswith(extra.distribution) for req in optional[extra.name]), extra
    [dev_self] = [req for req in optional["dev"] if req.startswith("edge-agent[")]
    assert set(dev_self.removeprefix("edge-agent[").rstrip("]").split(",")) >= {"test", *EXTRAS}
