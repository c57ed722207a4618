"""Apply the file operations of one or more simulators in simulated-time order.

Without a :class:`Pacer` the whole period is written at once and every file gets the simulated
time of its last write as modification time. With one, each operation waits for its moment in
accelerated real time (``speed`` simulated seconds per wall second) and files get their natural
modification times; a stop event (Ctrl-C, SIGTERM, the demo stopping) or ``duration`` ends the run
cleanly: open files are closed and the ground truth written so far is flushed.
"""

from __future__ import annotations

import heapq
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from simulators.ops import FileOp, Json, Steps
from simulators.sinks import Sink

TRUTH_FOLDER = "_truth"


class TruthWriter:
    """Writes ground-truth records as JSON lines to ``_truth/<stream>.jsonl`` through the sink."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._buffers: dict[str, list[str]] = {}
        self.counts: Counter[str] = Counter()

    def start(self, name: str, run: Json, streams: Iterable[str]) -> None:
        """Write ``_truth/<name>-run.json`` and empty the stream files of a previous run."""
        text = json.dumps(run, indent=2, ensure_ascii=False) + "\n"
        self._sink.write(f"{TRUTH_FOLDER}/{name}-run.json", text.encode())
        for stream in streams:
            self._sink.write(f"{TRUTH_FOLDER}/{stream}.jsonl", b"")

    def add(self, stream: str, record: Json) -> None:
        """Queue one record; it is written at the next :meth:`flush`."""
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        self._buffers.setdefault(stream, []).append(line + "\n")
        self.counts[stream] += 1

    def flush(self) -> None:
        """Append every queued record to its file."""
        for stream, lines in self._buffers.items():
            if lines:
                self._sink.append(f"{TRUTH_FOLDER}/{stream}.jsonl", "".join(lines).encode())
                lines.clear()

    def close(self) -> None:
        """Flush and close the truth files."""
        self.flush()
        for stream in self._buffers:
            self._sink.close(f"{TRUTH_FOLDER}/{stream}.jsonl")


class Pacer:
    """Maps simulated time to wall time: ``speed`` simulated seconds per wall second."""

    def __init__(
        self,
        speed: float,
        sim_start: datetime,
        stop: threading.Event,
        duration: float | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self.sim_start = sim_start
        self.stop = stop
        self._mono0 = time.monotonic()
        self._wall0 = time.time()
        self._deadline = None if duration is None else self._mono0 + duration

    def delay(self, at: datetime) -> float:
        """Wall seconds until simulated time ``at`` (negative if past)."""
        target = self._mono0 + (at - self.sim_start).total_seconds() / self.speed
        return target - time.monotonic()

    def wait_until(self, at: datetime) -> bool:
        """Sleep until ``at``; False if the run must stop instead (stop event or duration)."""
        delay = self.delay(at)
        if self._deadline is not None:
            remaining = self._deadline - time.monotonic()
            if remaining <= delay:
                self.stop.wait(max(remaining, 0))
                return False
        if delay > 0:
            return not self.stop.wait(delay)
        return not self.stop.is_set()

    def wall_time(self, at: datetime) -> datetime:
        """The wall-clock time at which simulated time ``at`` happens in this run."""
        seconds = self._wall0 + (at - self.sim_start).total_seconds() / self.speed
        return datetime.fromtimestamp(seconds, UTC)


@dataclass
class PlayStats:
    """What a run did."""

    ops: int = 0
    files: set[str] = field(default_factory=set)
    stopped: bool = False
    last_at: datetime | None = None
    truth: Counter[str] = field(default_factory=Counter)


class _Applier:
    """Applies operations to a sink; in batch mode also sets simulated modification times."""

    def __init__(self, sink: Sink, truth: TruthWriter, pacer: Pacer | None) -> None:
        self.sink = sink
        self.truth = truth
        self.pacer = pacer
        self.appended: dict[str, datetime] = {}
        self.stats = PlayStats()

    def apply(self, op: FileOp) -> None:
        batch = self.pacer is None
        if op.kind == "write":
            self.sink.write(op.path, op.data)
            if batch:
                self.sink.set_mtime(op.path, op.at)
        elif op.kind == "append":
            self.sink.append(op.path, op.data)
            self.appended[op.path] = op.at
        elif op.kind == "close":
            self._close(op.path)
        elif op.kind == "rename":
            self.sink.rename(op.path, op.target)
            self.stats.files.discard(op.path)
            if op.path in self.appended:
                self.appended[op.target] = self.appended.pop(op.path)
        elif op.kind == "mtime":
            when = op.when or op.at
            self.sink.set_mtime(op.path, when if self.pacer is None else self.pacer.wall_time(when))
        for stream, record in op.truth:
            self.truth.add(stream, record)
        if op.kind in ("write", "append"):
            self.stats.files.add(op.path)
        elif op.kind == "rename":
            self.stats.files.add(op.target)
        self.stats.ops += 1
        self.stats.last_at = op.at

    def _close(self, path: str) -> None:
        self.sink.close(path)
        last = self.appended.pop(path, None)
        if self.pacer is None and last is not None:
            self.sink.set_mtime(path, last)

    def finish(self) -> None:
        for path in list(self.appended):
            self._close(path)
        self.truth.close()
        self.stats.truth = Counter(self.truth.counts)


def play(
    streams: Sequence[Steps],
    sink: Sink,
    truth: TruthWriter,
    *,
    pacer: Pacer | None = None,
) -> PlayStats:
    """Run the simulators' steps to the end (or until the pacer says stop) through ``sink``."""
    applier = _Applier(sink, truth, pacer)
    pending: list[tuple[datetime, int, FileOp]] = []
    fronts: list[tuple[datetime, int]] = []
    order = itertools.count()
    iterators = list(streams)

    def pull(index: int) -> None:
        step = next(iterators[index], None)
        if step is None:
            return
        horizon, ops = step
        for op in ops:
            heapq.heappush(pending, (op.at, next(order), op))
        heapq.heappush(fronts, (horizon, index))

    try:
        for index in range(len(iterators)):
            pull(index)
        while pending or fronts:
            due = fronts[0][0] if fronts else None
            while pending and (due is None or pending[0][0] < due):
                at, _, op = heapq.heappop(pending)
                if pacer is not None:
                    if pacer.delay(at) > 0:
                        truth.flush()
                    if not pacer.wait_until(at):
                        applier.stats.stopped = True
                        return applier.stats
                applier.apply(op)
            if fronts:
                pull(heapq.heappop(fronts)[1])
        return applier.stats
    finally:
        applier.finish()
        sink.close_all()
