"""Column names kept beside a headerless file: a Campbell Short Cut program (``*.DEF``).

A CR10X mixed-array file has no header; the program description lists each output table as
``101 Output_Table  30.00 Min`` followed by ``N name L`` lines in column order. ``infer`` looks
for such a file in the data file's folder and takes the names of the table whose ID and width
match the data.
"""

from __future__ import annotations

import re
from pathlib import Path

_TABLE = re.compile(r"^(\d+)\s+\S+\s+[\d.]+\s+(?:Min|Sec|Hr|Hour|Hours|Minutes|Seconds)\b", re.I)
_FIELD = re.compile(r"^(\d+)\s+(\S+)(?:\s+\w)?\s*$")
_MAX_BYTES = 1024 * 1024


def program_names(folder: Path, table_id: str, width: int) -> tuple[Path, list[str]] | None:
    """(the .DEF file, the names of table ``table_id``) if one in ``folder`` describes it."""
    candidates = sorted(p for p in folder.glob("*") if p.suffix.lower() == ".def")
    for path in candidates[:20]:
        try:
            if path.stat().st_size > _MAX_BYTES:
                continue
            lines = path.read_text(encoding="latin-1").splitlines()
        except OSError:
            continue
        names = _table(lines, table_id)
        if names is not None and len(names) == width:
            return path, names
    return None


def _table(lines: list[str], table_id: str) -> list[str] | None:
    for i, line in enumerate(lines):
        found = _TABLE.match(line.strip())
        if found is None or found.group(1) != table_id:
            continue
        names: list[str] = []
        for entry in lines[i + 1 :]:
            field = _FIELD.match(entry.strip())
            if field is None or int(field.group(1)) != len(names) + 1:
                break
            names.append(field.group(2))
        return names or None
    return None
