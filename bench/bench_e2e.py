"""End-to-end throughput and memory of edge-agent against a local Mosquitto.

    .venv/bin/python bench/bench_e2e.py                 # 1,000,000 rows x 10 columns
    .venv/bin/python bench/bench_e2e.py --rows 0 --gigabytes 1   # a 1 GB file

Starts Mosquitto and ``edge-agent run`` as child processes (rate limits off), drops one CSV into
the watched folder and measures from the moment the file is settled (settleSeconds after it
appeared) until every batch is acknowledged (the outbox is empty and the file is read), plus
the agent's peak RSS (VmHWM). Prints one line of figures per run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

SETTLE = 0.5
HEADER = "ts,sensor,temp_c,humidity_pct,pressure_hpa,flow_m3h,speed_rpm,state,counter,note\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_csv(path: Path, rows: int, target_bytes: int) -> tuple[int, int]:
    """Write a 10-column CSV of ``rows`` rows, or until ``target_bytes``; returns (rows, bytes)."""
    rng = random.Random(42)
    start = 1_790_000_000
    n = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(HEADER)
        written = len(HEADER)
        chunk: list[str] = []
        while (rows and n < rows) or (target_bytes and written < target_bytes):
            t = time.gmtime(start + n)
            line = (
                f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:"
                f"{t.tm_sec:02d}Z,S{n % 17},{20 + rng.random() * 5:.2f},"
                f"{50 + rng.random() * 20:.1f},{1000 + rng.random() * 20:.1f},"
                f"{rng.random() * 3:.3f},{rng.randint(0, 3000)},"
                f"RUN,{n},ok\n"
            )
            chunk.append(line)
            written += len(line)
            n += 1
            if len(chunk) >= 10_000:
                f.write("".join(chunk))
                chunk.clear()
        f.write("".join(chunk))
    return n, written


def peak_rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def wait_read(
    db: sqlite3.Connection,
    agent: subprocess.Popen[bytes],
    work: Path,
    path: str,
    *,
    poll: float,
    deadline: float | None,
) -> None:
    """Poll the state database until ``path`` is read and the outbox is empty."""
    while True:
        with contextlib.suppress(sqlite3.OperationalError):
            row = db.execute("SELECT state FROM files WHERE path = ?", (path,)).fetchone()
            waiting = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
            if row is not None and row[0] in ("read", "disposed") and waiting == 0:
                return
        if agent.poll() is not None:
            raise RuntimeError("agent exited: " + (work / "agent.log").read_text()[-2000:])
        if deadline is not None and time.monotonic() > deadline:
            raise RuntimeError(f"{path} not read in time: " + (work / "agent.log").read_text())
        time.sleep(poll)


def run_once(work: Path, rows: int, target_bytes: int) -> dict[str, float]:
    inbox, state = work / "in", work / "state"
    inbox.mkdir()
    staging = work / "data.csv"
    t0 = time.perf_counter()
    n_rows, n_bytes = write_csv(staging, rows, target_bytes)
    print(
        f"  generated {n_rows:,} rows, {n_bytes / 1e6:.0f} MB in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    port = free_port()
    (work / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
    )
    config = {
        "thingName": "bench-gw",
        "stateDir": str(state),
        "sources": [{"name": "bench", "path": str(inbox), "settleSeconds": SETTLE, "dataset": "d"}],
        "datasets": {"d": {"csv": {"timestampColumn": "ts"}}},
        "publish": {
            "mqtt": {"host": "127.0.0.1", "port": port, "protocol": 5},
            "maxPublishesPerSecond": None,
            "maxBytesPerSecond": None,
        },
        "outbox": {"maxBytes": 4 * 1024**3, "minFreeDiskBytes": 0},
        "logging": {"level": "WARNING", "format": "text"},
    }
    (work / "agent.yaml").write_text(yaml.safe_dump(config))
    broker = subprocess.Popen(
        ["mosquitto", "-c", str(work / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    log = (work / "agent.log").open("wb")
    agent = subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "run", "--config", str(work / "agent.yaml")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # Warm up: one small file read and acknowledged means connected and watching.
        (inbox / "warmup.csv").write_text(HEADER + "2026-11-27T00:00:00Z" + ",0" * 9 + "\n")
        deadline = time.monotonic() + 60
        while not (state / "edge-agent.db").exists():
            if time.monotonic() > deadline:
                raise RuntimeError("agent did not start: " + (work / "agent.log").read_text())
            time.sleep(0.05)
        db = sqlite3.connect(f"file:{state / 'edge-agent.db'}?mode=ro", uri=True, timeout=30)
        wait_read(db, agent, work, "warmup.csv", poll=0.05, deadline=deadline)
        dropped = time.perf_counter()
        staging.rename(inbox / "data.csv")
        wait_read(db, agent, work, "data.csv", poll=0.1, deadline=None)
        done = time.perf_counter()
        acked = db.execute(
            "SELECT value FROM counters WHERE name = 'rows_acknowledged'"
        ).fetchone()[0]
        db.close()
        rss = peak_rss_mb(agent.pid)
    finally:
        agent.terminate()
        agent.wait(60)
        log.close()
        broker.terminate()
        broker.wait(10)
    seconds = done - dropped - SETTLE
    assert acked == n_rows + 1, f"{acked} rows acknowledged, {n_rows} (+1 warm-up) written"
    return {
        "rows": n_rows,
        "bytes": n_bytes,
        "seconds": seconds,
        "rows_per_s": n_rows / seconds,
        "mb_per_s": n_bytes / 1e6 / seconds,
        "peak_rss_mb": rss,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--gigabytes", type=float, default=0.0, help="size instead of rows")
    parser.add_argument("--workdir", default=None, help="where to put the files (default: /tmp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="edge-agent-bench-") as tmp:
        result = run_once(Path(tmp), args.rows, int(args.gigabytes * 1e9))
    print(
        f"end-to-end: {result['rows']:,} rows ({result['bytes'] / 1e6:.0f} MB) in "
        f"{result['seconds']:.1f} s = {result['rows_per_s']:,.0f} rows/s, "
        f"{result['mb_per_s']:.1f} MB/s; agent peak RSS {result['peak_rss_mb']:.0f} MB "
        f"(cpus: {os.cpu_count()})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
