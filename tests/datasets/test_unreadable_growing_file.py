"""A growing log that cannot be read with its dataset is quarantined whole once, not at each
growth; rewritten in place, it gets a fresh look."""

from __future__ import annotations

from pathlib import Path

from edge_agent.config.datasets import DatasetConfig
from tests.fuzz.harness import FILE, Pipeline


def test_a_growing_file_quarantined_whole_is_not_quarantined_again_as_it_grows(
    tmp_path: Path,
) -> None:
    dataset = DatasetConfig.model_validate({"csv": {"headerRow": 1}})
    p = Pipeline(tmp_path, dataset, mode="append")
    try:
        path = p.folder / FILE
        path.write_bytes(b"\n1,2\n3,4\n")  # an empty header line: the dataset cannot read it
        first = p.run()
        assert (first.state, first.quarantined) == ("failed", 1)
        with path.open("ab") as f:
            f.write(b"5,6\n7,8\n")
        again = p.run()
        assert (again.state, again.quarantined) == ("failed", 0)
        assert len(p.local_quarantine()) == 1
        path.write_bytes(b"a,b\n1,2\n")  # rewritten in place: a new version, read afresh
        fresh = p.run()
        assert (fresh.published, fresh.quarantined) == (1, 0)
    finally:
        p.close()
