"""Field scale, agent only: many small files present at start (files/s, first tenth vs last
tenth), then the same agent idle with them kept (CPU share of a core, RSS), and a restart with a
ledger of a million rows (process start -> first new file acknowledged).

A file counts as acknowledged when its rows are: the agent's durable ``rows_acknowledged``
counter, sampled every ``SAMPLE`` s, divided by the rows per file (every file is one batch).
Rate limits are off: under IoT Core's 100 publishes/s a ten-row file per publish caps any
ingest at 100 files/s, so the figure here is what the agent itself costs per file.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import procstat
from harness import SETTLE, AgentProcess, agent_config, broker, running_agent, wait_until
from workload import DATASET, small_file

from edge_agent.state.db import StateDB

SAMPLE = 0.2  # seconds between samples of the acknowledged counter
PER_FOLDER = 1_000  # files per day folder
DAY = 86_400.0
Figures = dict[str, Any]


def write_small_files(folder: Path, count: int, rows: int, first: int = 0) -> int:
    """``count`` files of ``rows`` rows in day folders of ``PER_FOLDER``; returns their bytes.
    Written next to the folder and renamed in, each with its own mtime in writing order."""
    total = 0
    now = time.time() - count  # one second apart, the newest a little in the past
    for i in range(first, first + count):
        sub = folder / f"day-{i // PER_FOLDER:04d}"
        if i % PER_FOLDER == 0 or i == first:
            sub.mkdir(parents=True, exist_ok=True)
        data = small_file(i, rows)
        path = sub / f"f{i:07d}.csv"
        path.write_bytes(data)
        os.utime(path, (now + i - first, now + i - first))
        total += len(data)
    return total


def when_reached(samples: list[tuple[float, int]], target: float) -> float:
    """The time the sampled count reached ``target`` (linear between samples)."""
    prev_t, prev_n = samples[0]
    for t, n in samples:
        if n >= target:
            if n == prev_n:
                return t
            return prev_t + (t - prev_t) * (target - prev_n) / (n - prev_n)
        prev_t, prev_n = t, n
    return float("nan")


def follow_acks(
    agent: AgentProcess, files: int, rows: int, before: int, timeout: float
) -> tuple[list[tuple[float, int]], float]:
    """Sample the files acknowledged (from the rows counter) until ``files`` are; also the
    agent's largest VmRSS seen meanwhile."""
    samples: list[tuple[float, int]] = [(agent.started, 0)]
    peak_rss = 0.0
    deadline = time.monotonic() + timeout
    next_rss = 0.0
    while True:
        done = (agent.state.acknowledged() - before) // rows
        now = time.monotonic()
        samples.append((now, done))
        if now >= next_rss:
            peak_rss = max(peak_rss, procstat.rss_mb(agent.proc.pid))
            next_rss = now + 2.0
        if done >= files:
            return samples, peak_rss
        dead = agent.dead()
        if dead is not None:
            raise RuntimeError(f"{dead} while {done} of {files} files were acknowledged")
        if now > deadline:
            raise RuntimeError(f"timed out: {done} of {files} files acknowledged")
        time.sleep(SAMPLE)


def rate_figures(samples: list[tuple[float, int]], files: int, started: float) -> Figures:
    """Files/s overall, in the first and last tenth, and the time to the first file."""
    tenth = files / 10
    first = when_reached(samples, 1)
    t_first_tenth = when_reached(samples, tenth)
    t_last_start = when_reached(samples, files - tenth)
    t_end = when_reached(samples, files)
    out = {
        "seconds": t_end - started,
        "files_per_s": files / (t_end - started),
        "first_file_seconds": first - started,
        "first_tenth_files_per_s": (tenth - 1) / (t_first_tenth - first),
        "last_tenth_files_per_s": tenth / (t_end - t_last_start),
        # files/s in each tenth, to show the trend rather than two points
        "tenths_files_per_s": [
            tenth / (when_reached(samples, (k + 1) * tenth) - when_reached(samples, k * tenth))
            if k
            else (tenth - 1) / (t_first_tenth - first)
            for k in range(10)
        ],
    }
    out["last_over_first"] = out["last_tenth_files_per_s"] / out["first_tenth_files_per_s"]
    return out


