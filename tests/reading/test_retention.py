"""The ledger over years: rows of files long gone are forgotten, a present file never is."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from edge_agent.reading.retention import SourceLedger, SweepResult
from edge_agent.state.db import StateDB
from edge_agent.state.ledger import Batch, FileAdvance, Ledger
from edge_agent.state.outbox import OutboxGauge
from edge_agent.state.writer import OutboxWriter

DAY = 86_400.0


class Holding:
    def __init__(self) -> None:
        self.held: set[int] = set()

    def files_with_pending_work(self, file_refs: Iterable[int]) -> set[int]:
        return self.held & set(file_refs)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[SourceLedger, OutboxWriter, Holding]]:
    db = StateDB(tmp_path)
    writer = OutboxWriter(db, OutboxGauge(0, 1 << 30), state_dir=tmp_path, min_free_disk_bytes=0)
    holding = Holding()
    yield SourceLedger(writer.ledger, "s", "fp", holding, forget_after=30 * DAY), writer, holding
    db.close()


def _sweep(
    index: SourceLedger, present: set[str], now: float, *, there: frozenset[str] = frozenset()
) -> SweepResult:
    """A sweep after a listing showing ``present``; ``there``: files the listing missed that
    a stat still finds."""
    return index.sweep(present, now, lambda path: path in there)


def _read(writer: OutboxWriter, path: str, *, batch: bool = False) -> int:
    record = writer.ledger.create("s", path)
    batches = [(Batch(f"b-{path}", "t", b"{}", 1), record.id)] if batch else []
    writer.commit(
        batches,
        advance=(record.id, FileAdvance(offset=9, next_line=3, state="read", size=9, mtime_ns=1)),
    )
    return record.id


def test_rows_of_files_gone_for_long_are_forgotten_present_ones_never(
    setup: tuple[SourceLedger, OutboxWriter, Holding],
) -> None:
    index, writer, _holding = setup
    for name in ("kept.csv", "gone.csv", "back.csv"):
        _read(writer, name)
    first = _sweep(index, {"kept.csv"}, 0.0)
    assert (first.marked_gone, first.forgotten) == (2, 0)
    second = index.sweep({"kept.csv", "back.csv"}, now=10 * DAY, still_there=lambda _p: False)
    assert (second.back, second.forgotten) == (1, 0)
    third = _sweep(index, {"kept.csv", "back.csv"}, 31 * DAY)
    assert third.forgotten == 1
    ledger = writer.ledger
    assert ledger.get("s", "gone.csv") is None
    assert ledger.get("s", "kept.csv") is not None
    assert ledger.get("s", "back.csv") is not None
    # A year later, still present: never forgotten, so never read again as new.
    assert _sweep(index, {"kept.csv", "back.csv"}, 400 * DAY).forgotten == 0
    known = index.known(["kept.csv", "new.csv"])
    assert known["new.csv"] is None
    assert known["kept.csv"] is not None
    assert known["kept.csv"].state == "read"


def test_a_file_a_listing_missed_is_not_forgotten_while_a_stat_finds_it(
    setup: tuple[SourceLedger, OutboxWriter, Holding],
) -> None:
    index, writer, _holding = setup
    _read(writer, "private/a.csv")  # in a folder the agent may no longer list
    _sweep(index, set(), 0.0)
    assert _sweep(index, set(), 100 * DAY, there=frozenset({"private/a.csv"})).forgotten == 0
    assert writer.ledger.get("s", "private/a.csv") is not None


def test_rows_with_batches_in_the_outbox_or_records_held_stay(
    setup: tuple[SourceLedger, OutboxWriter, Holding],
) -> None:
    index, writer, holding = setup
    _read(writer, "unsent.csv", batch=True)
    held = _read(writer, "held.csv")
    holding.held.add(held)
    _sweep(index, set(), 0.0)
    assert _sweep(index, set(), 100 * DAY).forgotten == 0
    holding.held.clear()
    assert _sweep(index, set(), 100 * DAY).forgotten == 1  # held.csv; unsent.csv waits
    assert writer.ledger.get("s", "unsent.csv") is not None


def test_a_disposed_file_counts_as_gone_from_its_disposal(
    setup: tuple[SourceLedger, OutboxWriter, Holding],
) -> None:
    index, writer, _holding = setup
    ref = _read(writer, "moved.csv")
    Ledger(writer.db).mark_disposed(ref, "/archive/moved.csv")
    assert _sweep(index, set(), 1e12).forgotten == 1


def test_reingest_marks_files_to_read_again(
    setup: tuple[SourceLedger, OutboxWriter, Holding],
) -> None:
    index, writer, _holding = setup
    _read(writer, "a.csv")
    marked = writer.ledger.request_reread("s", ["a.csv", "unknown.csv"])
    assert marked == ["a.csv"]
    assert index.to_read_again() == ["a.csv"]
    known = index.known(["a.csv"])["a.csv"]
    assert known is not None
    assert known.again
