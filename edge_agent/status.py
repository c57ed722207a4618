"""``edge-agent status``: what the running or last agent did, read from its state database.

Reads only (the database is opened read-only), so it is safe beside a running agent. The ledger
and the outbox are the durable truth (files, rows, batches waiting); the status snapshot the
agent writes every ``statusIntervalSeconds`` adds what only the running agent knows (source
states, lag, publisher, health), as of when it was written.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from edge_agent.errors import ConfigError
from edge_agent.state.lock import LOCK_NAME, read_holder

DB_NAME = "edge-agent.db"


def collect(state_dir: Path) -> dict[str, Any]:
    """Everything ``status`` shows, as plain data; FileNotFoundError if there is no database."""
    db_path = state_dir / DB_NAME
    if not db_path.exists():
        raise FileNotFoundError(db_path)
    uri = f"file:{db_path}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as conn:
        conn.row_factory = sqlite3.Row
        files = conn.execute(
            "SELECT source, state, COUNT(*) AS n, SUM(rows_published) AS published, "
            "SUM(rows_quarantined) AS quarantined, SUM(rows_skipped) AS skipped "
            "FROM files GROUP BY source, state ORDER BY source, state"
        ).fetchall()
        outbox = conn.execute(
            "SELECT COUNT(*) AS batches, COALESCE(SUM(rows), 0) AS rows, "
            "COALESCE(SUM(LENGTH(payload)), 0) AS bytes, MIN(created) AS oldest, "
            "SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END) AS failing FROM outbox"
        ).fetchone()
        waiting = conn.execute(
            "SELECT COALESCE(f.source, '?') AS source, COUNT(*) AS batches, "
            "SUM(o.rows) AS rows, MIN(o.created) AS oldest "
            "FROM outbox o LEFT JOIN files f ON f.id = o.file_ref GROUP BY f.source"
        ).fetchall()
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
    now = time.time()
    sources: dict[str, dict[str, Any]] = {}

    def entry(name: str) -> dict[str, Any]:
        return sources.setdefault(
            name,
            {
                "files": {},
                "published": 0,
                "quarantined": 0,
                "skipped": 0,
                "outboxBatches": 0,
                "outboxRows": 0,
                "oldestAgeSeconds": None,
            },
        )

    for row in files:
        e = entry(row["source"])
        e["files"][row["state"]] = row["n"]
        e["published"] += row["published"] or 0
        e["quarantined"] += row["quarantined"] or 0
        e["skipped"] += row["skipped"] or 0
    for row in waiting:
        e = entry(row["source"])
        e["outboxBatches"] = row["batches"]
        e["outboxRows"] = row["rows"] or 0
        e["oldestAgeSeconds"] = _age_of(row["oldest"], now)
    live = json.loads(meta["status"]) if "status" in meta else None
    holder = lock_holder(state_dir)
    return {
        "stateDir": str(state_dir),
        "agent": agent_state(live, holder, now),
        "lockHolder": holder,
        "sources": sources,
        "live": live,
        "outbox": {
            "batches": outbox["batches"],
            "rows": outbox["rows"],
            "bytes": outbox["bytes"],
            "oldestAgeSeconds": _age_of(outbox["oldest"], now),
            "failing": outbox["failing"] or 0,
            "errors": [dict(e) for e in errors],
        },
        "acknowledged": {
            "rows": counters.get("rows_acknowledged", 0),
            "batches": counters.get("batches_acknowledged", 0),
        },
        "failedFiles": [dict(p) for p in problems],
    }


def lock_holder(state_dir: Path) -> int | None:
    """The PID holding the state directory's lock: 0 if nobody, None if there is no lock
    file (an agent from before the lock, or none ran)."""
    path = state_dir / LOCK_NAME
    if not path.exists():
        return None
    return read_holder(path) or 0


def _age_of(created: float | None, now: float) -> float | None:
    return None if created is None else round(max(0.0, now - created), 1)


def age(seconds: float | None) -> str:
    """A duration as an operator reads it: 45 s, 12 min, 3.5 h, or '-'."""
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def agent_state(live: dict[str, Any] | None, lock_holder: int | None, now: float) -> str:
    """running | not responding | stopped | never ran: the agent that wrote the snapshot.

    ``lock_holder`` is the PID in ``stateDir/agent.lock`` (0: the file is there and nobody
    holds it; None: no lock file, an agent from before the lock). An agent that no longer holds
    its state directory has stopped, even if its PID was given to another process since.
    """
    if not live:
        # An agent writes its first snapshot a status interval after it started.
        return "running" if lock_holder and _pid_alive(lock_holder) else "never ran"
    pid = live.get("pid")
    if (lock_holder is not None and lock_holder != pid) or not _pid_alive(pid):
        return "stopped"
    interval = float(live.get("statusIntervalSeconds") or 30.0)
    if now - float(live.get("updated", 0)) > 3 * interval + 5:
        return "not responding"
    return "running"


def _utc(seconds: float, *, date: bool = True) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S", time.gmtime(seconds))


def liveness(live: dict[str, Any] | None, now: float, lock_holder: int | None = None) -> str:
    """The headline: running, not responding or stopped (and when it last ran)."""
    state = agent_state(live, lock_holder, now)
    if live is None:
        if state == "running":
            return f"running (pid {lock_holder}, no status written yet; files and outbox below)"
        return "no status written yet"
    written = now - float(live.get("updated", 0))
    pid = live.get("pid")
    if state == "stopped":
        started = float(live.get("started", live.get("updated", now)))
        updated = float(live.get("updated", now))
        same_day = time.gmtime(started)[:3] == time.gmtime(updated)[:3]
        text = (
            f"stopped (last status {age(written)} ago); it last ran from {_utc(started)} "
            f"to {_utc(updated, date=not same_day)} UTC, pid {pid}"
        )
        if lock_holder and lock_holder != pid and _pid_alive(lock_holder):
            text += f"; pid {lock_holder} holds the state directory now (starting)"
        return text
    if state == "not responding":
        return f"not responding (pid {pid}, last status {age(written)} ago)"
    up = age(now - float(live.get("started", now)))
    return f"running (pid {pid}, up {up}; figures below as of {age(written)} ago)"


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def render(data: dict[str, Any], now: float | None = None) -> str:
    """A readable table."""
    now = time.time() if now is None else now
    live = data["live"]
    holder = data.get("lockHolder")
    lines = [f"edge-agent state in {data['stateDir']}: {liveness(live, now, holder)}"]
    running = agent_state(live, holder, now) != "stopped"
    if live and not running:
        # What the snapshot says about the publisher and the sources was true while it ran.
        errors = live.get("publishErrors") or {}
        lines.append(
            "nothing is read or published until an agent runs again; publish errors in its "
            "last run: " + (", ".join(f"{k} {v}" for k, v in sorted(errors.items())) or "none")
        )
    elif live:
        health = live.get("health") or {}
        verdict = "not judged yet"
        if health:
            verdict = "ok" if health.get("healthy") else "UNHEALTHY"
        errors = live.get("publishErrors") or {}
        lines.append(
            f"publisher {live.get('publisherState', '?')}; health: {verdict}; publish errors: "
            + (", ".join(f"{k} {v}" for k, v in sorted(errors.items())) or "none")
        )
        lines += [f"  - {problem}" for problem in health.get("problems", [])]
    lines.append("")
    live_sources: dict[str, dict[str, Any]] = (live or {}).get("sources", {})
    rows: list[list[str]] = []
    details: list[str] = []
    for name in sorted(set(data["sources"]) | set(live_sources)):
        e = data["sources"].get(name) or {"files": {}}
        src = live_sources.get(name, {})
        files = ", ".join(f"{n} {s}" for s, n in sorted(e["files"].items())) or "none"
        lag = src.get("lagSeconds")
        rows.append(
            [
                name,
                str(src.get("state", "-")) if running else "stopped",
                files,
                str(src.get("filesWaiting", "-")),
                "-" if lag is None else age(lag),
                f"{e.get('outboxBatches', 0):,}",
                age(e.get("oldestAgeSeconds")),
                f"{e.get('published', 0):,}",
                f"{e.get('quarantined', 0):,}",
                f"{e.get('skipped', 0):,}",
            ]
        )
        if src.get("currentFile") and running:
            details.append(f"  {name}: reading {src['currentFile']}")
        if src.get("detail"):
            when = "" if running else "when it stopped: "
            details.append(f"  {name}: {when}{src['detail']}")
        if src.get("warnings"):
            details.append(
                f"  {name}: {src['warnings']} file(s) with warnings, last: {src['lastWarning']}"
            )
    header = [
        "source",
        "state",
        "files",
        "waiting",
        "lag",
        "outbox",
        "oldest",
        "rows",
        "quarantined",
        "skipped",
    ]
    lines += _table(header, rows, right={3, 4, 5, 6, 7, 8, 9})
    lines += details
    outbox = data["outbox"]
    lines += [
        "",
        f"outbox: {outbox['batches']:,} batches, {outbox['rows']:,} rows, "
        f"{outbox['bytes'] / 1024:,.0f} KiB, oldest {age(outbox['oldestAgeSeconds'])}"
        + (f", {outbox['failing']} refused at least once" if outbox["failing"] else ""),
        f"acknowledged: {data['acknowledged']['rows']:,} rows in "
        f"{data['acknowledged']['batches']:,} batches (since the state directory was created)",
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
        print(
            f"no agent state in {state_dir} ({DB_NAME} not found) — give the agent's stateDir "
            "(--state-dir DIR) or its configuration (--config PATH)",
            file=sys.stderr,
        )
        return 2
    except sqlite3.Error as e:
        hint = (
            "the agent is still creating it: try again in a moment"
            if "no such table" in str(e)
            else "run status as a user who can read that directory (the agent's user or root)"
        )
        print(f"cannot read the state database in {state_dir}: {e} — {hint}", file=sys.stderr)
        return 2
    print(json.dumps(data, indent=2) if as_json else render(data))
    return 0
