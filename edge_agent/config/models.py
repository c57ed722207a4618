"""The agent configuration: every section together, and the checks that span sections.

Keys are camelCase (Greengrass configurations are); unknown keys are errors; every model is
frozen and validated once. Numbers that Greengrass hands back as floats (``5.0``) are accepted
where an integer is meant. The sections live in their own modules (sources, datasets, publish,
operations, farm).
"""

from __future__ import annotations

import os
import re

from pydantic import Field, field_validator, model_validator

from edge_agent.config.base import NAME_PATTERN, Model, PositiveSeconds
from edge_agent.config.datasets import FARM_KINDS, DatasetConfig
from edge_agent.config.farm import CeaConfig
from edge_agent.config.operations import HealthConfig, LoggingConfig
from edge_agent.config.publish import OutboxConfig, PublishConfig
from edge_agent.config.sources import SourceConfig
from edge_agent.config.topics import TopicTemplate, check_topic


class AgentConfig(Model):
    """The whole agent configuration (the component's DefaultConfiguration)."""

    thing_name: str = Field(
        default_factory=lambda: os.environ.get("AWS_IOT_THING_NAME", ""),
        validate_default=True,
    )
    state_dir: str = "/var/lib/edge-agent"
    sources: tuple[SourceConfig, ...] = Field(min_length=1)
    datasets: dict[str, DatasetConfig] = Field(min_length=1)
    publish: PublishConfig = PublishConfig()
    outbox: OutboxConfig = OutboxConfig()
    logging: LoggingConfig = LoggingConfig()
    health: HealthConfig = HealthConfig()
    cea: CeaConfig | None = None
    shutdown_timeout_seconds: PositiveSeconds = 10.0
    status_interval_seconds: PositiveSeconds = 30.0

    @field_validator("thing_name")
    @classmethod
    def _thing(cls, v: str) -> str:
        if not v:
            raise ValueError(
                "missing: set thingName, or the environment variable AWS_IOT_THING_NAME"
            )
        if not re.fullmatch(r"[A-Za-z0-9:_-]{1,128}", v):
            raise ValueError(
                "an AWS IoT thing name has 1-128 characters among letters, digits, ':', '_' and '-'"
            )
        return v

    @model_validator(mode="after")
    def _cross_references(self) -> AgentConfig:
        # Each problem is "key.path: message — hint" on a line of its own; the loader turns
        # them back into separate problems with their key paths.
        problems: list[str] = []
        seen: set[str] = set()
        for i, source in enumerate(self.sources):
            if source.name in seen:
                problems.append(f"sources[{i}].name: {source.name!r} is used twice — rename one")
            seen.add(source.name)
            if source.dataset not in self.datasets:
                known = ", ".join(sorted(self.datasets)) or "none"
                problems.append(
                    f"sources[{i}].dataset: dataset {source.dataset!r} is not defined under "
                    f"datasets — defined: {known}"
                )
        for name, dataset in self.datasets.items():
            if not re.fullmatch(NAME_PATTERN, name):
                problems.append(
                    f"datasets.{name}: use letters, digits, '_', '.', '-' (at most 64) in "
                    "dataset names"
                )
                continue
            # The longest source name reading this dataset: {source} renders to it.
            readers = [s.name for s in self.sources if s.dataset == name] or ["_"]
            for suffix in ("", "/quarantine"):
                topic = (
                    TopicTemplate(dataset.topic).render(
                        thingName=self.thing_name,
                        dataset=name,
                        kind=dataset.kind,
                        source=max(readers, key=len),
                    )
                    + suffix
                )
                problem = check_topic(topic)
                if problem:
                    problems.append(f"datasets.{name}.topic: renders to {topic!r}: {problem}")
                    break
            if dataset.kind in FARM_KINDS and self.cea is None:
                problems.append(
                    f"datasets.{name}.kind: {dataset.kind} data is fused on the farm's site — "
                    "add a cea section with at least siteId (e.g. cea: {siteId: site-01})"
                )
        problems += self._shared_topics()
        if self.cea is not None:
            problems += self.cea.problems()
            topic = TopicTemplate(self.cea.alerts_topic).render(
                thingName=self.thing_name, dataset="alerts", kind="alert"
            )
            problem = check_topic(topic)
            if problem:
                problems.append(f"cea.alertsTopic: renders to {topic!r}: {problem}")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _shared_topics(self) -> list[str]:
        """The status and alerts topics must not be a dataset's (consumers tell them apart)."""
        data: dict[str, str] = {}
        for source in self.sources:
            dataset = self.datasets.get(source.dataset)
            if dataset is None:
                continue
            topic = TopicTemplate(dataset.topic).render(
                thingName=self.thing_name,
                dataset=source.dataset,
                kind=dataset.kind,
                source=source.name,
            )
            data[topic] = data[topic + "/quarantine"] = source.dataset
        own = [("health.statusTopic", self.health.status_topic)]
        if self.cea is not None:
            own.append(("cea.alertsTopic", self.cea.alerts_topic))
        problems = []
        for key, template in own:
            topic = TopicTemplate(template).render(
                thingName=self.thing_name, dataset="", kind="", source=""
            )
            if topic in data:
                problems.append(
                    f"{key}: renders to {topic!r}, a topic of dataset {data[topic]!r} — "
                    f"give {key} a topic of its own, or rename the dataset"
                )
        return problems

    def source(self, name: str) -> SourceConfig:
        """The source called ``name``."""
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)
