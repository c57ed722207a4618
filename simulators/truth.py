"""Read the simulators' ground truth and compare what the agent published with it.

The truth is a folder of JSON lines beside the data (``<out>/_truth/``): ``<sim>-rows.jsonl``
(one record per data row: file, version, line, dataset, outcome, reason, ts, values, and for
tower readings the expected joins), ``<sim>-files.jsonl``, ``tower-cycles.jsonl``,
``tower-faults.jsonl``, ``tower-alerts.jsonl`` and ``<sim>-run.json``.

:func:`compare` takes published records (dicts with at least ``line``, ``ts`` and the source
path as ``path``, ``file`` or ``source.path``) and returns a :class:`TruthDiff`: missing rows,
unexpected rows, mismatched fields; ``str(diff)`` is a readable report.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from simulators.player import TRUTH_FOLDER

Record = Mapping[str, Any]
TOWER_FIELDS = ("growId", "tagStatus", "dayOfCycle", "siteStale")
SHOW = 20
DST_SHIFT = timedelta(hours=1)


@dataclass
class Truth:
    """Everything under ``_truth/``, as lists of records."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    cycles: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def rows_for(self, *datasets: str) -> list[dict[str, Any]]:
        """The rows of the given datasets (all rows when none is given)."""
        if not datasets:
            return list(self.rows)
        return [r for r in self.rows if r["dataset"] in datasets]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_truth(out: Path | str) -> Truth:
    """Load the ground truth written under ``<out>/_truth/``."""
    folder = Path(out) / TRUTH_FOLDER
    if not folder.is_dir():
        raise FileNotFoundError(f"no ground truth at {folder}")
    truth = Truth()
    for run in sorted(folder.glob("*-run.json")):
        truth.runs[run.name.removesuffix("-run.json")] = json.loads(run.read_text(encoding="utf-8"))
    for name in sorted(truth.runs):
        truth.rows += _jsonl(folder / f"{name}-rows.jsonl")
        truth.files += _jsonl(folder / f"{name}-files.jsonl")
        truth.faults += _jsonl(folder / f"{name}-faults.jsonl")
        truth.cycles += _jsonl(folder / f"{name}-cycles.jsonl")
        truth.alerts += _jsonl(folder / f"{name}-alerts.jsonl")
    return truth


def path_of(record: Record) -> str:
    """The source path of a published record (``path``, ``file`` or ``source.path``)."""
    for key in ("path", "file"):
        value = record.get(key)
        if isinstance(value, str):
            return value
    source = record.get("source")
    if isinstance(source, Mapping) and isinstance(source.get("path"), str):
        return str(source["path"])
    raise KeyError("a published record needs its source path as path, file or source.path")


@dataclass(frozen=True)
class Mismatch:
    """One field of one row that differs from the truth."""

    file: str
    line: int
    field: str
    expected: Any
    got: Any

    def __str__(self) -> str:
        return f"{self.file}:{self.line} {self.field}: expected {self.expected!r}, got {self.got!r}"


