"""The configuration reference, ``docs/configuration.md``, generated from the models.

    python -m edge_agent.config.reference > docs/configuration.md
    python -m edge_agent.config.reference --write          # the same, into docs/

Every key of every model with its full key path, type, default, allowed values and meaning
(the field's description: its attribute docstring). The schema comes from pydantic, so a new
field appears here by itself; one without a description is listed by
``missing_descriptions`` (a test fails on it). The text around the tables is in
config/reference_text.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_agent.config.models import AgentConfig
from edge_agent.config.reference_text import INTRO, NOTES, SECTIONS_INTRO

COMMAND = "python -m edge_agent.config.reference --write"
DEFAULT_OUTPUT = Path("docs") / "configuration.md"

# What the keys of a mapping stand for, by the mapping's key (else "<key>").
_PLACEHOLDERS = {
    "datasets": "<name>",
    "columns": "<column>",
    "recipes": "<recipe>",
    "bands": "<field>",
    "towerRecipes": "<tower>",
}
_TYPES = {
    "string": "text",
    "integer": "integer",
    "number": "number",
    "boolean": "true/false",
    "null": "null",
}

Schema = dict[str, Any]


@dataclass(frozen=True)
class Key:
    """One key of the configuration, as the reference shows it."""

    path: str
    type: str
    default: str
    allowed: str
    meaning: str


def keys() -> list[Key]:
    """Every key of the configuration, depth first in the order of the models."""
    schema = AgentConfig.model_json_schema(by_alias=True, mode="validation")
    return list(_walk(schema, schema.get("$defs", {}), ""))


def missing_descriptions() -> list[str]:
    """The key paths whose field has no description."""
    return [k.path for k in keys() if not k.meaning]


def _walk(model: Schema, defs: dict[str, Schema], prefix: str) -> Iterator[Key]:
    required = set(model.get("required", ()))
    for name, prop in model.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        yield Key(
            path=path,
            type=_type(prop, name),
            default=_default(prop, name in required),
            allowed=_allowed(prop),
            meaning=" ".join(_description(prop, defs).split()),
        )
        for nested_path, nested in _nested(prop, defs, path, name):
            yield from _walk(nested, defs, nested_path)


def _description(prop: Schema, defs: dict[str, Schema]) -> str:
    """The field's description; for a section, pydantic leaves it out when it is the same as
    the section model's docstring, which then says it."""
    if "description" in prop:
        return str(prop["description"])
    models = [m for m in map(lambda m: _ref(m, defs), _members(prop)) if m is not None]
    return str(models[0].get("description", "")) if models else ""


def _members(prop: Schema) -> list[Schema]:
    """The members of a union (``anyOf``), or the schema itself."""
    return list(prop["anyOf"]) if "anyOf" in prop else [prop]


def _ref(prop: Schema, defs: dict[str, Schema]) -> Schema | None:
    ref = prop.get("$ref")
    return defs[ref.rsplit("/", 1)[-1]] if isinstance(ref, str) else None


def _nested(
    prop: Schema, defs: dict[str, Schema], path: str, name: str
) -> Iterator[tuple[str, Schema]]:
    """The models inside a key: itself, the items of a list, the values of a mapping."""
    for member in _members(prop):
        if (model := _ref(member, defs)) is not None:
            yield path, model
        elif member.get("type") == "array" and (model := _ref(member.get("items", {}), defs)):
            yield f"{path}[]", model
        elif member.get("type") == "object":
            values = member.get("additionalProperties")
            if isinstance(values, dict) and (model := _ref(values, defs)) is not None:
                yield f"{path}.{_PLACEHOLDERS.get(name, '<key>')}", model


def _type(prop: Schema, name: str) -> str:
    if prop.get("x-local-path"):
        nullable = any(m.get("type") == "null" for m in _members(prop))
        return "path or null" if nullable else "path"
    names: list[str] = []
    for member in _members(prop):
        kind = _member_type(member, name)
        if kind not in names:
            names.append(kind)
    return " or ".join(names)


