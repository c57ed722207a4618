"""The agent configuration inside a Greengrass component configuration.

Relative paths in it (stateDir, source folders, moveTo, TLS files) are relative to the
component's work folder, which Greengrass makes the working directory of the component's
processes: recipe variables such as {work:path} are not interpolated in configuration.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from edge_agent.config.check import check_document
from edge_agent.config.load import extract_configuration, parse_config
from edge_agent.config.models import AgentConfig
from edge_agent.config.paths import resolve_paths
from edge_agent.errors import ConfigError, ConfigProblem

log = logging.getLogger("edge_agent.greengrass.configuration")


def parse_component_configuration(
    configuration: dict[str, Any],
) -> tuple[dict[str, Any], AgentConfig]:
    """The agent configuration in a component configuration, as a mapping and validated
    (accessControl is the nucleus' business and left out); raise ConfigError naming every
    problem. Paths are as written: ``resolve_state_dir`` makes them absolute."""
    document = extract_configuration(configuration, origin="the component configuration")
    return document, parse_config(document)


def resolve_state_dir(config: AgentConfig, work_dir: Path) -> AgentConfig:
    """``config`` with every relative path (stateDir, source folders, moveTo, TLS files)
    under ``work_dir``, the component's work folder."""
    return resolve_paths(config, work_dir)


def configuration_problems(
    configuration: dict[str, Any], work_dir: Path | None = None
) -> list[ConfigProblem]:
    """Every problem of a proposed component configuration (none: the agent would run it).

    The configuration and this machine (folders, TLS files, stateDir, password variables) are
    checked as ``edge-agent check`` does, with relative paths under ``work_dir`` (default: the
    working directory, which Greengrass makes the work folder); warnings are logged.
    """
    try:
        document = extract_configuration(configuration, origin="the component configuration")
    except ConfigError as e:
        return e.problems
    result = check_document(document, base_dir=work_dir or Path.cwd(), greengrass=True)
    for warning in result.findings.warnings:
        log.warning("configuration warning", extra={"problem": str(warning)})
    return result.findings.problems
