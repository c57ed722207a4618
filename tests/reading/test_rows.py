"""The row loop: commits, stops and a full outbox never lose or repeat a row."""

from __future__ import annotations

from pathlib import Path

from edge_agent.state.outbox import Outbox
from tests.reading.support import Reader, csv_rows


def test_a_full_outbox_ends_the_pass_after_a_commit_and_the_next_pass_goes_on(
    tmp_path: Path,
) -> None:
    reader = Reader(tmp_path, outbox_limit=64 * 1024)
    try:
        (reader.folder / "a.csv").write_bytes(csv_rows(20_000))
        outbox = Outbox(reader.db)
        passes = []
        lines: list[int] = []
        while True:
            result = reader.read("a.csv")
            passes.append(result)
            if result.complete:
                break
            # No thread waited for room: the pass ended, paused, with its rows committed.
            assert result.paused
            assert reader.gauge.full
            lines += [line for _version, line, _record in reader.published()]
            seqs = [item.seq for item in outbox.fetch(0, 10_000)]
            _refs, freed, _rows = outbox.acknowledge(seqs)  # the broker acknowledged them
            reader.gauge.remove(freed)
        lines += [line for _version, line, _record in reader.published()]
        assert len(passes) > 2
        assert sum(p.published for p in passes) == 20_000
        assert lines == list(range(2, 20_002))  # each row once, in order
        assert reader.record("a.csv").state == "read"
    finally:
        reader.close()


def test_a_stop_after_any_commit_then_the_rest_publishes_each_row_once(tmp_path: Path) -> None:
    reference = Reader(tmp_path / "ref")
    (reference.folder / "a.csv").write_bytes(csv_rows(5000))
    reference.read("a.csv")
    expected = [(line, r) for _v, line, r in reference.published()]
    commits = reference.commits
    reference.close()
    assert commits >= 3
    for stop_at in range(1, commits):
        reader = Reader(tmp_path / f"stop-{stop_at}")
        (reader.folder / "a.csv").write_bytes(csv_rows(5000))
        assert not reader.read_stopped("a.csv", after_commits=stop_at).complete
        assert reader.read("a.csv").complete
        assert [(line, r) for _v, line, r in reader.published()] == expected, stop_at
        reader.close()
