"""Every benchmark scenario, edge-agent next to a naive ingest, written to docs/BENCHMARKS.md.

    .venv/bin/python bench/run_all.py --repeat 2           # everything, ~1 h on 2 cores
    .venv/bin/python bench/run_all.py --rows 1000000 --smb-rows 1000000 --limits-seconds 60
    .venv/bin/python bench/run_all.py --only local,drain --out /tmp/b.md
    .venv/bin/python bench/run_all.py --only local,nodered --repeat 2

Scenarios (``--only`` takes their names): ``local`` (a: rows/s and peak RSS, c: bytes per row,
d: latency), ``smb`` (b: the same through an SMB share), ``limits`` (e: the IoT Core limits on)
and ``drain`` (f: a two-tower site's 24-hour backlog) run the agent, then the naive ingest
(bench/naive.py) on the same input. The field-scale ones (bench/fieldscale.py, outage.py,
soak.py, nodered.py; ``--repeat`` runs each that many times) measure the agent alone, or next to
Node-RED: ``files`` (g: 100,000 small files present at start, h: idle with them kept),
``arrivals`` (h2: new files one at a time, empty source vs 100,000 files kept),
``restart`` (i: a million ledger rows), ``outage`` (j: 16 sources, a 1 MiB outbox, the broker
frozen), ``soak`` (k: weeks of a site replayed by edge-sim) and ``nodered`` (l: Node-RED 4 on the
big file of ``local``, installed with npm into a cache folder on first use). Each starts its own
Mosquitto (and smbd) as child processes on free loopback ports and stops everything by PID.
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
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import arrivals
import fieldscale
import nodered
import outage
import report
import report_field
import scenarios
import soak

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = (
    "local",
    "smb",
    "limits",
    "drain",
    "files",
    "arrivals",
    "restart",
    "outage",
    "soak",
    "nodered",
)
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
        "Node.js": version("node", "--version"),
    }


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


class LoadSampler:
    """The 1-minute load average every 5 s while a scenario runs (a thread of this process)."""

    def __init__(self) -> None:
        self.values: list[float] = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(5.0):
            self.values.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.values.append(os.getloadavg()[0])

    def summary(self) -> dict[str, float]:
        return {
            "min": min(self.values),
            "mean": sum(self.values) / len(self.values),
            "max": max(self.values),
        }


def nodered_run(work: Path, rows: int, may_install: bool) -> dict[str, Any]:
    """The Node-RED scenario, installing the pinned Node-RED first if allowed and needed."""
    reason = nodered.why_not_available()
    if reason is None and not nodered.installed():
        if not may_install:
            reason = f"Node-RED {nodered.VERSION} is not installed (--no-install)"
        else:
            print(f"installing node-red@{nodered.VERSION} into {nodered.HOME} ...", flush=True)
            nodered.install()
    if reason is not None:
        return {"skipped": reason}
    return nodered.scenario(work, rows)


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
    field = parser.add_argument_group("field scale (files, restart, outage, soak, nodered)")
    field.add_argument(
        "--repeat", type=int, default=1, help="run each field-scale scenario this many times"
    )
    field.add_argument("--files", type=int, default=100_000, help="files: small files at start")
    field.add_argument("--file-rows", type=int, default=10, help="files: rows per small file")
    field.add_argument(
        "--idle-seconds", type=float, default=120.0, help="files: idle window after reading"
    )
    field.add_argument(
        "--restart-idle-seconds",
        type=float,
        default=60.0,
        help="files: idle window of a restarted agent (0: no restart)",
    )
    field.add_argument(
        "--kept", type=int, default=100_000, help="arrivals: files kept in the source"
    )
    field.add_argument(
        "--arrivals", type=int, default=200, help="arrivals: new files, one at a time"
    )
    field.add_argument(
        "--arrival-interval", type=float, default=1.0, help="arrivals: seconds between them"
    )
    field.add_argument(
        "--ledger-rows", type=int, default=1_000_000, help="restart: rows in the ledger"
    )
    field.add_argument(
        "--ledger-idle-seconds",
        type=float,
        default=120.0,
        help="restart: idle window after the new file (0: none)",
    )
    field.add_argument(
        "--present-files", type=int, default=10_000, help="restart: files read and still there"
    )
    field.add_argument("--outage-sources", type=int, default=16, help="outage: local sources")
    field.add_argument("--outage-rows", type=int, default=40_000, help="outage: rows per file")
    field.add_argument(
        "--outage-seconds", type=float, default=15.0, help="outage: seconds the broker is frozen"
    )
    field.add_argument(
        "--outage-outbox-bytes", type=int, default=1024**2, help="outage: outbox.maxBytes"
    )
    field.add_argument("--soak-days", type=float, default=28.0, help="soak: simulated days")
    field.add_argument("--soak-towers", type=int, default=4, help="soak: towers of the site")
    field.add_argument(
        "--soak-minutes", type=float, default=4.0, help="soak: wall minutes for the replay"
    )
    field.add_argument(
        "--soak-sample", type=float, default=5.0, help="soak: seconds between samples"
    )
    field.add_argument(
        "--nodered-rows",
        type=int,
        default=0,
        help="nodered: rows of the big file (default: --rows, the local scenario's file)",
    )
    field.add_argument(
        "--no-install",
        action="store_true",
        help="nodered: do not npm install Node-RED; skip it unless already installed",
    )
    parser.add_argument(
        "--keep",
        default=None,
        help="a --json file of an earlier run: its scenarios not run now stay in the report",
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
    runs |= {
        "files": lambda w, _r: fieldscale.many_files(
            w, args.files, args.file_rows, args.idle_seconds, args.restart_idle_seconds
        ),
        "arrivals": lambda w, _r: arrivals.arrivals(
            w, args.kept, args.arrivals, args.arrival_interval
        ),
        "restart": lambda w, _r: fieldscale.restart(
            w, args.ledger_rows, args.present_files, args.file_rows, args.ledger_idle_seconds
        ),
        "outage": lambda w, _r: outage.outage(
            w,
            args.outage_sources,
            args.outage_rows,
            args.outage_seconds,
            args.outage_outbox_bytes,
        ),
        "soak": lambda w, _r: soak.soak(
            w, args.soak_days, args.soak_towers, args.soak_minutes, args.soak_sample
        ),
        "nodered": lambda w, _r: nodered_run(w, args.nodered_rows or rows, not args.no_install),
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
        repeats = args.repeat if name in report_field.FIELD else 1
        every = []
        for i in range(repeats):
            print(f"{name} (run {i + 1} of {repeats}) ...", flush=True)
            t0 = time.monotonic()
            with (
                LoadSampler() as sampled,
                tempfile.TemporaryDirectory(dir=args.workdir, prefix=f"edge-bench-{name}-") as tmp,
            ):
                try:
                    figures = runs[name](Path(tmp), results)
                except Exception as e:
                    if name not in report_field.FIELD:
                        raise
                    # One field-scale run failing does not lose the others' figures.
                    traceback.print_exc()
                    figures = {"error": f"{type(e).__name__}: {str(e)[:2000]}"}
            figures["wall_seconds"] = time.monotonic() - t0
            figures["load"] = sampled.summary()
            every.append(figures)
            print(f"{name}: done in {figures['wall_seconds']:.0f} s", flush=True)
            print(report.summary(name, figures), flush=True)
        results[name] = every[0] | ({"runs": every} if name in report_field.FIELD else {})
    if args.keep:
        earlier = json.loads(Path(args.keep).read_text())
        kept = {k: v for k, v in earlier["results"].items() if k not in results}
        results = {name: (results | kept)[name] for name in SCENARIOS if name in results | kept}
        context["earlier"] = earlier["context"] | {"scenarios": sorted(kept)}
    context["load_after"] = load()
    context["finished"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    Path(args.out).write_text(report.render(context, results), encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps({"context": context, "results": results}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
