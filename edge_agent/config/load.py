"""Load a configuration from YAML, JSON or a Greengrass recipe, and explain every problem.

Every problem is reported with its key path in the configuration's own (camelCase) names and a
hint; the configuration is accepted or refused as a whole.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from edge_agent.config.models import AgentConfig
from edge_agent.errors import ConfigError, ConfigProblem

# Keys Greengrass puts beside the configuration that are not ours to validate.
_GREENGRASS_KEYS = ("accessControl",)


def load_document(path: str | Path) -> dict[str, Any]:
    """Read a YAML/JSON configuration or recipe file into the configuration mapping."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(
            [ConfigProblem("", f"file {p} does not exist", "give the path of the YAML/JSON file")]
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(
            [ConfigProblem("", f"cannot read {p}: {e}", "save it as UTF-8")]
        ) from None
    try:
        document = yaml.safe_load(text)
    except RecursionError:
        raise ConfigError(
            [
                ConfigProblem(
                    "",
                    f"{p} is nested too deeply to be a configuration",
                    "check that every [ and { is closed",
                )
            ]
        ) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(
            [
                ConfigProblem(
                    "",
                    f"{p} is not valid YAML/JSON{where}: {problem}",
                    "check indentation (spaces, not tabs) and quotes",
                )
            ]
        ) from None
    return extract_configuration(document, origin=str(p))


def extract_configuration(document: Any, origin: str = "configuration") -> dict[str, Any]:
    """The agent configuration in a document: itself, or a recipe's DefaultConfiguration."""
    if not isinstance(document, dict):
        raise ConfigError(
            [
                ConfigProblem(
                    "", f"{origin} must be a mapping of keys, not {type(document).__name__}"
                )
            ]
        )
    if "ComponentConfiguration" in document or "RecipeFormatVersion" in document:
        component = document.get("ComponentConfiguration")
        default = component.get("DefaultConfiguration") if isinstance(component, dict) else None
        if not isinstance(default, dict):
            raise ConfigError(
                [
                    ConfigProblem(
                        "ComponentConfiguration.DefaultConfiguration",
                        "missing in this recipe",
                        "a recipe passed to --config must carry the agent configuration there",
                    )
                ]
            )
        document = default
    return {k: v for k, v in document.items() if k not in _GREENGRASS_KEYS}


def parse_config(document: dict[str, Any]) -> AgentConfig:
    """Validate a configuration mapping; raise ConfigError naming every problem."""
    try:
        return AgentConfig.model_validate(document)
    except ValidationError as e:
        # Cross-reference checks of the model run only once every field is valid; run them on
        # the raw document too, so one pass names every problem.
        problems = explain(e, document)
        known = {(p.path, p.message) for p in problems}
        problems += [p for p in _cross_check(document) if (p.path, p.message) not in known]
        raise ConfigError(problems) from None


def _cross_check(document: dict[str, Any]) -> list[ConfigProblem]:
    """Source-to-dataset references and duplicate names, checked on the raw mapping."""
    problems: list[ConfigProblem] = []
    datasets = document.get("datasets")
    sources = document.get("sources")
    if not isinstance(datasets, dict) or not isinstance(sources, list):
        return problems
    names: list[str] = []
    for i, source in enumerate(sources):
        if not isinstance(source, dict):
            continue
        name = source.get("name")
        if isinstance(name, str):
            if name in names:
                problems.append(
                    ConfigProblem(f"sources[{i}].name", f"{name!r} is used twice", "rename one")
                )
            names.append(name)
        dataset = source.get("dataset")
        if isinstance(dataset, str) and dataset not in datasets:
            defined = ", ".join(sorted(map(str, datasets))) or "none"
            problems.append(
                ConfigProblem(
                    f"sources[{i}].dataset",
                    f"dataset {dataset!r} is not defined under datasets",
                    f"defined: {defined}",
                )
            )
    return problems


def load_config(path: str | Path) -> AgentConfig:
    """Load and validate the configuration at ``path``."""
    return parse_config(load_document(path))


def explain(error: ValidationError, document: Any = None) -> list[ConfigProblem]:
    """Turn pydantic's errors into problems with key paths and hints a technician can act on.

    With the validated ``document``, a key that is in it is never mistaken for one of the
    names pydantic adds to a location (a column titled "str" stays in the path).
    """
    problems: list[ConfigProblem] = []
    seen: set[tuple[str, str]] = set()
    for item in error.errors(include_url=False):
        loc = _aliased(_keys_only(item["loc"], document))
        path = _format_path(loc)
        kind = item["type"]
        message = str(item["msg"])
        hint = ""
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        if kind == "extra_forbidden":
            message = "unknown key"
            hint = _suggest(loc)
        elif kind == "missing":
            message = "required key is missing"
        elif message == "Keys should be strings" or (
            kind == "string_type" and item["loc"][-1:] == ("[key]",)
        ):
            message = "keys are text"
            hint = 'put the key in quotes, e.g. "1": ...'
        elif kind == "too_short" and any(
            len(other["loc"]) > len(item["loc"]) and other["loc"][: len(item["loc"])] == item["loc"]
            for other in error.errors(include_url=False)
        ):
            continue  # the list is short only because its items failed; those are reported
        for problem in _split(path, message, hint):
            key = (problem.path, problem.message)
            if key not in seen:
                seen.add(key)
                problems.append(problem)
    # A value of a union type (a name or a list of names) that fits no member is reported once
    # per member; the deeper report says which item is wrong.
    return [
        p
        for p in problems
        if not any(
            (p.path, p.message) != (o.path, o.message)
            and o.message == p.message
            and o.path.startswith((p.path + "[", p.path + "."))
            for o in problems
        )
    ]


