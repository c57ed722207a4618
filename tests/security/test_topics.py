"""Names that go into MQTT topics cannot inject topic syntax or break IoT Core's limits.

thingName, source and dataset names are validated when the configuration is loaded; whatever
the configuration accepts renders to topics of at most 256 bytes and 7 slashes, with each
placeholder filling exactly one topic level and no wildcard, NUL or control character.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.config.load import parse_config
from edge_agent.config.models import AgentConfig
from edge_agent.config.topics import (
    MAX_TOPIC_BYTES,
    MAX_TOPIC_SLASHES,
    TopicTemplate,
    check_topic,
    sanitize_topic_value,
)
from edge_agent.errors import ConfigError
from tests.fuzz import fuzz_settings

BASE: dict[str, Any] = {
    "thingName": "gw-01",
    "sources": [{"name": "line1", "path": "/srv/in", "dataset": "line1"}],
    "datasets": {"line1": {"topic": "dt/edge-agent/{thingName}/{dataset}/{source}"}},
}
INJECTIONS = ["a/b", "a+b", "+", "#", "a#", "a\x00b", "a\nb", "a\tb", "", " ", "a" * 300, "$aws"]


def document(thing: str, source: str, dataset: str, topic: str | None = None) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    doc["thingName"] = thing
    doc["sources"][0].update(name=source, dataset=dataset)
    doc["datasets"] = {dataset: {"topic": topic or BASE["datasets"]["line1"]["topic"]}}
    return doc


def accepted(doc: dict[str, Any]) -> AgentConfig | None:
    try:
        return parse_config(doc)
    except ConfigError:
        return None


def rendered(config: AgentConfig) -> list[str]:
    """Every topic the agent publishes on for this configuration (data and quarantine)."""
    topics = []
    for source in config.sources:
        dataset = config.datasets[source.dataset]
        topic = TopicTemplate(dataset.topic).render(
            thingName=config.thing_name,
            dataset=source.dataset,
            kind=dataset.kind,
            source=source.name,
        )
        topics += [topic, topic + "/quarantine"]
    return topics


@pytest.mark.parametrize("bad", INJECTIONS)
@pytest.mark.parametrize("where", ["thing", "source", "dataset"])
def test_names_that_would_inject_topic_syntax_are_refused(where: str, bad: str) -> None:
    names = {"thing": "gw-01", "source": "line1", "dataset": "line1", where: bad}
    with pytest.raises(ConfigError) as caught:
        parse_config(document(names["thing"], names["source"], names["dataset"]))
    paths = {p.path for p in caught.value.problems}
    expected = {
        "thing": ("thingName",),
        "source": ("sources[0].name",),
        "dataset": ("datasets", "sources[0].dataset"),
    }[where]
    assert any(p.startswith(expected) for p in paths), paths


@pytest.mark.parametrize(
    "template",
    [
        "dt/+/{dataset}",
        "dt/#",
        "dt/{thingName}/\x00",
        "/dt/x",
        "dt/\x01x/{thingName}",
        "dt/a\nb",
        "dt/a\x9bb",
        "dt/\ud800",
        "$aws/things/{thingName}/shadow/update",
        "$SYS/x",
    ],
)
def test_unsafe_templates_are_refused(template: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(document("gw-01", "line1", "line1", template))
    assert [p.path for p in caught.value.problems] == ["datasets.line1.topic"]


def test_basic_ingest_topics_are_accepted() -> None:
    config = parse_config(document("gw-01", "line1", "line1", "$aws/rules/ingest/dt/{thingName}"))
    assert rendered(config)[0] == "$aws/rules/ingest/dt/gw-01"


def test_values_are_sanitized_when_rendered() -> None:
    for value in ("a/b", "a+b", "a#b", "a\x00b"):
        assert sanitize_topic_value(value) == "a_b"
    assert sanitize_topic_value("") == "_"
    assert TopicTemplate("dt/{thingName}/{source}").render(thingName="x/#", source="+") == (
        "dt/x__/_"
    )


names = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from("/+#\x00.-_:$"),
    max_size=140,
) | st.sampled_from(INJECTIONS)
templates = st.lists(
    st.sampled_from(["dt", "{thingName}", "{dataset}", "{source}", "{kind}", "x" * 40, "a/b"]),
    min_size=1,
    max_size=9,
).map("/".join)


@fuzz_settings(300)
@given(names, names, names, templates)
def test_whatever_is_accepted_renders_to_safe_topics(
    thing: str, source: str, dataset: str, template: str
) -> None:
    config = accepted(document(thing, source, dataset, template))
    if config is None:
        return
    for topic in rendered(config):
        assert check_topic(topic) is None, topic
        assert len(topic.encode("utf-8")) <= MAX_TOPIC_BYTES
        assert topic.count("/") <= MAX_TOPIC_SLASHES
        assert all(c.isprintable() for c in topic), repr(topic)
        # Each placeholder filled exactly one level: as many levels as the template has.
        assert topic.count("/") == template.count("/") + topic.endswith("/quarantine")


def test_a_long_source_name_cannot_make_the_topic_too_long() -> None:
    doc = document("t" * 128, "s" * 64, "d" * 64, "dt/{thingName}/{dataset}/{source}")
    config = accepted(doc)
    assert config is None or all(check_topic(t) is None for t in rendered(config))
