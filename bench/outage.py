"""Sixteen sources, a 1 MiB outbox and a broker frozen (SIGSTOP by PID) while every source
gets a big file, then resumed: the time until every row is acknowledged, and a check from what
the subscriber received that every row arrived and none under two batchIds."""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import SETTLE, THING, agent_config, broker, running_agent, subscription, wait_until
from workload import DATASET, small_file, write_csv

from tests.infra.mosquitto import Broker

Figures = dict[str, Any]


@dataclass
class Batches:
    """Every batch the subscriber saw: batchId -> (source, path, first line, last line, rows),
    and how many arrived more than once (a re-send keeps its batchId)."""

    seen: dict[str, tuple[str, str, int, int, int]] = field(default_factory=dict)
    repeats: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_at: float = 0.0

    def add(self, payload: bytes) -> None:
        envelope = json.loads(payload)
        src = envelope["source"]
        entry = (
            src["name"],
            src["path"],
            int(src["firstLine"]),
            int(src["lastLine"]),
            len(envelope["records"]),
        )
        with self.lock:
            self.last_at = time.monotonic()
            if envelope["batchId"] in self.seen:
                self.repeats += 1
            else:
                self.seen[envelope["batchId"]] = entry

    def check(self, expected: dict[tuple[str, str], int]) -> Figures:
        """Rows delivered, missing, and rows carried by two different batchIds, per file
        ``expected`` = rows written (data lines 2 .. rows + 1)."""
        ranges: dict[tuple[str, str], list[tuple[int, int, int]]] = defaultdict(list)
        with self.lock:
            for name, path, first, last, rows in self.seen.values():
                ranges[(name, path)].append((first, last, rows))
        delivered = overlapping = missing = 0
        for key, rows in expected.items():
            covered = 0
            end = 1  # the header line
            for first, last, n in sorted(ranges.get(key, [])):
                delivered += n
                if first <= end:
                    overlapping += end - first + 1
                covered += last - max(first, end + 1) + 1
                end = max(end, last)
            missing += rows - covered
        return {
            "rows_delivered": delivered,
            "rows_missing": missing,
            "rows_under_two_batch_ids": overlapping,
            "batches": len(self.seen),
            "batches_resent_same_id": self.repeats,
        }


@contextlib.contextmanager
def batch_subscriber(server: Broker, topic_filter: str) -> Iterator[Batches]:
    """Subscribe (QoS 1) and decode every envelope."""
    batches = Batches()
    with subscription(server, topic_filter, lambda message: batches.add(message.payload)):
        yield batches


def outage(work: Path, sources: int, rows: int, frozen: float, outbox_bytes: int) -> Figures:
    """The broker frozen ``frozen`` s while each of ``sources`` gets a ``rows``-row file."""
    staging = work / "staging"
    staging.mkdir()
    n_rows, n_bytes = write_csv(staging / "big.csv", rows)
    folders = [work / f"line{i:02d}" for i in range(sources)]
    config_sources = []
    for i, folder in enumerate(folders):
        folder.mkdir()
        shutil.copyfile(staging / "big.csv", staging / f"big-{i:02d}.csv")
        config_sources.append(
            {"name": folder.name, "path": str(folder), "settleSeconds": SETTLE, "dataset": "d"}
        )
    out: Figures = {
        "sources": sources,
        "rows_per_file": n_rows,
        "rows": n_rows * sources,
        "file_bytes": n_bytes,
        "frozen_seconds": frozen,
        "outbox_max_bytes": outbox_bytes,
    }
    with broker(work) as server, batch_subscriber(server, f"dt/edge-agent/{THING}/#") as seen:
        config = agent_config(work, config_sources, {"d": DATASET}, server.port, limits=False)
        config["outbox"]["maxBytes"] = outbox_bytes
        with running_agent(work / "agent", config) as agent:
            (folders[0] / "warmup.csv").write_bytes(small_file(0, 1))
            wait_until("the warm-up file", lambda: agent.state.acknowledged() == 1, 60, agent.dead)
            server.pause()
            t_freeze = time.monotonic()
            try:
                for i, folder in enumerate(folders):
                    (staging / f"big-{i:02d}.csv").rename(folder / "big.csv")
                time.sleep(max(0.0, t_freeze + frozen - time.monotonic()))
            finally:
                server.resume()
            t_resume = time.monotonic()
            out["rows_acknowledged_while_frozen"] = agent.state.acknowledged() - 1
            total = 1 + n_rows * sources
            wait_until(
                "every row acknowledged",
                lambda: agent.state.acknowledged() >= total,
                max(600.0, sources * rows / 1000),
                agent.dead,
                0.02,
            )
            t_done = time.monotonic()
            out["resume_to_all_acked_seconds"] = t_done - t_resume
            out["freeze_to_all_acked_seconds"] = t_done - t_freeze
            out["rows_per_s_after_resume"] = n_rows * sources / (t_done - t_resume)
            out["peak_rss_mb"] = agent.peak_rss_mb()
            wait_until(
                "the subscriber to catch up",
                lambda: time.monotonic() - seen.last_at > 1.0,
                120,
            )
        expected = {(f.name, "big.csv"): n_rows for f in folders}
        expected[(folders[0].name, "warmup.csv")] = 1
        out |= seen.check(expected)
    return out
