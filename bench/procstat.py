"""What a process costs, read from /proc: CPU time (user + system, all threads), resident set,
and the least-squares slope of a series (the soak's "is it flat?")."""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of the process so far (every thread), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the ")" that ends the command name: state is field 3, utime 14 and stime 15.
    return (int(fields[11]) + int(fields[12])) / TICKS


def status_mb(pid: int, key: str) -> float:
    """A size line of /proc/PID/status (VmRSS, VmHWM, ...) in MB; NaN once it is gone."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb(pid: int) -> float:
    return status_mb(pid, "VmRSS")


@dataclass(frozen=True)
class CpuWindow:
    """CPU used by a process over a stretch of wall time."""

    seconds: float
    cpu_seconds: float

    @property
    def share_of_core(self) -> float:
        return self.cpu_seconds / self.seconds if self.seconds else float("nan")


def measure_cpu(pid: int, seconds: float) -> CpuWindow:
    """CPU the process uses over the next ``seconds`` of wall time."""
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    c1, t1 = cpu_seconds(pid), time.monotonic()
    return CpuWindow(t1 - t0, c1 - c0)


def wait_quiet(
    pid: int, *, share: float = 0.05, window: float = 2.0, timeout: float = 600
) -> float:
    """Wait until the process used less than ``share`` of a core over ``window`` seconds (its
    start-up is over); returns how long that took."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if measure_cpu(pid, window).share_of_core < share:
            break
    return time.monotonic() - t0


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs (NaN with fewer than two distinct xs)."""
    n = len(xs)
    if n < 2:
        return float("nan")
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return float("nan")
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def mean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else float("nan")
