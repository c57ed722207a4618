"""End-to-end throughput, memory and settle-to-ack latency of edge-agent reading an SMB share.

    .venv/bin/python bench/bench_smb.py                  # 1,000,000 rows x 10 columns
    .venv/bin/python bench/bench_smb.py --with-local     # also bench_e2e.py, and the ratio
    .venv/bin/python bench/bench_smb.py --rows 100000 --small-files 10   # a quick look

Starts, as child processes: a real ``smbd`` on a free loopback port with its own config, user
and share (the SambaServer of tests/infra/samba.py: its own process group, stopped by PID),
Mosquitto, and ``edge-agent run`` with one ``type: smb`` source (rate limits off). Then:

1. throughput: the CSV of bench_e2e.py (``write_csv``) is generated on the share's disk outside
   the watched folder and renamed into it through SMB; measured, as in bench_e2e.py, from the
   rename + settleSeconds until every batch is acknowledged (outbox empty, file read), plus the
   agent's peak RSS (VmHWM);
2. latency: small files are written through SMB one after another (each once the previous one
   was acknowledged); for each, the time of its first acknowledged batch (the state database's
   ``rows_acknowledged`` counter moves, polled every few ms) minus (the time the writer closed
   it + settleSeconds). Printed as p50/p99 against the target (p50 <= 250 ms).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import smbclient
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import bench_e2e  # noqa: E402
from bench_e2e import HEADER, free_port, peak_rss_mb, write_csv  # noqa: E402

from tests.infra.samba import SambaServer  # noqa: E402

SETTLE = bench_e2e.SETTLE  # the same settleSeconds as the local-folder benchmark
FOLDER = "bench"  # the watched folder inside the share
STAGING = "staging"  # where the big file is generated, outside the watched folder
POLL_SECONDS = 0.002  # acknowledgement polling: the latency resolution
LATENCY_TARGET_P50 = 0.250


def wait_until(
    what: str,
    predicate: Any,
    timeout: float,
    agent: subprocess.Popen[bytes],
    log: Path,
    poll: float = 0.05,
) -> None:
    """Poll ``predicate`` until true; fail with the agent's log if it dies or time runs out."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if agent.poll() is not None:
            raise RuntimeError(
                f"agent exited while waiting for {what}:\n" + log.read_text()[-3000:]
            )
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"timed out after {timeout} s waiting for {what}:\n" + log.read_text()[-3000:]
            )
        time.sleep(poll)


class StateReader:
    """Read-only look at the agent's state database (safe beside the running agent)."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)

    def close(self) -> None:
        self._db.close()

    def acknowledged(self) -> int:
        """The agent's durable count of acknowledged rows."""
        row = self._db.execute(
            "SELECT value FROM counters WHERE name = 'rows_acknowledged'"
        ).fetchone()
        return int(row[0]) if row else 0

    def done(self, path: str) -> bool:
        """The file is wholly read and nothing is waiting in the outbox."""
        with contextlib.suppress(sqlite3.OperationalError):
            row = self._db.execute("SELECT state FROM files WHERE path = ?", (path,)).fetchone()
            waiting = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
            return row is not None and row[0] in ("read", "disposed") and waiting == 0
        return False


