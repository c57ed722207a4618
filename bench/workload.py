"""The input files of the benchmarks: one big 10-column CSV, small files, a simulated tower site."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HEADER = "ts,sensor,temp_c,humidity_pct,pressure_hpa,flow_m3h,speed_rpm,state,counter,note\n"
DATASET: dict[str, Any] = {"csv": {"timestampColumn": "ts"}}
"""The agent's dataset for these files: every column inferred, ``ts`` the timestamp."""


def write_csv(path: Path, rows: int, target_bytes: int = 0) -> tuple[int, int]:
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


def small_file(index: int, rows: int) -> bytes:
    """A small file of the same layout (the latency probes)."""
    t0 = 1_800_000_000 + index * 10_000
    lines = [HEADER]
    for n in range(rows):
        t = time.gmtime(t0 + n)
        lines.append(
            time.strftime("%Y-%m-%dT%H:%M:%SZ", t)
            + f",S{n % 17},21.50,55.0,1013.2,1.234,{n},RUN,{index * rows + n},ok\n"
        )
    return "".join(lines).encode()


def simulate_site(out: Path, *, days: float, towers: int, seed: int = 1) -> None:
    """``edge-sim tower --days D --towers N --out OUT`` (batch mode: every file at once)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "simulators.cli",
            "tower",
            "--out",
            str(out),
            "--days",
            str(days),
            "--towers",
            str(towers),
            "--seed",
            str(seed),
            "--quiet",
        ],
        check=True,
    )
