"""Deciding what a pass does with a file: resume, new version, copy, failed before, empty."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reading.support import Reader, csv_rows


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[Reader]:
    r = Reader(tmp_path)
    yield r
    r.close()


def test_a_file_replaced_in_place_after_a_kill_in_its_first_pass_is_a_new_version(
    reader: Reader,
) -> None:
    path = reader.folder / "a.csv"
    path.write_bytes(csv_rows(3000))
    reader.read_killed("a.csv", after_commits=1)  # killed right after a commit mid-file
    committed = reader.record("a.csv")
    assert 0 < committed.offset < path.stat().st_size
    # Rewritten in place with other rows of the same shape (same header, same length).
    path.write_bytes(csv_rows(3000, value="w"))
    second = reader.read("a.csv")
    assert second.complete
    record = reader.record("a.csv")
    assert record.version == 2
    rows = reader.published()
    new = [(line, r["tag"]) for version, line, r in rows if version == 2]
    assert new == [(i + 2, f"w{i}") for i in range(3000)]  # read again from the start
    old = [r["tag"] for version, _line, r in rows if version == 1]
    assert old and all(tag.startswith("v") for tag in old)


def test_a_file_that_grew_is_resumed_where_its_rows_stop(reader: Reader) -> None:
    path = reader.folder / "a.csv"
    path.write_bytes(csv_rows(10))
    assert reader.read("a.csv").published == 10
    path.write_bytes(csv_rows(10) + csv_rows(5, start=10)[len(b"ts,x,tag\n") :])
    again = reader.read("a.csv")
    assert again.published == 5
    assert reader.record("a.csv").version == 1
    assert [line for _v, line, _r in reader.published()] == list(range(2, 17))


def test_a_file_cut_shorter_is_a_new_version(reader: Reader) -> None:
    path = reader.folder / "a.csv"
    path.write_bytes(csv_rows(10))
    reader.read("a.csv")
    path.write_bytes(csv_rows(4))
    assert reader.read("a.csv").published == 4
    assert reader.record("a.csv").version == 2


def test_a_copy_of_a_file_already_read_is_skipped(reader: Reader) -> None:
    (reader.folder / "a.csv").write_bytes(csv_rows(10))
    reader.read("a.csv")
    (reader.folder / "a - Copy.csv").write_bytes(csv_rows(10))
    result = reader.read("a - Copy.csv")
    assert (result.state, result.published) == ("duplicate", 0)
    assert "a.csv" in (result.note or "")


def test_an_empty_complete_file_is_recorded_as_read(reader: Reader) -> None:
    (reader.folder / "e.csv").write_bytes(b"")
    result = reader.read("e.csv")
    assert (result.state, result.complete, result.note) == ("read", True, "empty file")


def test_a_file_that_failed_whole_is_not_quarantined_again_when_it_grows(
    reader: Reader,
) -> None:
    path = reader.folder / "bad.csv"
    path.write_bytes(b"no,timestamp,here\n1,2,3\n")
    assert reader.read("bad.csv").state == "failed"
    path.write_bytes(b"no,timestamp,here\n1,2,3\n4,5,6\n")
    again = reader.read("bad.csv")
    assert (again.state, again.quarantined) == ("failed", 0)
    assert reader.record("bad.csv").version == 1


def test_identity_probes_are_recorded_with_every_commit(reader: Reader) -> None:
    (reader.folder / "a.csv").write_bytes(csv_rows(3000))
    reader.read_killed("a.csv", after_commits=1)
    record = reader.record("a.csv")
    assert record.head_hash is not None
    assert record.tail_end == record.offset
