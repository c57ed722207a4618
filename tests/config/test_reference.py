"""docs/configuration.md is generated from the models: it is current, and every key has its
one line of meaning."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from edge_agent.config.reference import COMMAND, keys, main, missing_descriptions, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"

UNDESCRIBED: frozenset[str] = frozenset()  # every key has its line of meaning


def test_the_reference_is_current() -> None:
    if DOC.read_text(encoding="utf-8") != render():
        pytest.fail(f"docs/configuration.md is stale: run `{COMMAND}` and commit the result")


def test_every_key_has_a_description() -> None:
    missing = set(missing_descriptions())
    assert not missing - UNDESCRIBED, (
        "keys without a description (give the field an attribute docstring, a line of "
        f"meaning): {sorted(missing - UNDESCRIBED)}"
    )
    assert not UNDESCRIBED - missing, (
        f"described now, take them out of UNDESCRIBED: {sorted(UNDESCRIBED - missing)}"
    )


def test_the_reference_shows_key_paths_types_defaults_and_the_notes() -> None:
    by_path = {k.path: k for k in keys()}
    password_env = by_path["sources[].smb.passwordEnv"]
    assert (password_env.type, password_env.default) == ("text or null", "`null`")
    assert by_path["publish.mqtt.tls.ca"].type == "path"
    assert by_path["sources[].moveTo"].type == "path or null"
    assert by_path["sources[].mode"].allowed == '`"complete"`, `"append"`'
    assert by_path["health.port"].allowed == "≥ 0, ≤ 65535"
    assert by_path["sources"].default == "**required**"
    assert by_path["datasets.<name>.columns"].default == "`{}`"
    assert by_path["thingName"].default == "see meaning"
    text = render()
    for heading in (
        "## Paths: relative to the configuration file",
        "## Files without a header row: columns by position",
        "## Plain MQTT, without TLS",
        "## The health endpoint: `health.port`",
        "## Logs: `logging.format` and `logging.level`",
        "### `datasets.<name>`",
    ):
        assert heading in text


def test_the_command_prints_or_writes_it(tmp_path: Path) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([]) == 0
    assert out.getvalue() == render()
    with contextlib.redirect_stderr(io.StringIO()):
        assert main(["--write", str(tmp_path / "c.md")]) == 0
    assert (tmp_path / "c.md").read_text(encoding="utf-8") == render()