def idle_figures(prefix: str, agent: AgentProcess, seconds: float) -> Figures:
    """CPU share of one core over ``seconds`` of idleness, and RSS at its end."""
    window = procstat.measure_cpu(agent.proc.pid, seconds)
    return {
        f"{prefix}_seconds": window.seconds,
        f"{prefix}_cpu_seconds": window.cpu_seconds,
        f"{prefix}_cpu_share": window.share_of_core,
        f"{prefix}_rss_mb": procstat.rss_mb(agent.proc.pid),
        f"{prefix}_peak_rss_mb": procstat.status_mb(agent.proc.pid, "VmHWM"),
    }


def many_files(
    work: Path, files: int, rows: int, idle_seconds: float, restart_idle_seconds: float
) -> Figures:
    """``files`` files of ``rows`` rows present when the agent starts; files/s; then the same
    agent idle with every file kept; then a restarted agent idle with them."""
    folder = work / "in"
    t = time.monotonic()
    file_bytes = write_small_files(folder, files, rows)
    out: Figures = {
        "files": files,
        "rows_per_file": rows,
        "bytes": file_bytes,
        "write_seconds": time.monotonic() - t,
        "rescan_seconds": 60.0,
    }
    source = {"name": "many", "path": str(folder), "settleSeconds": SETTLE, "dataset": "d"}
    with broker(work) as server:
        config = agent_config(work, [source], {"d": DATASET}, server.port, limits=False)
        with running_agent(work / "agent", config) as agent:
            samples, peak = follow_acks(agent, files, rows, 0, max(600.0, files / 5))
            out |= rate_figures(samples, files, agent.started)
            out["ingest_peak_rss_mb"] = peak
            out["ingest_cpu_seconds"] = procstat.cpu_seconds(agent.proc.pid)
            time.sleep(5.0)  # the last acknowledgements' bookkeeping
            out |= idle_figures("idle", agent, idle_seconds)
        if restart_idle_seconds > 0:
            with running_agent(work / "agent-again", config) as agent:
                out["restart_quiet_seconds"] = procstat.wait_quiet(agent.proc.pid)
                out["restart_startup_cpu_seconds"] = procstat.cpu_seconds(agent.proc.pid)
                out |= idle_figures("restart_idle", agent, restart_idle_seconds)
                if agent.state.acknowledged() != files * rows:
                    raise RuntimeError("the restarted agent published kept files again")
    return out


# ---------------------------------------------------------------------- restart, big ledger


def _history_rows(
    template: sqlite3.Row, count: int, first_id: int, now: float
) -> list[tuple[Any, ...]]:
    """``count`` ledger rows like ``template`` (a real row of a file read, then moved away by
    ``afterIngest: move``): each its own path, identity, fingerprint and times, disposed and
    gone within the last 29 days (inside ``forgetAfterDays`` 30, so retention keeps them)."""
    names = template.keys()
    base = dict(zip(names, tuple(template), strict=True))
    out = []
    for k in range(count):
        i = first_id + k
        age = 29 * DAY * (1 - k / count)  # oldest first, as they were written
        path = f"history/day-{i // PER_FOLDER:05d}/f{i:08d}.csv"
        ident = hashlib.blake2b(path.encode(), digest_size=12).hexdigest()
        row = base | {
            "id": None,
            "path": path,
            "file_id": ident,
            "content_fp": hashlib.blake2b(path.encode(), digest_size=16).hexdigest(),
            "mtime_ns": int((now - age - 60) * 1e9),
            "first_seen": now - age - 30,
            "updated": now - age,
            "read_at": now - age - 29,
            "disposed_at": now - age,
            "disposed_to": f"../archive/{path}",
            "gone_at": now - age,
        }
        out.append(tuple(row[name] for name in names))
    return out


