"""A soak in CI time: weeks of a farm site replayed by ``edge-sim tower --speed X`` (files
appear, grow and close in accelerated time) while the agent reads them with the farm's
enrichment on and ``afterIngest: keep``. Every ``--soak-sample`` s: the agent's RSS, the state
database's size (with its WAL), the files read and the agent's CPU time; then the least-squares
slope of each over simulated time, and of the CPU cost per file."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import procstat
from harness import (
    agent_config,
    broker,
    running_agent,
    site_source,
    stop_process,
    wait_until,
)

from edge_agent.config.models import AgentConfig
from simulators.datasets import SOURCE_HINTS, builtin_dataset_mapping

WEEK = 7 * 86_400.0
DAY = 86_400.0
KINDS = ("tower", "seeding", "automation", "site")
Figures = dict[str, Any]


def layout(site: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Sources and builtin datasets for the simulator's tower-site folders (made now: the
    simulator fills them as it goes); ``afterIngest: keep``, the default."""
    sources, datasets = [], {}
    for name in KINDS:
        (site / SOURCE_HINTS[name].folder).mkdir(parents=True, exist_ok=True)
        sources.append(site_source(name, site))
        datasets[name] = builtin_dataset_mapping(name)
    return sources, datasets


def db_bytes(state_dir: Path) -> int:
    return sum(p.stat().st_size for p in state_dir.glob("edge-agent.db*") if p.exists())


def csv_files(site: Path) -> int:
    return sum(1 for name in KINDS for _ in (site / SOURCE_HINTS[name].folder).rglob("*.csv"))


def soak(work: Path, days: float, towers: int, minutes: float, sample: float) -> Figures:
    """``days`` of a ``towers``-tower site in about ``minutes`` of wall time."""
    site = work / "site"
    sources, datasets = layout(site)
    speed = days * DAY / (minutes * 60)
    out: Figures = {"days": days, "towers": towers, "speed": speed, "sample_seconds": sample}
    with broker(work) as server:
        config = agent_config(work, sources, datasets, server.port, limits=False)
        if "cea" in AgentConfig.model_fields:
            config["cea"] = {"siteId": "site-01"}
        state_dir = Path(config["stateDir"])
        with running_agent(work / "agent", config) as agent:
            sim = subprocess.Popen(
                [
                    *(sys.executable, "-m", "simulators.cli", "tower"),
                    *("--out", str(site), "--speed", f"{speed:.1f}"),
                    *("--days", str(days), "--towers", str(towers), "--quiet"),
                    *("--start", "2026-01-05T00:00:00Z"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            t0 = time.monotonic()
            series: list[dict[str, float]] = []
            pid = agent.proc.pid

            def take() -> dict[str, float]:
                read = agent.state.files_read()
                point = {
                    "sim_days": (time.monotonic() - t0) * speed / DAY,
                    "rss_mb": procstat.rss_mb(pid),
                    "db_mb": db_bytes(state_dir) / 1e6,
                    "cpu_seconds": procstat.cpu_seconds(pid),
                    "files_read": float(read),
                    "files_written": float(csv_files(site)),
                }
                series.append(point)
                return point

            try:
                while sim.poll() is None:
                    if agent.dead():
                        raise RuntimeError(agent.dead())
                    take()
                    time.sleep(sample)
                if sim.returncode != 0:
                    err = sim.stderr.read().decode() if sim.stderr else ""
                    raise RuntimeError(f"edge-sim exited {sim.returncode}: {err[-2000:]}")
            finally:
                stop_process(sim, 30)
            sim_seconds = time.monotonic() - t0
            files = csv_files(site)
            wait_until(
                "every simulated file read and acknowledged",
                lambda: agent.state.files_done()[0] >= files,
                600,
                agent.dead,
                0.5,
            )
            out["drain_after_sim_seconds"] = time.monotonic() - t0 - sim_seconds
            last = take()
            _n, published, quarantined = agent.state.files_done()
        out |= {
            "files": files,
            "rows_published": published,
            "rows_quarantined": quarantined,
            "wall_seconds": sim_seconds,
            "final_rss_mb": last["rss_mb"],
            "final_db_mb": last["db_mb"],
            "peak_rss_mb": max_rss(series),
        }
        out |= slopes(series, speed)
        out["series"] = series
    return out


def max_rss(series: list[dict[str, float]]) -> float:
    return max(p["rss_mb"] for p in series)


def slopes(series: list[dict[str, float]], speed: float) -> Figures:
    """Slopes per simulated week over the second half of the replay (the first half holds the
    start: imports, caches filling, the farm's first cycles), and the CPU cost per file in
    each stretch of samples that read at least a few files."""
    half = [p for p in series if p["sim_days"] >= series[-1]["sim_days"] / 2]
    weeks = [p["sim_days"] * DAY / WEEK for p in half]
    costs_x, costs_y = [], []
    for a, b in itertools.pairwise(series):
        files = b["files_read"] - a["files_read"]
        if files >= 5:
            costs_x.append(b["sim_days"] * DAY / WEEK)
            costs_y.append((b["cpu_seconds"] - a["cpu_seconds"]) / files * 1000)
    lag = [p["files_written"] - p["files_read"] for p in series]
    files_half = [p["files_read"] for p in half]
    db_half = [p["db_mb"] for p in half]
    return {
        "rss_mb_mean_second_half": procstat.mean([p["rss_mb"] for p in half]),
        "rss_mb_per_week": procstat.slope(weeks, [p["rss_mb"] for p in half]),
        "db_mb_per_week": procstat.slope(weeks, db_half),
        "db_bytes_per_file": procstat.slope(files_half, db_half) * 1e6,
        "lag_files_max": max(lag),
        "lag_files_per_week": procstat.slope(
            [p["sim_days"] * DAY / WEEK for p in series], [float(v) for v in lag]
        ),
        "cpu_share_mean": (series[-1]["cpu_seconds"] - series[0]["cpu_seconds"])
        / max(1e-9, (series[-1]["sim_days"] - series[0]["sim_days"]) * DAY / speed),
        "cpu_ms_per_file_mean": procstat.mean(costs_y),
        "cpu_ms_per_file_per_week": procstat.slope(costs_x, costs_y),
        "cpu_ms_per_file_first_quarter": procstat.mean(costs_y[: max(1, len(costs_y) // 4)]),
        "cpu_ms_per_file_last_quarter": procstat.mean(costs_y[-max(1, len(costs_y) // 4) :]),
    }
