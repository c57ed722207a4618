"""The agent configuration inside a Greengrass component configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_agent.config.load import extract_configuration, parse_config
from edge_agent.config.models import AgentConfig
from edge_agent.errors import ConfigError, ConfigProblem


def parse_component_configuration(
    configuration: dict[str, Any],
) -> tuple[dict[str, Any], AgentConfig]:
    """The agent configuration in a component configuration, as a mapping and validated
    (accessControl is the nucleus' business and left out); raise ConfigError naming every
    problem."""
    document = extract_configuration(configuration, origin="the component configuration")
    return document, parse_config(document)


def resolve_state_dir(config: AgentConfig, work_dir: Path) -> AgentConfig:
    """A relative stateDir is under ``work_dir``: Greengrass runs the component in its work
    folder, and recipe variables such as {work:path} are not interpolated in configuration."""
    if Path(config.state_dir).is_absolute():
        return config
    return config.model_copy(update={"state_dir": str(work_dir / config.state_dir)})


def configuration_problems(configuration: dict[str, Any]) -> list[ConfigProblem]:
    """Every problem of a proposed component configuration (none: the agent would run it)."""
    try:
        parse_component_configuration(configuration)
    except ConfigError as e:
        return e.problems
    return []
