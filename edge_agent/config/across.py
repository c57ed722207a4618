"""Checks across sections: names and references between sources, datasets, health and cea,
and the topics they render to.

Each check is here and nowhere else. ``AgentConfig`` runs them once every section is valid;
the loader runs them on the sections that are valid when some are not (config/sections.py).
Every problem is at its own key, with a hint (config/base.py ``problem``).
"""

from __future__ import annotations

import re

from pydantic_core import InitErrorDetails

from edge_agent.config.base import ACROSS, NAME_PATTERN, Loc, problem
from edge_agent.config.datasets import FARM_KINDS
from edge_agent.config.sections import Sections
from edge_agent.config.topics import TopicTemplate, check_topic


def across_problems(sections: Sections) -> list[InitErrorDetails]:
    """Every problem between the sections of a configuration."""
    return [
        *_source_names_and_references(sections),
        *_dataset_names_topics_and_kinds(sections),
        *_shared_topics(sections),
        *_alerts_topic(sections),
    ]


def _problem(loc: Loc, message: str, hint: str = "") -> InitErrorDetails:
    return problem(loc, message, hint, kind=ACROSS)


def _source_names_and_references(sections: Sections) -> list[InitErrorDetails]:
    problems = []
    seen: set[str] = set()
    datasets = sections.datasets
    for i, source in enumerate(sections.sources):
        if source.name is not None:
            if source.name in seen:
                problems.append(
                    _problem(("sources", i, "name"), f"{source.name!r} is used twice", "rename one")
                )
            seen.add(source.name)
        if source.dataset is not None and datasets is not None and source.dataset not in datasets:
            problems.append(
                _problem(
                    ("sources", i, "dataset"),
                    f"dataset {source.dataset!r} is not defined under datasets",
                    f"defined: {', '.join(sorted(datasets)) or 'none'}",
                )
            )
    return problems


def _dataset_names_topics_and_kinds(sections: Sections) -> list[InitErrorDetails]:
    problems = []
    for name, dataset in (sections.datasets or {}).items():
        if not re.fullmatch(NAME_PATTERN, name):
            problems.append(
                _problem(
                    ("datasets", name),
                    "use letters, digits, '_', '.', '-' (at most 64) in dataset names",
                )
            )
            continue
        if dataset is None:
            continue
        if sections.thing_name is not None:
            # The longest source name reading this dataset: {source} renders to it.
            readers = [s.name for s in sections.sources if s.dataset == name and s.name] or ["_"]
            topic = TopicTemplate(dataset.topic).render(
                thingName=sections.thing_name,
                dataset=name,
                kind=dataset.kind,
                source=max(readers, key=len),
            )
            for rendered in (topic, topic + "/quarantine"):
                wrong = check_topic(rendered)
                if wrong:
                    problems.append(
                        _problem(("datasets", name, "topic"), f"renders to {rendered!r}: {wrong}")
                    )
                    break
        if dataset.kind in FARM_KINDS and not sections.cea_given:
            problems.append(
                _problem(
                    ("datasets", name, "kind"),
                    f"{dataset.kind} data is fused on the farm's site",
                    "add a cea section with at least siteId (e.g. cea: {siteId: site-01})",
                )
            )
    return problems


def _shared_topics(sections: Sections) -> list[InitErrorDetails]:
    """The status and alerts topics must not be a dataset's (consumers tell them apart)."""
    if sections.thing_name is None:
        return []
    data: dict[str, str] = {}
    for source in sections.sources:
        dataset = (sections.datasets or {}).get(source.dataset or "")
        if dataset is None or source.dataset is None or source.name is None:
            continue
        topic = TopicTemplate(dataset.topic).render(
            thingName=sections.thing_name,
            dataset=source.dataset,
            kind=dataset.kind,
            source=source.name,
        )
        data[topic] = data[topic + "/quarantine"] = source.dataset
    own: list[tuple[Loc, str, str]] = []
    if sections.health is not None:
        own.append((("health", "status_topic"), "health.statusTopic", sections.health.status_topic))
    if sections.cea is not None:
        own.append((("cea", "alerts_topic"), "cea.alertsTopic", sections.cea.alerts_topic))
    problems = []
    for loc, key, template in own:
        topic = TopicTemplate(template).render(
            thingName=sections.thing_name, dataset="", kind="", source=""
        )
        if topic in data:
            problems.append(
                _problem(
                    loc,
                    f"renders to {topic!r}, a topic of dataset {data[topic]!r}",
                    f"give {key} a topic of its own, or rename the dataset",
                )
            )
    return problems


def _alerts_topic(sections: Sections) -> list[InitErrorDetails]:
    if sections.cea is None or sections.thing_name is None:
        return []
    topic = TopicTemplate(sections.cea.alerts_topic).render(
        thingName=sections.thing_name, dataset="alerts", kind="alert"
    )
    wrong = check_topic(topic)
    return [_problem(("cea", "alerts_topic"), f"renders to {topic!r}: {wrong}")] if wrong else []