@dataclass
class TruthDiff:
    """What differs between the truth and the published (and quarantined) records."""

    expected: int = 0
    missing: list[dict[str, Any]] = field(default_factory=list)
    unexpected: list[tuple[str, int, str]] = field(default_factory=list)
    mismatched: list[Mismatch] = field(default_factory=list)
    duplicated: list[tuple[str, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing differs."""
        return not (self.missing or self.unexpected or self.mismatched or self.duplicated)

    def __str__(self) -> str:
        head = (
            f"truth comparison: {len(self.missing)} missing, {len(self.unexpected)} unexpected, "
            f"{len(self.mismatched)} mismatched, {len(self.duplicated)} duplicated "
            f"(of {self.expected} expected)"
        )
        parts = [head]
        sections: list[tuple[str, list[str]]] = [
            (
                "missing (expected, not seen)",
                [f"{r['file']}:{r['line']} ts={r['ts']} ({r['outcome']})" for r in self.missing],
            ),
            ("unexpected", [f"{f}:{n} {why}" for f, n, why in self.unexpected]),
            ("mismatched", [str(m) for m in self.mismatched]),
            ("duplicated (seen more than once)", [f"{f}:{n}" for f, n in self.duplicated]),
        ]
        for title, lines in sections:
            if lines:
                parts.append(f"{title}:")
                parts += [f"  {line}" for line in lines[:SHOW]]
                if len(lines) > SHOW:
                    parts.append(f"  ... and {len(lines) - SHOW} more")
        return "\n".join(parts)


def _same(expected: Any, got: Any, tolerance: float) -> bool:
    if isinstance(expected, bool) or isinstance(got, bool):
        return expected is got or (expected == got and type(expected) is type(got))
    if isinstance(expected, int | float) and isinstance(got, int | float):
        return math.isclose(expected, got, rel_tol=tolerance, abs_tol=tolerance)
    return bool(expected == got)


def _ts(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


class _Index:
    """Truth rows by (file, line), with suffix matching for paths relative to a source root."""

    def __init__(self, rows: Iterable[dict[str, Any]]) -> None:
        self.rows: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.final: dict[str, int] = {}
        for row in rows:
            self.rows.setdefault((row["file"], row["line"]), []).append(row)
            self.final[row["file"]] = max(self.final.get(row["file"], 0), row["version"])
        self._resolved: dict[str, str | None] = {}

    def resolve(self, path: str) -> str | None:
        if path in self.final:
            return path
        if path not in self._resolved:
            hits = [f for f in self.final if f.endswith("/" + path.lstrip("/"))]
            self._resolved[path] = hits[0] if len(hits) == 1 else None
        return self._resolved[path]

    def candidates(self, file: str, line: int) -> list[dict[str, Any]]:
        return self.rows.get((file, line), [])


def _match(candidates: list[dict[str, Any]], record: Record) -> dict[str, Any]:
    got = _ts(record.get("ts"))
    same_time = [row for row in candidates if _ts(row["ts"]) == got]
    return same_time[-1] if same_time else candidates[-1]


def _compare_fields(
    row: dict[str, Any],
    record: Record,
    diff: TruthDiff,
    *,
    tolerance: float,
    check_enrichment: bool,
    minted: dict[str, str],
) -> None:
    file, line = row["file"], row["line"]

    def mismatch(name: str, expected: Any, got: Any) -> None:
        diff.mismatched.append(Mismatch(file, line, name, expected, got))

    expected_ts, got_ts = _ts(row["ts"]), _ts(record.get("ts"))
    if expected_ts != got_ts:
        # A local time in the DST fall-back hour names two instants; either reading is fair.
        repeat = (
            row.get("ambiguousLocalTime")
            and expected_ts is not None
            and got_ts is not None
            and abs(expected_ts - got_ts) == DST_SHIFT
        )
        if not repeat:
            mismatch("ts", row["ts"], record.get("ts"))
    values = record.get("values")
    fields: Record = values if isinstance(values, Mapping) else record
    for name, expected in (row.get("values") or {}).items():
        if name not in fields:
            mismatch(name, expected, "<absent>")
        elif not _same(expected, fields[name], tolerance):
            mismatch(name, expected, fields[name])
    if not check_enrichment or "tagStatus" not in row:
        return
    for name in TOWER_FIELDS:
        got = record.get(name, "<absent>")
        if name == "growId" and row["growIdMinted"]:
            key = json.dumps(row["cycle"], sort_keys=True)
            if not isinstance(got, str) or not got:
                mismatch(name, "<a minted Grow ID>", got)
            elif minted.setdefault(key, got) != got:
                mismatch(name, f"{minted[key]} (minted for this cycle before)", got)
        elif got != row[name]:
            mismatch(name, row[name], got)
    for name in ("site", "automation"):
        expected_join = row[name]
        joined = record.get(name, "<absent>")
        expected_ts = expected_join["ts"] if expected_join else None
        got_ts = joined.get("ts") if isinstance(joined, Mapping) else joined
        if _ts(expected_ts) != _ts(got_ts) or (expected_ts is None and got_ts is not None):
            mismatch(f"{name}.ts", expected_ts, got_ts)
    if "deviations" in record:
        expected_vars = sorted(d["variable"] for d in row["deviations"])
        got_vars = sorted(
            str(d.get("variable")) if isinstance(d, Mapping) else str(d)
            for d in record["deviations"] or ()
        )
        if expected_vars != got_vars:
            mismatch("deviations", expected_vars, got_vars)


def compare(
    truth_rows: Sequence[dict[str, Any]],
    published: Iterable[Record],
    *,
    quarantined: Iterable[Record] | None = None,
    datasets: Collection[str] | None = None,
    prefix: str = "",
    tolerance: float = 1e-6,
    check_enrichment: bool = True,
    require_overwritten: bool = False,
) -> TruthDiff:
    """Compare published (and optionally quarantined) records with the truth rows.

    Expected: every ``publish`` row of the final version of its file (rows of versions
    overwritten by a rotation are optional unless ``require_overwritten``). A record matching a
    ``quarantine`` or ``skip`` row, or no row, is unexpected. With ``quarantined`` (entries with
    ``line`` and a source path), every ``quarantine`` row must be there too. ``prefix`` is put
    before record paths (a source's folder under the simulator output); paths that still do not
    match are matched by unique suffix. Minted Grow IDs must be present and the same for every
    reading of one cycle. A row flagged ``ambiguousLocalTime`` (DST repeat) may carry either of
    the two instants its wall-clock time names.
    """
    rows = [r for r in truth_rows if datasets is None or r["dataset"] in datasets]
    index = _Index(rows)
    diff = TruthDiff()
    seen: set[tuple[str, int, int]] = set()
    minted: dict[str, str] = {}

    def locate(record: Record) -> dict[str, Any] | None:
        path = prefix.rstrip("/") + "/" + path_of(record) if prefix else path_of(record)
        file = index.resolve(path)
        line = int(record.get("line", 0))
        if file is None or not index.candidates(file, line):
            diff.unexpected.append((path, line, "no such row in the truth"))
            return None
        return _match(index.candidates(file, line), record)

    for record in published:
        row = locate(record)
        if row is None:
            continue
        key = (row["file"], row["line"], row["version"])
        if key in seen:
            diff.duplicated.append((row["file"], row["line"]))
            continue
        seen.add(key)
        if row["outcome"] != "publish":
            why = f"published, expected {row['outcome']} ({row['reason']})"
            diff.unexpected.append((row["file"], row["line"], why))
            continue
        _compare_fields(
            row, record, diff, tolerance=tolerance, check_enrichment=check_enrichment, minted=minted
        )
    wanted = {"publish"}
    if quarantined is not None:
        wanted.add("quarantine")
        for entry in quarantined:
            row = locate(entry)
            if row is None:
                continue
            seen.add((row["file"], row["line"], row["version"]))
            if row["outcome"] != "quarantine":
                why = f"quarantined ({entry.get('reason')}), expected {row['outcome']}"
                diff.unexpected.append((row["file"], row["line"], why))
    for row in rows:
        if row["outcome"] not in wanted:
            continue
        if row["version"] != index.final[row["file"]] and not require_overwritten:
            continue
        diff.expected += 1
        if (row["file"], row["line"], row["version"]) not in seen:
            diff.missing.append(row)
    return diff


def published_from_truth(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a perfect agent would publish: flat records built from the truth (for tests)."""
    records: list[dict[str, Any]] = []
    for row in rows:
        if row["outcome"] != "publish":
            continue
        record: dict[str, Any] = {"path": row["file"], "line": row["line"], "ts": row["ts"]}
        record.update(row.get("values") or {})
        for name in (*TOWER_FIELDS, "site", "automation", "deviations"):
            if name in row:
                record[name] = row[name]
        if row.get("growIdMinted") and "tagStatus" in row:
            cycle = row["cycle"]
            record["growId"] = f"minted:{cycle['towerId']}:{cycle['trayId']}:{cycle['seededAt']}"
        records.append(record)
    return records
