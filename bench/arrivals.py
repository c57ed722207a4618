"""New files arriving one at a time, first into an empty source, then into the same source with
many files kept (read earlier, still there): the agent's CPU per arriving file and the time
from a file's settle to its acknowledgement. Field life is this case (the files of years kept,
new ones every few seconds), not a backlog present at start.

The kept files' ledger rows are made the way a long-running agent leaves them: state ``read``
at the file's size and mtime, copied from a real row of the same source (the arrivals of the
first phase) and inserted directly into the ``files`` table, so the restarted agent finds every
kept file at rest and reads none of them again (checked: the acknowledged count moves only by
the arrivals).
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path
from typing import Any

import procstat
from fieldscale import write_small_files
from harness import (
    SETTLE,
    AgentProcess,
    agent_config,
    broker,
    percentile,
    running_agent,
    wait_until,
)
from workload import DATASET, small_file

from edge_agent.state.db import StateDB

Figures = dict[str, Any]


def drop_one_at_a_time(
    agent: AgentProcess, folder: Path, staging: Path, count: int, interval: float, first: int
) -> Figures:
    """Rename ``count`` ten-row files into ``folder``, ``interval`` s apart; then wait for all.
    CPU of the agent from the first drop to the last acknowledgement, per file."""
    rows = 10
    before = agent.state.acknowledged()
    pid = agent.proc.pid
    c0, t0 = procstat.cpu_seconds(pid), time.monotonic()
    latencies: list[float] = []
    for i in range(count):
        name = f"arrival-{first + i:06d}.csv"
        (staging / name).write_bytes(small_file(first + i, rows))
        (staging / name).rename(folder / name)
        dropped = time.monotonic()
        target = before + (i + 1) * rows
        wait_until(
            f"{name} acknowledged",
            lambda t=target: agent.state.acknowledged() >= t,
            120,
            agent.dead,
            0.005,
        )
        latencies.append(time.monotonic() - dropped - SETTLE)
        time.sleep(max(0.0, dropped + interval - time.monotonic()))
    seconds = time.monotonic() - t0
    cpu = procstat.cpu_seconds(pid) - c0
    return {
        "cpu_ms_per_file": cpu / count * 1000,
        "cpu_share": cpu / seconds,
        "latency_p50": percentile(latencies, 50),
        "latency_p99": percentile(latencies, 99),
        "seconds": seconds,
    }


def add_kept_ledger_rows(state_dir: Path, source: str, folder: Path, prefix: str) -> int:
    """A ``read`` ledger row for every file under ``folder/prefix*``, copied from a real row."""
    db = StateDB(state_dir)
    try:
        db.conn.row_factory = sqlite3.Row
        template = db.conn.execute(
            "SELECT * FROM files WHERE source = ? AND state = 'read' LIMIT 1", (source,)
        ).fetchone()
        names = template.keys()
        base = dict(zip(names, tuple(template), strict=True))
        rows = []
        for path in sorted(folder.glob(f"{prefix}*/*.csv")):
            rel = path.relative_to(folder).as_posix()
            st = path.stat()
            rows.append(
                tuple(
                    (
                        base
                        | {
                            "id": None,
                            "path": rel,
                            "size": st.st_size,
                            "mtime_ns": st.st_mtime_ns,
                            "offset": st.st_size,
                            "tail_end": st.st_size,
                            "file_id": hashlib.blake2b(rel.encode(), digest_size=12).hexdigest(),
                            "content_fp": hashlib.blake2b(
                                path.read_bytes(), digest_size=16
                            ).hexdigest(),
                        }
                    )[name]
                    for name in names
                )
            )
        sql = f"INSERT INTO files ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        with db.transaction() as tx:
            tx.executemany(sql, rows)
    finally:
        db.close()
    return len(rows)


def arrivals(work: Path, kept: int, count: int, interval: float) -> Figures:
    """``count`` arrivals into an empty source, then ``count`` more with ``kept`` files kept."""
    folder, staging = work / "in", work / "staging"
    folder.mkdir()
    staging.mkdir()
    source = {"name": "arrive", "path": str(folder), "settleSeconds": SETTLE, "dataset": "d"}
    out: Figures = {"kept": kept, "arrivals": count, "interval": interval}
    with broker(work) as server:
        config = agent_config(work, [source], {"d": DATASET}, server.port, limits=False)
        with running_agent(work / "empty", config) as agent:
            procstat.wait_quiet(agent.proc.pid)
            empty = drop_one_at_a_time(agent, folder, staging, count, interval, 0)
        out |= {f"empty_{k}": v for k, v in empty.items()}
        write_small_files(folder, kept, 10)
        out["kept_rows_inserted"] = add_kept_ledger_rows(
            Path(config["stateDir"]), "arrive", folder, "day-"
        )
        with running_agent(work / "kept", config) as agent:
            out["kept_startup_seconds"] = procstat.wait_quiet(agent.proc.pid)
            acked = agent.state.acknowledged()
            full = drop_one_at_a_time(agent, folder, staging, count, interval, count)
            if agent.state.acknowledged() != acked + count * 10:
                raise RuntimeError("kept files were read again")
            out["kept_rss_mb"] = procstat.rss_mb(agent.proc.pid)
        out |= {f"kept_{k}": v for k, v in full.items()}
    return out