@contextlib.contextmanager
def servers(work: Path) -> Iterator[tuple[SambaServer, int]]:
    """smbd and mosquitto as children of this process; both stopped (by PID) at the end."""
    samba = SambaServer(work / "samba")
    port = free_port()
    (work / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
    )
    broker = subprocess.Popen(
        ["mosquitto", "-c", str(work / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        samba.start()
        yield samba, port
    finally:
        samba.stop()
        broker.terminate()
        broker.wait(10)


def agent_config(work: Path, samba: SambaServer, mqtt_port: int) -> dict[str, Any]:
    return {
        "thingName": "bench-gw",
        "stateDir": str(work / "state"),
        "sources": [
            {
                "name": "bench",
                "type": "smb",
                "smb": {
                    "server": samba.host,
                    "port": samba.port,
                    "share": samba.share,
                    "folder": FOLDER,
                    "username": samba.username,
                    "passwordEnv": "EDGE_BENCH_SMB_PASSWORD",
                },
                "settleSeconds": SETTLE,
                "dataset": "d",
            }
        ],
        "datasets": {"d": {"csv": {"timestampColumn": "ts"}}},
        "publish": {
            "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "protocol": 5},
            "maxPublishesPerSecond": None,
            "maxBytesPerSecond": None,
        },
        "outbox": {"maxBytes": 4 * 1024**3, "minFreeDiskBytes": 0},
        "logging": {"level": "WARNING", "format": "text"},
    }


def small_file(index: int, rows: int) -> bytes:
    t0 = 1_800_000_000 + index * 10_000
    lines = [HEADER]
    for n in range(rows):
        t = time.gmtime(t0 + n)
        lines.append(
            time.strftime("%Y-%m-%dT%H:%M:%SZ", t)
            + f",S{n % 17},21.50,55.0,1013.2,1.234,{n},RUN,{index * rows + n},ok\n"
        )
    return "".join(lines).encode()


def run_smb(
    work: Path, rows: int, target_bytes: int, small_files: int, small_rows: int
) -> dict[str, Any]:
    with servers(work) as (samba, mqtt_port):
        (samba.share_path / FOLDER).mkdir()
        (samba.share_path / STAGING).mkdir()
        staging = samba.share_path / STAGING / "data.csv"
        t0 = time.perf_counter()
        n_rows, n_bytes = write_csv(staging, rows, target_bytes)
        print(
            f"  generated {n_rows:,} rows, {n_bytes / 1e6:.0f} MB on the share in "
            f"{time.perf_counter() - t0:.0f} s",
            flush=True,
        )

        # The benchmark's own SMB client (its own connection cache), as the writing equipment.
        cache: dict[str, Any] = {}
        smb = {
            "username": samba.username,
            "password": samba.password,
            "port": samba.port,
            "connection_cache": cache,
        }
        smbclient.register_session(samba.host, **smb)

        config_path = work / "agent.yaml"
        config_path.write_text(yaml.safe_dump(agent_config(work, samba, mqtt_port)))
        log_path = work / "agent.log"
        log = log_path.open("wb")
        agent = subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "run", "--config", str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "EDGE_BENCH_SMB_PASSWORD": samba.password},
        )
        state_db = work / "state" / "edge-agent.db"
        reader: StateReader | None = None
        try:
            wait_until("the state database", state_db.exists, 30, agent, log_path)
            reader = StateReader(state_db)
            state = reader
            # Ready when a first file went all the way (share, notify, broker connected).
            with smbclient.open_file(samba.unc(FOLDER, "warmup.csv"), mode="wb", **smb) as f:
                f.write(small_file(999, 1))
            wait_until("the warm-up file", lambda: state.done("warmup.csv"), 60, agent, log_path)
            base = state.acknowledged()

            # 1. throughput
            dropped = time.perf_counter()
            smbclient.rename(samba.unc(STAGING, "data.csv"), samba.unc(FOLDER, "data.csv"), **smb)
            wait_until(
                "data.csv acknowledged",
                lambda: state.done("data.csv"),
                3600,
                agent,
                log_path,
                poll=0.1,
            )
            done = time.perf_counter()
            acked = state.acknowledged() - base
            rss = peak_rss_mb(agent.pid)
            if acked != n_rows:
                raise RuntimeError(f"{acked} rows acknowledged, {n_rows} written")
            seconds = done - dropped - SETTLE

            # 2. settle-to-first-ack latency, one small file at a time
            latencies = []
            for i in range(small_files):
                before = state.acknowledged()
                name = f"small-{i:03d}.csv"
                with smbclient.open_file(
                    samba.unc(FOLDER, name), mode="wb", share_access="rwd", **smb
                ) as f:
                    f.write(small_file(i, small_rows))
                written = time.perf_counter()
                wait_until(
                    f"{name} acknowledged",
                    lambda b=before: state.acknowledged() > b,
                    60,
                    agent,
                    log_path,
                    poll=POLL_SECONDS,
                )
                latencies.append(time.perf_counter() - (written + SETTLE))
                wait_until(f"{name} done", lambda n=name: state.done(n), 60, agent, log_path)
        finally:
            if reader is not None:
                reader.close()
            agent.terminate()
            agent.wait(60)
            log.close()
            smbclient.reset_connection_cache(fail_on_error=False, connection_cache=cache)
    return {
        "rows": n_rows,
        "bytes": n_bytes,
        "seconds": seconds,
        "rows_per_s": n_rows / seconds,
        "mb_per_s": n_bytes / 1e6 / seconds,
        "peak_rss_mb": rss,
        "latencies": latencies,
    }


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--gigabytes", type=float, default=0.0, help="size instead of rows")
    parser.add_argument("--small-files", type=int, default=20, help="files for the latency")
    parser.add_argument("--small-rows", type=int, default=50, help="rows per small file")
    parser.add_argument(
        "--with-local",
        action="store_true",
        help="also run bench_e2e.py's local-folder figure and print the ratio",
    )
    parser.add_argument("--workdir", default=None, help="where to put the files (default: /tmp)")
    args = parser.parse_args()
    target = int(args.gigabytes * 1e9)
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="edge-agent-bench-smb-") as tmp:
        smb = run_smb(Path(tmp), args.rows, target, args.small_files, args.small_rows)
    lat = smb["latencies"]
    print(
        f"SMB end-to-end: {smb['rows']:,} rows ({smb['bytes'] / 1e6:.0f} MB) in "
        f"{smb['seconds']:.1f} s = {smb['rows_per_s']:,.0f} rows/s, {smb['mb_per_s']:.1f} MB/s; "
        f"agent peak RSS {smb['peak_rss_mb']:.0f} MB (cpus: {os.cpu_count()})"
    )
    p50, p99 = percentile(lat, 50), percentile(lat, 99)
    print(
        f"SMB settle-to-first-ack latency beyond settleSeconds ({SETTLE} s), {len(lat)} files of "
        f"{args.small_rows} rows: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
        f"min {min(lat) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms, "
        f"mean {statistics.fmean(lat) * 1000:.0f} ms "
        f"(target p50 <= {LATENCY_TARGET_P50 * 1000:.0f} ms: "
        f"{'met' if p50 <= LATENCY_TARGET_P50 else 'NOT met'})"
    )
    if args.with_local:
        with tempfile.TemporaryDirectory(dir=args.workdir, prefix="edge-agent-bench-") as tmp:
            local = bench_e2e.run_once(Path(tmp), args.rows, target)
        ratio = smb["rows_per_s"] / local["rows_per_s"]
        print(
            f"local end-to-end: {local['rows']:,} rows in {local['seconds']:.1f} s = "
            f"{local['rows_per_s']:,.0f} rows/s; agent peak RSS {local['peak_rss_mb']:.0f} MB"
        )
        print(
            f"SMB / local rows/s: {ratio:.0%} (target >= 50 %: "
            f"{'met' if ratio >= 0.5 else 'NOT met'})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