def _member_type(member: Schema, name: str) -> str:
    if "$ref" in member:
        return "section"
    if "enum" in member or "const" in member:
        return "choice"
    kind = member.get("type")
    if kind == "array":
        items = _member_type(member.get("items", {}), name)
        return f"list of {'sections' if items == 'section' else items}"
    if kind == "object":
        values = member.get("additionalProperties")
        value = _member_type(values, name) if isinstance(values, dict) else "value"
        return f"mapping `{_PLACEHOLDERS.get(name, '<key>')}` → {value}"
    return _TYPES.get(str(kind), "value")


def _default(prop: Schema, required: bool) -> str:
    if required:
        return "**required**"
    if "default" not in prop:
        # A default computed when the configuration is read: the meaning says which.
        kinds = {m.get("type") for m in _members(prop)}
        return "`{}`" if "object" in kinds else "`[]`" if "array" in kinds else "see meaning"
    default = prop["default"]
    if isinstance(default, dict) and default:
        return "see its keys"  # a section: each of its keys has its default
    return f"`{json.dumps(default, ensure_ascii=False)}`"


def _allowed(prop: Schema) -> str:
    parts = [p for p in (_member_allowed(m) for m in _members(prop)) if p]
    return "; ".join(parts)


def _member_allowed(member: Schema) -> str:
    if "enum" in member:
        return ", ".join(f"`{json.dumps(v)}`" for v in member["enum"])
    if "const" in member:
        return f"`{json.dumps(member['const'])}`"
    low = _bound(member, "minimum", "exclusiveMinimum", "≥", ">")
    high = _bound(member, "maximum", "exclusiveMaximum", "≤", "<")
    if member.get("type") == "array":
        low = f"at least {member['minItems']} item(s)" if "minItems" in member else ""
    if member.get("type") == "object" and "minProperties" in member:
        low = f"at least {member['minProperties']} key(s)"
    parts = [p for p in (low, high) if p]
    if "minLength" in member or "maxLength" in member:
        parts.append(
            f"{member.get('minLength', 0)} to {member['maxLength']} characters"
            if "maxLength" in member
            else f"at least {member['minLength']} character(s)"
        )
    if "pattern" in member:
        parts.append(f"`{member['pattern']}`")
    return ", ".join(parts)


def _bound(member: Schema, inclusive: str, exclusive: str, le: str, lt: str) -> str:
    if inclusive in member:
        return f"{le} {_number(member[inclusive])}"
    if exclusive in member:
        return f"{lt} {_number(member[exclusive])}"
    return ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# --------------------------------------------------------------------------- markdown


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(rows: list[Key]) -> list[str]:
    lines = ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    for key in rows:
        cells = (f"`{key.path}`", key.type, key.default, key.allowed, key.meaning)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def render() -> str:
    """The whole of docs/configuration.md."""
    all_keys = keys()
    top = [k for k in all_keys if "." not in k.path and "[" not in k.path]
    lines = [INTRO.format(command=COMMAND).strip(), "", NOTES.strip(), "", SECTIONS_INTRO.strip()]
    lines += ["", "### Top level", "", *_table(top)]
    for section in top:
        inside = [
            k for k in all_keys if k.path.startswith((section.path + ".", section.path + "[]"))
        ]
        if inside:
            # The key path of the section's model: sources[], datasets.<name>, publish.
            heading = inside[0].path.rsplit(".", 1)[0]
            lines += ["", f"### `{heading}`", "", section.meaning, "", *_table(inside)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the reference, or write it (``--write [PATH]``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--write",
        nargs="?",
        const=DEFAULT_OUTPUT,
        type=Path,
        metavar="PATH",
        help=f"write the reference to PATH (default: {DEFAULT_OUTPUT}) instead of printing it",
    )
    args = parser.parse_args(argv)
    text = render()
    if args.write is None:
        sys.stdout.write(text)
    else:
        args.write.write_text(text, encoding="utf-8")
        print(f"wrote {args.write}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
