"""``edge-agent check``: the configuration, this machine, and (``--probe``) the servers.

One pass names every problem: those of the configuration itself, then those of the sections
that are valid on this machine (config/environment.py), then, with ``probe``, what connecting
says (config/probe.py). The Greengrass component asks the same of a proposed configuration
(greengrass/configuration.py), without connecting.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from edge_agent.config.environment import Findings, environment_findings
from edge_agent.config.load import load_document, parse_config
from edge_agent.config.models import AgentConfig
from edge_agent.config.paths import base_folder
from edge_agent.config.probe import probe_findings
from edge_agent.config.sections import Sections
from edge_agent.errors import ConfigError
from edge_agent.extras import config_problems as extras_problems


@dataclass(frozen=True)
class CheckResult:
    """What ``check`` found: the configuration (None when refused) and the findings."""

    config: AgentConfig | None
    findings: Findings

    @property
    def ok(self) -> bool:
        """Whether the agent can run this configuration here."""
        return self.config is not None and not self.findings.problems


def check_document(
    document: dict[str, Any],
    *,
    base_dir: Path,
    greengrass: bool = False,
    probe: bool = False,
    now: datetime | None = None,
) -> CheckResult:
    """Check a configuration mapping whose relative paths start at ``base_dir``."""
    found = Findings()
    config = None
    try:
        config = parse_config(document, base_dir=base_dir)
    except ConfigError as e:
        found.problems += e.problems
    if config is not None:
        # What `run` needs beyond the configuration itself: the extras it names.
        found.problems += extras_problems(config)
    # Of a refused configuration, the sections that are valid by themselves are checked.
    sections = Sections.of(config) if config is not None else Sections.salvage(document, base_dir)
    found.extend(environment_findings(sections, greengrass=greengrass, now=now))
    if probe:
        found.extend(probe_findings(sections, skip=frozenset(p.path for p in found.problems)))
    return CheckResult(config, found)


def check_file(path: str | Path, *, probe: bool = False) -> CheckResult:
    """Check the configuration file (or recipe) at ``path``."""
    try:
        document = load_document(path)
    except ConfigError as e:
        return CheckResult(None, Findings(problems=list(e.problems)))
    return check_document(document, base_dir=base_folder(path), probe=probe)


def run_check(
    path: str, *, probe: bool = False, out: TextIO | None = None, err: TextIO | None = None
) -> bool:
    """``edge-agent check``: one line per problem on stderr, then their count; warnings and
    what the probe verified on stdout. True when the agent can run this configuration."""
    out, err = out or sys.stdout, err or sys.stderr
    result = check_file(path, probe=probe)
    found, config = result.findings, result.config
    if result.ok and config is not None:
        print(
            f"{path}: OK ({len(config.sources)} source(s), {len(config.datasets)} dataset(s), "
            f"publish to {config.publish.target}, thingName {config.thing_name})",
            file=out,
        )
    for warning in found.warnings:
        print(f"warning: {warning}", file=out)
    for passed in found.passed:
        print(f"probe: {passed}", file=out)
    for problem in found.problems:
        print(problem, file=err)
    if found.problems:
        print(f"{len(found.problems)} problem(s) in {path}", file=err)
    return result.ok
