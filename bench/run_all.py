"""Every benchmark scenario, edge-agent next to a naive ingest, written to docs/BENCHMARKS.md.

    .venv/bin/python bench/run_all.py                      # all scenarios, ~10 min on 2 cores
    .venv/bin/python bench/run_all.py --rows 1000000 --smb-rows 1000000 --limits-seconds 60
    .venv/bin/python bench/run_all.py --only local,drain --out /tmp/b.md

Scenarios (``--only`` takes their names): ``local`` (a: rows/s and peak RSS, c: bytes per row,
d: latency), ``smb`` (b: the same through an SMB share), ``limits`` (e: the IoT Core limits on)
and ``drain`` (f: a two-tower site's 24-hour backlog). Each starts its own Mosquitto (and smbd)
as child processes on free loopback ports, runs the agent, then the naive ingest
(bench/naive.py) on the same input, and stops everything by PID.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report
import scenarios

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("local", "smb", "limits", "drain")
BYTES_PER_ROW_GUESS = 200.0  # for sizing the limits file when ``local`` did not run


def machine() -> dict[str, str]:
    """CPU, cores, memory, kernel, Python and server versions of this machine."""
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])

    def version(*cmd: str) -> str:
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=10)
        except OSError:
            return "not found"
        return (result.stdout + result.stderr).strip().splitlines()[0]

    os_name = "unknown"
    if Path("/etc/os-release").exists():
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "RAM": f"{mem_kb / 1024**2:.1f} GiB",
        "OS": f"{os_name}, kernel {platform.release()}",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "Mosquitto": version("mosquitto", "-h"),
        "Samba": version("smbd", "--version"),
    }


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma list of scenarios")
    parser.add_argument("--rows", type=int, default=300_000, help="local: rows of the big file")
    parser.add_argument("--smb-rows", type=int, default=150_000, help="smb: rows of the big file")
    parser.add_argument(
        "--gigabytes",
        type=float,
        default=0.0,
        help="local and smb: the big file's size instead of --rows/--smb-rows",
    )
    parser.add_argument("--latency-files", type=int, default=20, help="small files per latency")
    parser.add_argument("--latency-rows", type=int, default=50, help="rows per small file")
    parser.add_argument(
        "--limits-seconds", type=float, default=30.0, help="limits: seconds of data at 512 KiB/s"
    )
    parser.add_argument("--drain-days", type=float, default=1.0, help="drain: days of backlog")
    parser.add_argument("--drain-towers", type=int, default=2, help="drain: towers of the site")
    parser.add_argument(
        "--naive-poll", type=float, default=1.0, help="the naive ingest's polling interval (s)"
    )
    parser.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    parser.add_argument("--json", default=None, help="also write the raw figures here")
    parser.add_argument("--workdir", default=None, help="where the files go (default: /tmp)")
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")

    latency = (args.latency_files, args.latency_rows)
    size = int(args.gigabytes * 1e9)
    rows, smb_rows = (0, 0) if size else (args.rows, args.smb_rows)
    runs: dict[str, Callable[[Path, dict[str, Any]], dict[str, Any]]] = {
        "local": lambda w, _r: scenarios.local(w, rows, latency, args.naive_poll, size),
        "smb": lambda w, _r: scenarios.smb(w, smb_rows, latency, args.naive_poll, size),
        "limits": lambda w, r: scenarios.limits(
            w,
            args.limits_seconds,
            r.get("local", {}).get("agent_bytes_per_row", BYTES_PER_ROW_GUESS),
        ),
        "drain": lambda w, _r: scenarios.drain(
            w, args.drain_days, args.drain_towers, args.naive_poll
        ),
    }
    results: dict[str, dict[str, Any]] = {}
    context = {
        "command": shlex.join(["python", "bench/run_all.py", *(argv or sys.argv[1:])]),
        "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_before": load(),
        "machine": machine(),
        "naive_poll": args.naive_poll,
        "settle": scenarios.SETTLE,
    }
    for name in SCENARIOS:
        if name not in chosen:
            continue
        print(f"{name} ...", flush=True)
        t0 = time.monotonic()
        with tempfile.TemporaryDirectory(dir=args.workdir, prefix=f"edge-bench-{name}-") as tmp:
            results[name] = runs[name](Path(tmp), results)
        results[name]["wall_seconds"] = time.monotonic() - t0
        print(f"{name}: done in {results[name]['wall_seconds']:.0f} s", flush=True)
        print(report.summary(name, results[name]), flush=True)
    context["load_after"] = load()
    context["finished"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    Path(args.out).write_text(report.render(context, results), encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps({"context": context, "results": results}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
