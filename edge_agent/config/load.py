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
from pydantic_core import ErrorDetails

from edge_agent.config.across import across_problems
from edge_agent.config.base import ACROSS, PROBLEM
from edge_agent.config.models import AgentConfig
from edge_agent.config.paths import base_folder, resolve_paths
from edge_agent.config.sections import Sections
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


def parse_config(document: dict[str, Any], base_dir: Path | None = None) -> AgentConfig:
    """Validate a configuration mapping; raise ConfigError naming every problem.

    With ``base_dir``, relative paths in it are resolved against that folder
    (config/paths.py); without, they are kept as written.
    """
    try:
        config = AgentConfig.model_validate(document)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        if not any(error["type"] == ACROSS for error in errors):
            # The checks across sections run only once every section is valid: run them on
            # the sections that are, so one pass names every problem.
            across = across_problems(Sections.salvage(document))
            if across:
                salvaged = ValidationError.from_exception_data(AgentConfig.__name__, across)
                errors += salvaged.errors(include_url=False)
        raise ConfigError(_explain(errors, document)) from None
    return resolve_paths(config, base_dir) if base_dir is not None else config


def load_config(path: str | Path) -> AgentConfig:
    """Load and validate the configuration at ``path``; its relative paths are resolved
    against the folder of the file (the agent and ``status`` get absolute paths)."""
    return parse_config(load_document(path), base_dir=base_folder(path))


def explain(error: ValidationError, document: Any = None) -> list[ConfigProblem]:
    """Turn pydantic's errors into problems with key paths and hints a technician can act on.

    With the validated ``document``, a key that is in it is never mistaken for one of the
    names pydantic adds to a location (a column titled "str" stays in the path).
    """
    return _explain(error.errors(include_url=False), document)


def _explain(errors: list[ErrorDetails], document: Any) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    seen: set[tuple[str, str]] = set()
    for item in errors:
        loc = _aliased(_keys_only(item["loc"], document))
        path = _format_path(loc)
        kind = item["type"]
        message = str(item["msg"])
        hint = ""
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        if kind in (PROBLEM, ACROSS):
            # Our own checks: the message and the hint travel apart (config/base.py).
            hint = str(item.get("ctx", {}).get("hint", ""))
        elif kind == "extra_forbidden":
            message = "unknown key"
            hint = _suggest(loc)
        elif kind == "missing":
            message = "required key is missing"
        elif kind in ("tuple_type", "list_type"):
            or_name = _union_partner(item, errors, "string_type")
            message, hint = _list_expected(loc, item["input"], or_name=or_name)
        elif message == "Keys should be strings" or (
            kind == "string_type" and item["loc"][-1:] == ("[key]",)
        ):
            message = "keys are text"
            hint = 'put the key in quotes, e.g. "1": ...'
        elif kind == "too_short" and any(
            len(other["loc"]) > len(item["loc"]) and other["loc"][: len(item["loc"])] == item["loc"]
            for other in errors
        ):
            continue  # the list is short only because its items failed; those are reported
        elif kind == "string_type" and _union_partner(item, errors, "tuple_type"):
            continue  # said once, by the list member of the union (_list_expected)
        if (path, message) not in seen:
            seen.add((path, message))
            problems.append(ConfigProblem(path, message, hint))
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


def _union_partner(item: ErrorDetails, errors: list[ErrorDetails], partner: str) -> bool:
    """Whether ``item`` is one member's error of a union whose ``partner`` member failed too
    (pydantic reports each member at the union's location plus the member's name)."""
    where = item["loc"][:-1]
    return any(o is not item and o["type"] == partner and o["loc"][:-1] == where for o in errors)


def _list_expected(loc: list[int | str], value: Any, *, or_name: bool) -> tuple[str, str]:
    """What to write where a list is expected (pydantic says "a valid tuple")."""
    key = next((p for p in reversed(loc) if isinstance(p, str)), "key")
    example = _quoted(value) if isinstance(value, str) else "a"
    if or_name:
        return (
            f"a name or a list of names is expected here, not {_kind_of(value)}",
            f"e.g. {key}: {example}, or {key}: [{example}, b]",
        )
    if isinstance(value, dict):
        hint = "write each item on its own line starting with '- '"
    elif isinstance(value, str):
        hint = f"write it as a list: {key}: [{example}]"
    else:
        hint = f"e.g. {key}: [a, b]"
    return f"a list is expected here, not {_kind_of(value)}", hint


def _quoted(text: str, limit: int = 60) -> str:
    """``text`` in double quotes on one line, cut after ``limit`` characters."""
    return json.dumps(text if len(text) <= limit else text[:limit] + "…", ensure_ascii=False)


def _kind_of(value: Any) -> str:
    """How a technician calls the type of a YAML value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {_quoted(value)}"
    if isinstance(value, dict):
        return "a mapping (key: value lines)"
    return type(value).__name__


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
