"""The proposal as YAML: a ``datasets:`` mapping to paste into an agent configuration.

Written line by line (not by a YAML dumper) so that each unsure guess carries its comment on
the line it is about; scalars are quoted by PyYAML, so the text reads back as written.
"""

from __future__ import annotations

from typing import Any

import yaml

from edge_agent.infer.columns import ColumnGuess
from edge_agent.infer.propose import Proposal

_CSV_ORDER = (
    "encoding",
    "delimiter",
    "decimal",
    "thousands",
    "headerRow",
    "headerRows",
    "unitsRow",
    "firstDataRow",
    "nullValues",
    "footerPatterns",
    "skipPatterns",
    "shortRows",
    "recordStartPattern",
    "timestampColumn",
    "timestampFormat",
    "timeBase",
    "timezone",
    "timezonePattern",
    "rowOrder",
)


def scalar(value: Any) -> str:
    """A YAML flow scalar or sequence for ``value``."""
    if value == "\t":
        return "'\\t'"  # csv.delimiter reads the two characters \t as a tab
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000)
    text = text.strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _line(indent: int, key: str, value: Any, note: str = "") -> str:
    text = f"{' ' * indent}{scalar(key)}: {scalar(value)}"
    return f"{text}  # {note}" if note else text


def render(proposal: Proposal, source: str) -> str:
    """The YAML document for ``proposal`` (``source``: the file it was made from)."""
    out = [f"# edge-agent infer {source}", "datasets:", f"  {scalar(proposal.name)}:", "    csv:"]
    csv, notes = proposal.csv, proposal.notes
    for key in _CSV_ORDER:
        if key not in csv:
            continue
        value = csv[key]
        note = notes.get(key, "")
        if key == "encoding" and "encoding" in notes:
            note = notes["encoding"]
        if isinstance(value, dict):
            out.append(f"      {key}:" + (f"  # {note}" if note else ""))
            out.extend(_line(8, k, v) for k, v in value.items())
            continue
        out.append(_line(6, key, value, note))
    for key, note in notes.items():
        if key not in csv and key != "encoding":
            out.append(f"      # {key}: {note}")
    if proposal.columns:
        out.append("    columns:")
        out.extend(_columns(proposal.columns, 6))
    if proposal.kinds:
        note = notes.get("recordTypes", "")
        out.append("    recordTypes:" + (f"  # {note}" if note else ""))
        out.append("      column: '1'  # the first cell names the kind of row (array ID)")
        out.append("      types:")
        for kind in proposal.kinds:
            out.append(f"        {scalar(kind.key)}:")
            if kind.time is not None:
                columns = [str(i + 1) for i in kind.time.columns]
                out.append(
                    _line(10, "timestampColumn", columns[0] if len(columns) == 1 else columns)
                )
                out.append(_line(10, "timestampFormat", kind.time.fmt))
            out.append("          columns:")
            out.extend(_columns(kind.columns, 12))
    return "\n".join(out) + "\n"


def _columns(columns: list[ColumnGuess], indent: int) -> list[str]:
    out = []
    for column in columns:
        entry: dict[str, Any] = {}
        if column.skip:
            entry["skip"] = True
        else:
            if column.name:
                entry["name"] = column.name
            if column.type:
                entry["type"] = column.type
            if column.unit:
                entry["unit"] = column.unit
            if column.packed:
                entry.pop("name", None)
                entry["packed"] = {"names": column.packed}
        out.append(_line(indent, column.key, entry, column.note))
    return out
