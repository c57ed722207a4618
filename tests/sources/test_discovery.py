"""Settling: when a complete file, or a growing log, is handed to a reading pass."""

from __future__ import annotations

from itertools import pairwise

from edge_agent.sources.base import FileInfo
from edge_agent.sources.discovery import Known, Settler


def _new(settler: Settler, info: FileInfo, now: float) -> None:
    """Observe a file the ledger does not know."""
    settler.observe(info, now)
    for path in settler.unknown():
        settler.learn(path, None)


def _ready_paths(settler: Settler, now: float) -> list[str]:
    settler.due(now)
    return [info.path for info in settler.ready(now)]


def test_a_growing_log_is_read_at_most_once_per_linger_however_often_it_grows() -> None:
    settler = Settler(5.0, append=True, linger_seconds=1.0)
    size = 100
    handed: list[float] = []
    for tick in range(50):  # a row every 0.1 s for 5 s
        now = tick * 0.1
        size += 40
        _new(settler, FileInfo("log.csv", size, tick), now)
        settler.due(now)
        for info in settler.ready(now):
            handed.append(now)
            settler.done(info.path, Known(info.size, info.mtime_ns, "reading"))
    # The first pass one linger after the first change, then one per linger, not per row.
    assert handed[0] >= 1.0
    assert 3 <= len(handed) <= 5
    assert all(b - a >= 1.0 - 1e-9 for a, b in pairwise(handed))


def test_a_complete_file_waits_until_it_stops_changing() -> None:
    settler = Settler(1.0, append=False)
    for tick in range(20):  # still being copied for 2 s
        _new(settler, FileInfo("x.csv", 100 * (tick + 1), tick), tick * 0.1)
        assert _ready_paths(settler, tick * 0.1) == []
    assert _ready_paths(settler, 2.5) == []  # last change at 1.9 s
    assert _ready_paths(settler, 2.95) == ["x.csv"]


def test_without_a_linger_a_growing_log_is_ready_at_once() -> None:
    settler = Settler(5.0, append=True, linger_seconds=0.0)
    _new(settler, FileInfo("log.csv", 10, 1), 0.0)
    assert _ready_paths(settler, 0.0) == ["log.csv"]


def test_a_file_the_ledger_read_at_this_size_is_left_alone() -> None:
    settler = Settler(1.0, append=False)
    settler.observe(FileInfo("old.csv", 10, 5), 0.0)
    assert settler.unknown() == ["old.csv"]
    settler.learn("old.csv", Known(10, 5, "read"))
    assert settler.next_deadline() is None
    assert _ready_paths(settler, 100.0) == []
    # ...until it changes, or the ledger asks for it again (reingest, a fixed configuration).
    settler.observe(FileInfo("old.csv", 12, 6), 100.0)
    assert _ready_paths(settler, 101.0) == ["old.csv"]
    settler.done("old.csv", Known(12, 6, "read"))
    settler.ask_again("old.csv")
    assert settler.unknown() == ["old.csv"]
    settler.learn("old.csv", Known(12, 6, "read", again=True))
    assert _ready_paths(settler, 102.5) == ["old.csv"]


def test_a_file_that_changed_while_being_read_is_read_again_once_settled() -> None:
    settler = Settler(1.0, append=False)
    _new(settler, FileInfo("x.csv", 100, 1), 0.0)
    [info] = settler.ready(1.0) if settler.due(1.0) else []
    assert info.size == 100
    settler.observe(FileInfo("x.csv", 150, 2), 1.5)  # grew during the pass
    assert settler.due(5.0) == []  # handed out: not due while busy
    settler.done("x.csv", Known(100, 1, "read"))  # the pass read 100 bytes
    assert _ready_paths(settler, 2.0) == []  # settles from its change at 1.5
    assert _ready_paths(settler, 2.6) == ["x.csv"]


def test_an_interrupted_pass_is_handed_out_again() -> None:
    settler = Settler(0.5, append=False)
    _new(settler, FileInfo("x.csv", 100, 1), 0.0)
    assert _ready_paths(settler, 1.0) == ["x.csv"]
    settler.done("x.csv", Known(100, 1, "reading"))  # stopped halfway
    assert _ready_paths(settler, 1.0) == ["x.csv"]


def test_a_log_with_an_unended_last_line_is_read_once_idle() -> None:
    settler = Settler(5.0, append=True, linger_seconds=0.0, idle_seconds=30.0)
    _new(settler, FileInfo("log.csv", 100, 1), 0.0)
    assert _ready_paths(settler, 0.0) == ["log.csv"]
    assert not settler.is_idle("log.csv", 10.0)
    settler.done("log.csv", Known(100, 1, "reading", tail=True))  # 80 bytes read, 20 wait
    assert _ready_paths(settler, 29.0) == []
    assert settler.next_deadline() == 30.0
    assert _ready_paths(settler, 30.0) == ["log.csv"]
    assert settler.is_idle("log.csv", 30.0)
    settler.done("log.csv", Known(100, 1, "reading", tail=False))
    assert settler.next_deadline() is None


def test_files_are_handed_out_oldest_first_and_the_original_before_its_copy() -> None:
    settler = Settler(0.0, append=False)
    for path, mtime in (("b.csv", 2), ("a - Copy.csv", 1), ("a.csv", 1), ("c.csv", 3)):
        _new(settler, FileInfo(path, 10, mtime), 0.0)
    assert _ready_paths(settler, 0.0) == ["a.csv", "a - Copy.csv", "b.csv", "c.csv"]


def test_a_wake_costs_what_changed_not_what_exists() -> None:
    settler = Settler(1.0, append=False)
    for i in range(20_000):
        settler.observe(FileInfo(f"f{i}.csv", 10, 1), 0.0)
    for path in settler.unknown():
        settler.learn(path, Known(10, 1, "read"))  # a year of files, all read
    _new(settler, FileInfo("new.csv", 10, 2), 5.0)
    assert settler.next_deadline() == 6.0
    assert settler.due(5.5) == []  # nothing due: the heap's top says so
    assert settler.due(6.0) == ["new.csv"]
    assert [i.path for i in settler.ready(6.0)] == ["new.csv"]


def test_a_full_listing_forgets_files_that_are_gone() -> None:
    settler = Settler(1.0, append=False)
    _new(settler, FileInfo("a.csv", 1, 1), 0.0)
    _new(settler, FileInfo("b.csv", 1, 1), 0.0)
    found = settler.reconcile([FileInfo("b.csv", 1, 1), FileInfo("c.csv", 1, 1)], 1.0)
    assert found.gone == ["a.csv"]
    assert found.changed == ["c.csv"]
    assert not settler.present("a.csv")
    assert settler.present("b.csv")
