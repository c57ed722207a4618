"""Settling: when a complete file, or a growing log, is handed to a reading pass."""

from __future__ import annotations

from itertools import pairwise

from edge_agent.sources.base import FileInfo
from edge_agent.sources.discovery import Known, Settler


def test_a_growing_log_is_read_at_most_once_per_linger_however_often_it_grows() -> None:
    settler = Settler(5.0, append=True, linger_seconds=1.0, known={})
    size = 100
    handed: list[float] = []
    for tick in range(50):  # a row every 0.1 s for 5 s
        now = tick * 0.1
        size += 40
        settler.observe(FileInfo("log.csv", size, tick), now)
        for info in settler.ready(now):
            handed.append(now)
            settler.done(info.path, Known(info.size, info.mtime_ns, "reading"))
    # The first pass one linger after the first change, then one per linger, not per row.
    assert handed[0] >= 1.0
    assert 3 <= len(handed) <= 5
    assert all(b - a >= 1.0 - 1e-9 for a, b in pairwise(handed))


def test_a_complete_file_waits_until_it_stops_changing() -> None:
    settler = Settler(1.0, append=False, linger_seconds=1.0, known={})
    for tick in range(20):  # still being copied for 2 s
        settler.observe(FileInfo("x.csv", 100 * (tick + 1), tick), tick * 0.1)
        assert settler.ready(tick * 0.1) == []
    assert settler.ready(2.5) == []  # last change at 1.9 s
    assert [i.path for i in settler.ready(2.95)] == ["x.csv"]


def test_without_a_linger_a_growing_log_is_ready_at_once() -> None:
    settler = Settler(5.0, append=True, linger_seconds=0.0, known={})
    settler.observe(FileInfo("log.csv", 10, 1), 0.0)
    assert [i.path for i in settler.ready(0.0)] == ["log.csv"]
