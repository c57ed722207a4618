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


@pytest.fixture
def log_reader(tmp_path: Path) -> Iterator[Reader]:
    r = Reader(tmp_path / "logs", mode="append", include=["*.log*"])
    yield r
    r.close()


def _rows_of(reader: Reader) -> list[tuple[str, int, str]]:
    """(path, line, tag) of every published record."""
    import orjson  # noqa: PLC0415

    found = []
    for row in reader.db.query("SELECT topic, payload FROM outbox ORDER BY seq"):
        envelope = orjson.loads(row["payload"])
        found += [(envelope["source"]["path"], r["line"], r["tag"]) for r in envelope["records"]]
    return found


@pytest.mark.parametrize("renamed_first", [True, False])
def test_a_log_rotated_by_rename_is_read_on_under_its_new_name(
    log_reader: Reader, renamed_first: bool
) -> None:
    log = log_reader.folder / "app.log"
    log.write_bytes(csv_rows(3000))
    log_reader.read("app.log")
    more = csv_rows(20, start=3000)[len(b"ts,x,tag\n") :]
    with log.open("ab") as f:
        f.write(more)  # written before the rotation, not read yet
    log.rename(log_reader.folder / "app.log.1")
    log.write_bytes(csv_rows(5, value="n"))  # the new log
    order = ["app.log.1", "app.log"] if renamed_first else ["app.log", "app.log.1"]
    for name in order:
        log_reader.read(name)
    rows = _rows_of(log_reader)
    old = [(line, tag) for path, line, tag in rows if tag.startswith("v")]
    # Each old row once: 3000 before the rotation, then the 20 after it under the new name.
    assert old == [(i + 2, f"v{i}") for i in range(3020)]
    assert [path for path, _line, tag in rows if tag.startswith("v")][-20:] == ["app.log.1"] * 20
    assert [(path, line) for path, line, tag in rows if tag.startswith("n")] == [
        ("app.log", i + 2) for i in range(5)
    ]
    renamed = log_reader.record("app.log.1")
    assert renamed.state == "reading"
    assert renamed.version == 1


def test_a_copy_of_a_log_still_being_written_is_not_taken_for_a_rename(log_reader: Reader) -> None:
    log = log_reader.folder / "app.log"
    log.write_bytes(csv_rows(3000))
    log_reader.read("app.log")
    (log_reader.folder / "app.log.bak").write_bytes(log.read_bytes())
    log_reader.read("app.log.bak")
    assert log_reader.record("app.log").path == "app.log"
    assert log_reader.record("app.log.bak").file_id != log_reader.record("app.log").file_id
