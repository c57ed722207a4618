"""The agent configuration: every section together, and the checks that span sections.

Keys are camelCase (Greengrass configurations are); unknown keys are errors; every model is
frozen and validated once. Numbers that Greengrass hands back as floats (``5.0``) are accepted
where an integer is meant. The sections live in their own modules (sources, datasets, publish,
operations, farm); the checks across them in config/across.py.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from edge_agent.config.across import across_problems
from edge_agent.config.base import Model, PositiveSeconds, report
from edge_agent.config.datasets import DatasetConfig
from edge_agent.config.farm import CeaConfig
from edge_agent.config.operations import HealthConfig, LoggingConfig
from edge_agent.config.paths import DEFAULT_STATE_DIR, LocalPath
from edge_agent.config.publish import OutboxConfig, PublishConfig
from edge_agent.config.sections import Sections
from edge_agent.config.sources import SourceConfig
from edge_agent.config.thing import ThingName, thing_name_from_environment


class AgentConfig(Model):
    """The whole agent configuration (the component's DefaultConfiguration)."""

    thing_name: ThingName = Field(
        default_factory=thing_name_from_environment, validate_default=True
    )
    """AWS IoT thing name of this gateway; default: variable AWS_IOT_THING_NAME (Greengrass)."""
    state_dir: Annotated[str, LocalPath()] = DEFAULT_STATE_DIR
    """Folder of the ledger and outbox (SQLite) and the quarantine files; created if missing."""
    sources: tuple[SourceConfig, ...] = Field(min_length=1)
    """The folders and shares to watch."""
    datasets: dict[str, DatasetConfig] = Field(min_length=1)
    """How files are read and published, by dataset name (letters, digits, '_', '.', '-')."""
    publish: PublishConfig = PublishConfig()
    """Where batches go and how fast."""
    outbox: OutboxConfig = OutboxConfig()
    """Bounds of the durable outbox."""
    logging: LoggingConfig = LoggingConfig()
    """Log level and format."""
    health: HealthConfig = HealthConfig()
    """/healthz, /metrics, the heartbeat and progress lines."""
    cea: CeaConfig | None = None
    """The farm: site, fusion, grow recipes; needed by kinds tower, site, automation, seeding."""
    shutdown_timeout_seconds: PositiveSeconds = 10.0
    """On SIGTERM: how long the agent may take to finish what it reads and commit it."""
    status_interval_seconds: PositiveSeconds = 30.0
    """How often the status `edge-agent status` shows is written to the state database."""

    @model_validator(mode="after")
    def _across_sections(self) -> AgentConfig:
        report(AgentConfig, across_problems(Sections.of(self)))
        return self

    def source(self, name: str) -> SourceConfig:
        """The source called ``name``."""
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)