def _split(path: str, message: str, hint: str) -> list[ConfigProblem]:
    """Model-level checks report "key.path: message — hint" lines; make them problems."""
    if path or ":" not in message:
        return [ConfigProblem(path, message, hint)]
    out = []
    for line in message.splitlines():
        where, _, text = line.partition(": ")
        text, _, line_hint = text.partition(" — ")
        out.append(ConfigProblem(where, text, line_hint or hint))
    return out


def _aliased(loc: list[int | str]) -> list[int | str]:
    """Key paths in the configuration's camelCase names (defaults are reported by field name)."""
    out: list[int | str] = []
    for i, part in enumerate(loc):
        model = _model_at(loc[:i]) if isinstance(part, str) else None
        field = (
            model.model_fields.get(part) if model is not None and isinstance(part, str) else None
        )
        out.append(field.alias if field is not None and field.alias else part)
    return out


# What pydantic adds to a location for a union member or a validator: "str", "int",
# "constrained-str", "tuple[constrained-str, ...]", "function-after[...]", "union[...]".
_INTERNAL = re.compile(
    r"(str|int|float|bool|bytes|none|[a-z]+(-[a-z]+)+)(\[.*\])?|[a-z]+\[.*\]|\[.*"
)


def _keys_only(loc: tuple[int | str, ...], document: Any) -> list[int | str]:
    """The location without the names pydantic adds (keys found in ``document`` stay).

    A key that is not text in the document (YAML ``1:``, ``null:``) is named as it is written
    there, after a dot: ``datasets.1``, not ``datasets[1]``, which reads as a list position.
    """
    out: list[int | str] = []
    node = document
    for part in loc:
        if isinstance(node, dict) and (key := _key_in(node, part)) is not _ABSENT:
            node = node[key]
            out.append(key if isinstance(key, str) else _written(key))
            continue
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(part, str) and _INTERNAL.fullmatch(part):
            continue
        else:
            node = None
        out.append(part)
    return out


_ABSENT = object()


def _key_in(mapping: dict[Any, Any], part: int | str) -> Any:
    """The key of ``mapping`` that pydantic's location ``part`` stands for, or _ABSENT."""
    if part in mapping:
        return part
    return next((k for k in mapping if not isinstance(k, str) and str(k) == part), _ABSENT)


def _written(key: Any) -> str:
    """A non-text key as YAML/JSON writes it."""
    try:
        return json.dumps(key)
    except TypeError:
        return str(key)


def _format_path(loc: list[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not part.strip() or not part.isprintable():
            # An empty key or one with a line break: quoted, so the problem stays one line.
            out += f"[{json.dumps(part)}]"
        else:
            out += ("." if out else "") + part
    return out


def _suggest(loc: list[int | str]) -> str:
    """'did you mean ...' for an unknown key, from the keys its model accepts."""
    model = _model_at(loc[:-1])
    unknown = loc[-1] if loc else ""
    if model is None or not isinstance(unknown, str):
        return "remove it or check its spelling"
    known = sorted((field.alias or name) for name, field in model.model_fields.items())
    close = difflib.get_close_matches(unknown, known, n=1, cutoff=0.6)
    if not close:
        lowered = {k.lower(): k for k in known}
        match = lowered.get(unknown.lower().replace("_", ""))
        close = [match] if match else []
    if close:
        return f"did you mean {close[0]!r}?"
    return f"known keys here: {', '.join(known)}"


def _model_at(loc: list[int | str]) -> type[BaseModel] | None:
    """The model that validates the mapping found at ``loc``."""
    annotation: Any = AgentConfig
    for part in loc:
        origin = getattr(annotation, "__origin__", None)
        if origin in (dict, tuple, list):
            annotation = annotation.__args__[-1 if origin is dict else 0]
            continue
        model = _model_in(annotation)
        if model is None:
            return None
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return None
        annotation = _unwrap_optional(field.annotation)
    return _model_in(annotation)


def _unwrap_optional(annotation: Any) -> Any:
    args = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
    if getattr(annotation, "__origin__", None) is None and len(args) == 1:
        return args[0]
    return annotation


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def dump_problems(problems: list[ConfigProblem]) -> str:
    """One line per problem, for ``edge-agent check`` and the logs."""
    return "\n".join(str(p) for p in problems)


def to_json(document: dict[str, Any]) -> str:
    """Canonical JSON of a configuration mapping (for status and change detection)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))
