"""Random configuration documents: refused only with ConfigError, each problem at its key.

Documents are a valid configuration mutated (keys deleted, renamed to near misses, values
retyped, unknown keys added) or random nestings of mappings, lists and scalars. Loading never
raises anything but ConfigError; every problem has a message and a key path that is in the
document (or, for a missing key, whose parent is), and prints on one line, as
``edge-agent check`` prints it (exit 2).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.cli import EXIT_CONFIG, EXIT_OK, main
from edge_agent.config.load import extract_configuration, load_config, parse_config
from edge_agent.errors import ConfigError, ConfigProblem
from tests.fuzz import fuzz_settings

VALID: dict[str, Any] = {
    "thingName": "gw-01",
    "stateDir": "/var/lib/edge-agent",
    "sources": [
        {
            "name": "line1",
            "path": "/srv/line1",
            "include": ["*.csv"],
            "settleSeconds": 5,
            "mode": "complete",
            "afterIngest": "move",
            "moveTo": "done",
            "dataset": "line1",
        },
        {
            "name": "hmi",
            "type": "smb",
            "smb": {"server": "10.0.0.5", "share": "data", "username": "u", "password": "pw"},
            "mode": "append",
            "dataset": "hmi.2",
        },
    ],
    "datasets": {
        "line1": {
            "csv": {"delimiter": ";", "decimal": ",", "timestampColumn": ["date", "time"]},
            "columns": {"Temp (°C)": {"name": "temp_c", "type": "float", "unit": "°C"}},
            "topic": "dt/edge-agent/{thingName}/{dataset}",
        },
        "hmi.2": {"kind": "generic", "csv": {"encoding": "cp1252", "maxLineBytes": 4096}},
    },
    "publish": {
        "target": "mqtt",
        "mqtt": {
            "host": "example-ats.iot.eu-central-1.amazonaws.com",
            "tls": {"ca": "ca.pem", "cert": "c.pem", "key": "k.pem"},
        },
        "maxPayloadBytes": 65536,
    },
    "outbox": {"maxBytes": 10_000_000},
    "logging": {"level": "info", "format": "json"},
    "health": {"port": None},
}

KEYS = sorted(
    {
        k
        for text in re.findall(r'"([A-Za-z][A-Za-z0-9_.]*)":', json.dumps(VALID))
        for k in (text, text.lower(), text[:-1], text + "s", re.sub(r"([A-Z])", r"_\1", text))
    }
    | {"", " ", "a\nb", "[0]", "sources[0]", "x.y", "ComponentConfiguration", "accessControl"}
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.sampled_from(["", "auto", "\\t", "\t", "5.0", "{thingName}", "{nope}", "#", "a/b/c"]),
    st.text(max_size=12),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYS), st.text(max_size=6), st.integers(-2, 2), st.none()),
            inner,
            max_size=5,
        ),
    ),
    max_leaves=25,
)


def _containers(node: Any, out: list[Any]) -> list[Any]:
    if isinstance(node, dict):
        out.append(node)
        for value in node.values():
            _containers(value, out)
    elif isinstance(node, list):
        out.append(node)
        for value in node:
            _containers(value, out)
    return out


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """The valid configuration with a few keys deleted, renamed, retyped or added."""
    document = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 4))):
        containers = _containers(document, [])
        node = draw(st.sampled_from(containers))
        action = draw(st.sampled_from(["delete", "rename", "retype", "add"]))
        if isinstance(node, list):
            if node and action == "delete":
                node.pop(draw(st.integers(0, len(node) - 1)))
            elif node:
                node[draw(st.integers(0, len(node) - 1))] = draw(documents)
            else:
                node.append(draw(documents))
            continue
        keys = list(node)
        if action == "add" or not keys:
            node[draw(st.sampled_from(KEYS))] = draw(documents)
            continue
        key = draw(st.sampled_from(keys))
        if action == "delete":
            del node[key]
        elif action == "rename":
            text = str(key)
            new = draw(
                st.sampled_from([text.lower(), text[:-1], text + "s", text.upper(), "x" + text])
            )
            node[new] = node.pop(key)
        else:
            node[key] = draw(documents)
    return document


_PART = re.compile(r"\[(\d+)\]")


def resolves(document: Any, path: str) -> bool:
    """Is ``path`` ("a.b[0].c", keys may themselves hold dots) a key in ``document``?"""
    if path == "":
        return True
    if isinstance(document, list):
        m = _PART.match(path)
        if not m or int(m.group(1)) >= len(document):
            return False
        rest = path[m.end() :].removeprefix(".")
        return resolves(document[int(m.group(1))], rest)
    if not isinstance(document, dict):
        return False
    if path.startswith('["'):
        key, end = json.JSONDecoder().raw_decode(path, 1)
        rest = path[end + 1 :].removeprefix(".")
        return key in document and resolves(document[key], rest)
    for raw in document:
        key = raw if isinstance(raw, str) else json.dumps(raw)  # YAML's 1: and null: keys
        if not path.startswith(key):
            continue
        rest = path[len(key) :]
        if rest.startswith((".", "[")) or rest == "":  # noqa: SIM102 - one test per line
            if resolves(document[raw], rest.removeprefix(".")):
                return True
    return False


def parent_of(path: str) -> tuple[str, str]:
    """Split the last key off a path: ("a.b", "c") for "a.b.c"."""
    if path.endswith('"]'):
        cut = path.rindex('["')
        return path[:cut], path[cut:]
    if path.endswith("]"):
        cut = path.rindex("[")
        return path[:cut], path[cut:]
    head, _, last = path.rpartition(".")
    return head, last


def check_problem(document: dict[str, Any], problem: ConfigProblem) -> None:
    text = str(problem)
    assert "\n" not in text, f"a problem must print on one line: {text!r}"
    assert problem.message.strip(), problem
    assert problem.path, f"no key path: {problem!r}"
    if resolves(document, problem.path):
        return
    # A missing key: named under a parent that is there, and said to be missing.
    parent, last = parent_of(problem.path)
    assert last, problem
    assert resolves(document, parent), f"{problem!r} is not a key of {document!r}"
    assert "missing" in problem.message, f"{problem!r} is not a key of {document!r}"


def refusal(document: Any) -> tuple[Any, list[ConfigProblem]]:
    """The configuration in ``document`` and the problems found in it (none if accepted)."""
    try:
        config = extract_configuration(document)
    except ConfigError as e:
        return document, e.problems
    try:
        parse_config(config)
    except ConfigError as e:
        return config, e.problems
    return config, []


def check_document(document: Any) -> None:
    config, problems = refusal(document)
    if config is document and not isinstance(document, dict):
        assert [bool(p.message) for p in problems] == [True]
        return
    for problem in problems:
        check_problem(config, problem)


def test_the_valid_configuration_is_valid() -> None:
    assert parse_config(copy.deepcopy(VALID)).sources[1].smb is not None


@fuzz_settings(300)
@given(mutated())
def test_a_mutated_configuration_names_each_problem_at_its_key(document: dict[str, Any]) -> None:
    check_document(document)


@fuzz_settings(200)
@given(documents)
def test_a_random_document_is_refused_with_config_error_only(document: Any) -> None:
    check_document(document)


@fuzz_settings(25)
@given(mutated())
def test_check_prints_one_line_per_problem_and_exits_2(document: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory(prefix="edge-fuzz-") as tmp:
        path = Path(tmp) / "agent.yaml"
        path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
        try:
            parse_config(extract_configuration(yaml.safe_load(path.read_text(encoding="utf-8"))))
        except ConfigError as e:
            problems: list[ConfigProblem] | None = e.problems
        else:
            problems = None
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["check", "--config", str(path)])
    lines = err.getvalue().splitlines()
    if code == EXIT_OK:
        assert problems is None and not lines and out.getvalue().startswith(f"{path}: OK")
        return
    assert code == EXIT_CONFIG
    # The configuration's own problems first, in order; then those of this machine (VALID
    # names folders and files that are not here), each at a key of the configuration.
    own = [str(p) for p in problems or []]
    assert lines[: len(own)] == own
    for line in lines[len(own) : -1]:
        assert MACHINE_PROBLEM.match(line), line
    assert lines[-1] == f"{len(lines) - 1} problem(s) in {path}"


MACHINE_PROBLEM = re.compile(r"(stateDir|sources\[\d+\]\.[A-Za-z.]+|publish\.mqtt\.[A-Za-z.]+): \S")


def problems_of(document: dict[str, Any]) -> list[str]:
    try:
        parse_config(document)
    except ConfigError as e:
        return [str(p) for p in e.problems]
    raise AssertionError("accepted")


def test_found_by_fuzzing() -> None:
    document = copy.deepcopy(VALID)
    document["datasets"]["line1"]["csv"]["timestampColumn"] = [None, "time"]
    assert problems_of(document) == [
        "datasets.line1.csv.timestampColumn[0]: Input should be a valid string"
    ]
    document = copy.deepcopy(VALID)
    document["datasets"]["line1"]["columns"] = {"str": {"type": 5}}
    [problem] = problems_of(document)
    assert problem.startswith("datasets.line1.columns.str.type: Input should be ")
    document = copy.deepcopy(VALID)
    document[""] = 1
    document["publish"]["a\nb"] = 2
    assert sorted(p.split(" — ")[0] for p in problems_of(document)) == [
        '[""]: unknown key',
        'publish["a\\nb"]: unknown key',
    ]


def test_a_tab_delimiter_in_yaml_is_accepted() -> None:
    document = copy.deepcopy(VALID)
    document["datasets"]["line1"]["csv"].update(yaml.safe_load('delimiter: "\\t"'))
    assert parse_config(document).datasets["line1"].csv.delimiter == "\t"


# (Deep nesting is slow to parse: test_deep_nesting_and_keys_that_are_not_text has it once.)
yaml_text = st.lists(
    st.sampled_from([*"ab1:-[]{}\n\t #&*!?|>'\",.%@`", "thingName", "sources", "  ", "- "])
).map("".join)


@fuzz_settings(150)
@given(yaml_text)
def test_any_text_as_a_configuration_file_is_refused_with_config_error_only(text: str) -> None:
    with tempfile.TemporaryDirectory(prefix="edge-fuzz-") as tmp:
        path = Path(tmp) / "agent.yaml"
        path.write_text(text, encoding="utf-8")
        problems: list[ConfigProblem] = []
        try:
            load_config(path)
        except ConfigError as e:
            problems = e.problems or [ConfigProblem("", "")]
        assert all(p.message and "\n" not in str(p) for p in problems)


def test_deep_nesting_and_keys_that_are_not_text() -> None:
    with tempfile.TemporaryDirectory(prefix="edge-fuzz-") as tmp:
        path = Path(tmp) / "agent.yaml"
        path.write_text("[" * 5000, encoding="utf-8")
        with pytest.raises(ConfigError, match="nested too deeply"):
            load_config(path)
    document = copy.deepcopy(VALID)
    document["datasets"][1] = {}
    document["sources"][0][None] = "x"
    assert sorted(p.split(" — ")[0] for p in problems_of(document)) == [
        "datasets.1: keys are text",
        "sources[0].null: keys are text",
    ]
