"""``edge-agent status``: what the running or last agent did, read from its state database.

Reads only (the database is opened read-only), so it is safe beside a running agent.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from edge_agent.errors import ConfigError


def collect(state_dir: Path) -> dict[str, Any]:
    """Everything ``status`` shows, as plain data."""
    db_path = state_dir / "edge-agent.db"
    if not db_path.exists():
        raise FileNotFoundError(db_path)
    uri = f"file:{db_path}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as conn:
        conn.row_factory = sqlite3.Row
        files = conn.execute(
            "SELECT source, state, COUNT(*) AS n, SUM(rows_published) AS published, "
            "SUM(rows_quarantined) AS quarantined, SUM(rows_skipped) AS skipped, "
            "MAX(updated) AS updated FROM files GROUP BY source, state ORDER BY source, state"
        ).fetchall()
        outbox = conn.execute(
            "SELECT COUNT(*) AS batches, COALESCE(SUM(rows), 0) AS rows, "
            "COALESCE(SUM(LENGTH(payload)), 0) AS bytes, MIN(created) AS oldest, "
            "SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END) AS failing FROM outbox"
        ).fetchone()
        errors = conn.execute(
            "SELECT topic, last_error, attempts FROM outbox WHERE last_error IS NOT NULL "
            "ORDER BY seq LIMIT 5"
        ).fetchall()
        counters = dict(conn.execute("SELECT name, value FROM counters").fetchall())
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        problems = conn.execute(
            "SELECT source, path, note FROM files WHERE state = 'failed' ORDER BY updated DESC "
            "LIMIT 10"
        ).fetchall()
    sources: dict[str, dict[str, Any]] = {}
    for row in files:
        entry = sources.setdefault(
            row["source"],
            {"files": {}, "published": 0, "quarantined": 0, "skipped": 0, "updated": None},
        )
        entry["files"][row["state"]] = row["n"]
        entry["published"] += row["published"] or 0
        entry["quarantined"] += row["quarantined"] or 0
        entry["skipped"] += row["skipped"] or 0
        entry["updated"] = max(entry["updated"] or 0, row["updated"] or 0)
    live = json.loads(meta["status"]) if "status" in meta else None
    oldest = outbox["oldest"]
    return {
        "stateDir": str(state_dir),
        "sources": sources,
        "live": live,
        "outbox": {
            "batches": outbox["batches"],
            "rows": outbox["rows"],
            "bytes": outbox["bytes"],
            "oldestAgeSeconds": None if oldest is None else round(time.time() - oldest, 1),
            "failing": outbox["failing"] or 0,
            "errors": [dict(e) for e in errors],
        },
        "acknowledged": {
            "rows": counters.get("rows_acknowledged", 0),
            "batches": counters.get("batches_acknowledged", 0),
        },
        "failedFiles": [dict(p) for p in problems],
    }


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def render(data: dict[str, Any]) -> str:
    """A readable table."""
    lines = [f"edge-agent state in {data['stateDir']}"]
    live = data["live"]
    if live:
        updated = time.time() - float(live.get("updated", 0))
        lines.append(
            f"last status {_age(updated)} ago; publisher {live.get('publisher_state', '?')}; "
            f"publish errors {live.get('publish_errors') or 'none'}"
        )
    lines.append("")
    header = (
        f"{'source':<16} {'state':<14} {'files':>16} {'published':>11} "
        f"{'quarantined':>11} {'skipped':>8}"
    )
    lines += [header, "-" * len(header)]
    live_sources = (live or {}).get("sources", {})
    names = sorted(set(data["sources"]) | set(live_sources))
    for name in names:
        entry = data["sources"].get(
            name, {"files": {}, "published": 0, "quarantined": 0, "skipped": 0}
        )
        state = live_sources.get(name, {}).get("state", "-")
        files = ", ".join(f"{n} {s}" for s, n in sorted(entry["files"].items())) or "none"
        lines.append(
            f"{name:<16} {state:<14} {files:>16} {entry['published']:>11} "
            f"{entry['quarantined']:>11} {entry['skipped']:>8}"
        )
        detail = live_sources.get(name, {}).get("detail")
        if detail:
            lines.append(f"{'':<16} {detail}")
    outbox = data["outbox"]
    lines += [
        "",
        f"outbox: {outbox['batches']} batches, {outbox['rows']} rows, "
        f"{outbox['bytes'] / 1024:.0f} KiB, oldest {_age(outbox['oldestAgeSeconds'])}"
        + (f", {outbox['failing']} refused at least once" if outbox["failing"] else ""),
        f"acknowledged: {data['acknowledged']['rows']} rows in "
        f"{data['acknowledged']['batches']} batches",
    ]
    for error in outbox["errors"]:
        lines.append(f"  refused: {error['topic']}: {error['last_error']} ({error['attempts']}x)")
    for failed in data["failedFiles"]:
        lines.append(f"  file not readable: {failed['source']}/{failed['path']}: {failed['note']}")
    return "\n".join(lines)


def show_status(*, state_dir: str | None, config_path: str | None, as_json: bool) -> int:
    """Print the status; exit 0, or 2 when there is nothing to read."""
    if state_dir is None:
        if config_path is None:
            print("give --state-dir DIR or --config PATH", file=sys.stderr)
            return 2
        from edge_agent.config.load import load_config  # noqa: PLC0415

        try:
            state_dir = load_config(config_path).state_dir
        except ConfigError as e:
            for problem in e.problems:
                print(problem, file=sys.stderr)
            return 2
    try:
        data = collect(Path(state_dir))
    except FileNotFoundError:
        print(f"no agent state in {state_dir} (edge-agent.db not found)", file=sys.stderr)
        return 2
    except sqlite3.Error as e:
        print(f"cannot read the state database in {state_dir}: {e}", file=sys.stderr)
        return 2
    print(json.dumps(data, indent=2) if as_json else render(data))
    return 0
