"""What farm enrichment costs: tower readings end to end, plain versus tagged, fused and checked.

The same tower-station file (readings every 10 s from 2 towers x 3 stations, about a week) is
published twice against a real Mosquitto by ``edge-agent run`` (a child process):

- plain: the tower dataset read as ``kind: generic`` (the core pipeline only);
- enriched: ``kind: tower`` with the site, automation and seeding context of that week already
  read, and the default grow recipe, so every reading is tagged with its Grow ID, joined with
  the site reading and the automation state as of its time, and checked against the recipe.

Figures: rows/s from the file's drop to its last row acknowledged, peak RSS of the agent, and
the ratio (issue: enrichment must keep at least half of the plain throughput).

    .venv/bin/python bench/bench_farm.py [--rows 300000] [--deviating 1] [--pairs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import agent_config, broker, running_agent, wait_until  # noqa: E402
from simulators.datasets import builtin_dataset_mapping, cea_mapping  # noqa: E402

START = datetime(2026, 5, 1, tzinfo=UTC)
TOWERS = ("tower-01", "tower-02")
STATIONS = ("st-1", "st-2", "st-3")
TRAYS = 12
STEP = timedelta(seconds=10)


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def tower_file(path: Path, rows: int, *, deviating: float) -> datetime:
    """``rows`` readings; returns the time of the last one. Values sit inside the default
    recipe's bands, except that a fraction ``deviating`` of readings has humidity and pH out."""
    rng = random.Random(7)
    at = START
    with path.open("w", encoding="utf-8") as f:
        f.write(
            "timestamp,tower_id,station_id,tray_id,height_mm,weight_kg,evenness_pct,"
            "water_level_mm,water_ph,water_temp_c,air_temp_c,humidity_pct,co2_ppm\n"
        )
        n = 0
        while n < rows:
            for tower in TOWERS:
                for i, station in enumerate(STATIONS):
                    tray = f"tray-{(n // 6 + i * 3) % TRAYS + 1:02d}"
                    off = rng.random() < deviating
                    humidity = rng.uniform(82, 90) if off else rng.uniform(56, 70)
                    ph = rng.uniform(7.0, 7.4) if off else rng.uniform(6.1, 6.7)
                    f.write(
                        f"{stamp(at)},{tower},{station},{tray},{rng.uniform(0, 250):.1f},"
                        f"{rng.uniform(3, 30):.2f},{rng.uniform(80, 99):.1f},"
                        f"{rng.uniform(80, 120):.1f},{ph:.2f},"
                        f"{rng.uniform(18, 20):.1f},{rng.uniform(18, 23):.1f},"
                        f"{humidity:.1f},{rng.randint(450, 1400)}\n"
                    )
                    n += 1
            at += STEP
    return at


def context_files(folder: Path, end: datetime) -> None:
    """Site, automation and seeding files covering START..end (5-minute steps, 7-day cycles).

    The site station's data goes a step past the last reading, as it would on a running farm:
    a reading waits (up to cea.graceSeconds) for the site reading after it."""
    end += timedelta(minutes=10)
    site = folder / "site"
    automation = folder / "automation"
    seeding = folder / "seeding"
    for sub in (site, automation, seeding):
        sub.mkdir(parents=True, exist_ok=True)
    with (site / "site.csv").open("w", encoding="utf-8") as f:
        f.write(
            "timestamp,site_id,outdoor_temp_c,outdoor_humidity_pct,solar_w_m2,wind_m_s,"
            "energy_kwh_total,power_kw\n"
        )
        at = START - timedelta(minutes=5)
        while at <= end:
            f.write(f"{stamp(at + timedelta(seconds=30))},site-01,12.5,71.0,220.0,3.1,1500.0,4.2\n")
            at += timedelta(minutes=5)
    with (automation / "automation.csv").open("w", encoding="utf-8") as f:
        f.write(
            "timestamp,tower_id,state,conveyor_position,pump_on,lights_on,irrigation_ml,fault_code\n"
        )
        at = START - timedelta(minutes=5)
        while at <= end:
            for tower in TOWERS:
                f.write(f"{stamp(at)},{tower},running,3,false,true,0,\n")
            at += timedelta(minutes=5)
    with (seeding / "seeding.csv").open("w", encoding="utf-8") as f:
        f.write("timestamp,tower_id,tray_id,event,grow_id,seed_kg,seed_lot\n")
        events = []
        for tower in TOWERS:
            for tray in range(1, TRAYS + 1):
                at = START - timedelta(days=7) + timedelta(hours=14 * tray)
                while at <= end:
                    events.append((at, tower, tray, "seeded"))
                    events.append((at + timedelta(days=7), tower, tray, "harvested"))
                    at += timedelta(days=7, minutes=2)
        for at, tower, tray, event in sorted(events):
            grow = f"G-{tower[-2:]}{tray:02d}-{at:%m%d%H%M}" if event == "seeded" else ""
            f.write(f"{stamp(at)},{tower},tray-{tray:02d},{event},{grow},5.0,L-1\n")


