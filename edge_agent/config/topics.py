"""MQTT topic templates: validated when the configuration is loaded, sanitized when rendered.

AWS IoT Core accepts topics of at most 256 bytes with at most 7 forward slashes (not counting
a leading ``$aws/rules/<rule>/``). Values put into a topic must not inject MQTT syntax.
"""

from __future__ import annotations

import re
import string

PLACEHOLDERS = frozenset({"thingName", "dataset", "kind", "source"})
MAX_TOPIC_BYTES = 256
MAX_TOPIC_SLASHES = 7
_RULES_PREFIX = re.compile(r"^\$aws/rules/[^/]+/")
_UNSAFE = re.compile(r"[+#/\x00]")
# The MQTT spec's "SHOULD NOT" characters in topic names: C0 and C1 controls.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def sanitize_topic_value(value: str) -> str:
    """Make a value safe inside one topic level: ``+ # / NUL`` become ``_``."""
    return _UNSAFE.sub("_", value) or "_"


def check_topic(topic: str) -> str | None:
    """Return what is wrong with a concrete topic for AWS IoT Core, or None."""
    if not topic:
        return "empty topic"
    if topic.startswith("/"):
        return "a topic must not start with '/'"
    if "+" in topic or "#" in topic:
        return "wildcards '+' and '#' cannot be published to"
    if "\x00" in topic:
        return "NUL character in topic"
    if _CONTROL.search(topic):
        return "control character (line break, tab, ...) in topic"
    if topic.startswith("$") and not _RULES_PREFIX.match(topic):
        return (
            "topics starting with '$' are reserved by AWS IoT (device shadows, jobs, ...); "
            "only $aws/rules/<rule>/... (Basic Ingest) may be published to"
        )
    try:
        size = len(topic.encode("utf-8"))
    except UnicodeEncodeError:
        return "not valid UTF-8 (a lone surrogate)"
    if size > MAX_TOPIC_BYTES:
        return f"{size} bytes, more than AWS IoT Core's {MAX_TOPIC_BYTES}"
    slashes = _RULES_PREFIX.sub("", topic).count("/")
    if slashes > MAX_TOPIC_SLASHES:
        return f"{slashes} slashes, more than AWS IoT Core's {MAX_TOPIC_SLASHES}"
    return None


class TopicTemplate:
    """A topic with ``{thingName}``, ``{dataset}``, ``{kind}`` and ``{source}`` placeholders."""

    __slots__ = ("fields", "template")

    def __init__(self, template: str) -> None:
        fields: set[str] = set()
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError as e:
            raise ValueError(f"topic template {template!r}: {e}") from None
        for _literal, field, spec, conversion in parsed:
            if field is None:
                continue
            if field not in PLACEHOLDERS or spec or conversion:
                allowed = ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
                raise ValueError(f"unknown placeholder {{{field}}} in topic; allowed: {allowed}")
            fields.add(field)
        self.template = template
        self.fields = frozenset(fields)

    def render(self, **values: str) -> str:
        """The topic with every placeholder replaced by its sanitized value."""
        safe = {k: sanitize_topic_value(v) for k, v in values.items()}
        safe.setdefault("source", "_")
        return self.template.format(**safe)