def build_ledger(state_dir: Path, source: str, total: int) -> Figures:
    """Fill the ledger up to ``total`` rows with ``_history_rows`` of ``source``, inserted
    directly into the state database's ``files`` table in one transaction."""
    db = StateDB(state_dir)
    try:
        conn = db.conn
        conn.row_factory = sqlite3.Row
        template = conn.execute(
            "SELECT * FROM files WHERE source = ? AND state = 'disposed' LIMIT 1", (source,)
        ).fetchone()
        if template is None:
            raise RuntimeError(f"no disposed file of {source} to copy")
        have = conn.execute("SELECT COUNT(*) FROM files").fetchone()[0]
        missing = total - have
        t = time.monotonic()
        names = template.keys()
        sql = f"INSERT INTO files ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        now = time.time()
        with db.transaction() as tx:
            for start in range(0, missing, 100_000):
                n = min(100_000, missing - start)
                tx.executemany(sql, _history_rows(template, n, start, now))
        counts = dict(conn.execute("SELECT state, COUNT(*) FROM files GROUP BY state").fetchall())
    finally:
        db.close()
    size = sum(p.stat().st_size for p in state_dir.glob("edge-agent.db*"))
    return {
        "ledger_rows": sum(counts.values()),
        "ledger_by_state": counts,
        "ledger_build_seconds": time.monotonic() - t,
        "db_mb": size / 1e6,
    }


def restart(
    work: Path, ledger_rows: int, present: int, rows: int, idle_seconds: float = 0.0
) -> Figures:
    """A gateway with two sources: ``line`` (``afterIngest: move``) whose history fills the
    ledger, and ``logger`` (``afterIngest: keep``) with ``present`` files read and still there.
    Stopped, a new file arrives in ``line``; the agent is started again: time from process
    start to that file acknowledged."""
    line, logger, archive = work / "line", work / "logger", work / "archive"
    for folder in (line, logger, archive):
        folder.mkdir()
    write_small_files(logger, present, rows)
    out: Figures = {"present_files": present}
    sources = [
        {
            "name": "line",
            "path": str(line),
            "settleSeconds": SETTLE,
            "dataset": "d",
            "afterIngest": "move",
            "moveTo": str(archive),
        },
        {"name": "logger", "path": str(logger), "settleSeconds": SETTLE, "dataset": "d"},
    ]
    with broker(work) as server:
        config = agent_config(work, sources, {"d": DATASET}, server.port, limits=False)
        with running_agent(work / "first", config) as agent:
            (line / "first.csv").write_bytes(small_file(0, rows))
            wait_until(
                "the first files read and moved",
                lambda: (
                    not (line / "first.csv").exists()
                    and agent.state.acknowledged() == (present + 1) * rows
                ),
                max(600.0, present / 5),
                agent.dead,
                0.2,
            )
            out["first_run_seconds"] = time.monotonic() - agent.started
        out |= build_ledger(Path(config["stateDir"]), "line", ledger_rows)
        (line / "new.csv").write_bytes(small_file(1, rows))
        with running_agent(work / "again", config) as agent:
            before = (present + 1) * rows
            done = wait_until_moved(agent, before, line / "new.csv", archive / "new.csv", 600)
            out["restart_to_ack_seconds"] = done - agent.started
            out["restart_rss_mb"] = procstat.rss_mb(agent.proc.pid)
            out["restart_cpu_seconds"] = procstat.cpu_seconds(agent.proc.pid)
            if agent.state.acknowledged() != (present + 2) * rows:
                raise RuntimeError("the restarted agent published kept files again")
            if idle_seconds > 0:
                # Idle with the big ledger: the window holds the periodic work that runs a
                # minute after start (heartbeat, disposal sweep, rescan).
                out |= idle_figures("ledger_idle", agent, idle_seconds)
    out["settle_seconds"] = SETTLE
    return out


def wait_until_moved(
    agent: AgentProcess, before: int, src: Path, dst: Path, timeout: float
) -> float:
    """When the new file was acknowledged: the rows counter past ``before`` (polled every
    10 ms); it is then moved to the archive (waited for too, but not timed)."""
    wait_until(
        "the new file acknowledged",
        lambda: agent.state.acknowledged() > before,
        timeout,
        agent.dead,
        0.01,
    )
    done = time.monotonic()
    wait_until("the new file moved", lambda: dst.exists() and not src.exists(), 60, agent.dead)
    return done