def held(state_db: Path) -> int:
    with sqlite3.connect(f"file:{state_db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM farm_held").fetchone()[0])


def run_once(
    work: Path, port: int, rows: int, *, enriched: bool, deviating: float
) -> dict[str, Any]:
    data = work / "data"
    tower_dir = data / "tower"
    tower_dir.mkdir(parents=True)
    staged = work / "tower.csv"
    end = tower_file(staged, rows, deviating=deviating)
    tower_dataset = builtin_dataset_mapping("tower")
    sources: list[dict[str, Any]] = [
        {"name": "tower", "path": str(tower_dir), "settleSeconds": 0.2, "dataset": "tower"}
    ]
    datasets: dict[str, Any] = {"tower": tower_dataset}
    if enriched:
        context_files(data, end)
        for name in ("site", "automation", "seeding"):
            sources.append(
                {"name": name, "path": str(data / name), "settleSeconds": 0.2, "dataset": name}
            )
            datasets[name] = builtin_dataset_mapping(name)
    else:
        tower_dataset["kind"] = "generic"
    config = agent_config(work, sources, datasets, port, limits=False)
    config["health"] = {"port": None, "heartbeatSeconds": None}
    if enriched:
        config["cea"] = cea_mapping()
    with running_agent(work, config) as agent:
        if enriched:
            wait_until(
                "context read",
                lambda: agent.state.files_done()[0] == 3,
                120,
                agent.dead,
            )
        target = tower_dir / "tower.csv"
        began = time.monotonic()
        staged.rename(target)
        state_db = work / "state" / "edge-agent.db"
        wait_until(
            "every tower row acknowledged",
            lambda: agent.state.done("tower.csv") and (not enriched or held(state_db) == 0),
            1800,
            agent.dead,
        )
        seconds = time.monotonic() - began
        rss = agent.peak_rss_mb()
    return {"rows": rows, "seconds": seconds, "rowsPerSecond": rows / seconds, "peakRssMb": rss}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--work", type=Path, help="keep the run's files (logs, state) here")
    parser.add_argument("--only", choices=("plain", "enriched"))
    parser.add_argument(
        "--deviating",
        type=float,
        default=0.02,
        help="share of readings outside the recipe's bands (default 0.02; 1 = every reading)",
    )
    parser.add_argument(
        "--pairs",
        type=int,
        default=1,
        help="plain and enriched this many times, alternately (the median ratio is printed)",
    )
    args = parser.parse_args(argv)
    # The machine is shared: the figures mean something only with the load they ran under.
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    ratios: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-farm-") as tmp:
        root = Path(tmp) if args.work is None else args.work
        root.mkdir(parents=True, exist_ok=True)
        with broker(root) as server:
            for pair in range(args.pairs):
                results: dict[str, Any] = {}
                for name, enriched in (("plain", False), ("enriched", True)):
                    if args.only not in (None, name):
                        continue
                    work = root / f"{name}-{pair}"
                    work.mkdir()
                    results[name] = run_once(
                        work, server.port, args.rows, enriched=enriched, deviating=args.deviating
                    )
                    print(f"{name}: {json.dumps(results[name])}", flush=True)
                if len(results) == 2:
                    ratio = results["enriched"]["rowsPerSecond"] / results["plain"]["rowsPerSecond"]
                    ratios.append(ratio)
                    print(f"enriched / plain throughput: {ratio:.0%} (target >= 50%)", flush=True)
    if len(ratios) > 1:
        print(f"median of {len(ratios)} pairs: {statistics.median(ratios):.0%}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
