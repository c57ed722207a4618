"""Progress lines while a large file is read: "source X: file Y 43% (1.2 GB/2.8 GB), 118,000
rows/s, ETA 14 s", every ``progressSeconds``, and only for a pass that lasts longer than that.

The reading thread calls ``FileIngestor.on_progress`` after every commit; the callback made by
``ProgressTracker.callback`` hands it to the event loop, where the counters of the source are
updated and the line is logged when due. Nothing here blocks the reading thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from edge_agent.stats import SourceStatus

log = logging.getLogger("edge_agent.progress")

ProgressCallback = Callable[[str, int, int, int], None]


@dataclass(slots=True)
class _Pass:
    """The pass of one file, from its first commit on."""

    path: str
    started: float
    start_offset: int
    offset: int
    rows: int
    last_at: float
    logged_at: float


def human_bytes(n: float) -> str:
    """1.2 GB, 340 MB, 12 KB (decimal units, as file managers show sizes)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def human_seconds(seconds: float) -> str:
    """14 s, 3 min 20 s, 2 h 5 min."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


class ProgressTracker:
    """Counts what reading passes commit and logs progress lines for long passes."""

    def __init__(self, every_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_seconds = every_seconds
        self._clock = clock
        self._passes: dict[str, _Pass] = {}

    def callback(self, loop: asyncio.AbstractEventLoop, status: SourceStatus) -> ProgressCallback:
        """The ``on_progress`` of one source's ingestor (called from its reading thread)."""

        def on_progress(path: str, offset: int, size: int, rows: int) -> None:
            loop.call_soon_threadsafe(self.update, status, path, offset, size, rows)

        return on_progress

    def update(self, status: SourceStatus, path: str, offset: int, size: int, rows: int) -> None:
        """One commit of a pass (on the event loop)."""
        source, now = status.name, self._clock()
        status.rows_read += rows
        current = self._passes.get(source)
        if (
            current is None
            or current.path != path
            or offset < current.offset
            or now - current.last_at > self.every_seconds
        ):
            # A new pass (or one that stood still): rates are measured from this commit on.
            self._passes[source] = _Pass(path, now, offset, offset, 0, now, now)
            return
        current.offset = offset
        current.rows += rows
        current.last_at = now
        due = now - current.logged_at >= self.every_seconds
        if due and now - current.started >= self.every_seconds:
            current.logged_at = now
            extra = {"source": source, "path": path, "offset": offset, "size": size}
            log.info(self.line(source, current, size, now), extra=extra)

    def line(self, source: str, current: _Pass, size: int, now: float) -> str:
        """The progress line of a pass."""
        elapsed = max(now - current.started, 1e-9)
        rows_rate = current.rows / elapsed
        byte_rate = (current.offset - current.start_offset) / elapsed
        percent = 100.0 * current.offset / size if size else 100.0
        eta = human_seconds((size - current.offset) / byte_rate) if byte_rate > 0 else "unknown"
        return (
            f"source {source}: file {current.path} {percent:.0f}% "
            f"({human_bytes(current.offset)}/{human_bytes(size)}), "
            f"{rows_rate:,.0f} rows/s, ETA {eta}"
        )
