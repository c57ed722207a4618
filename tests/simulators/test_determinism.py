"""Same seed, same bytes; another seed, other bytes; real time writes what batch writes."""

from __future__ import annotations

from pathlib import Path

from .conftest import FACTORY_ARGS, TOWER_ARGS, generate, tree_digest

SHORT_TOWER = [*TOWER_ARGS[:-2], "--days", "1"]  # without --trays: the default 12
SHORT_FACTORY = [*FACTORY_ARGS[:4], "--hours", "3"]


def test_same_seed_same_bytes_and_mtimes(tmp_path: Path, tower_out: Path) -> None:
    again = generate(tmp_path / "again", "tower", *TOWER_ARGS, "--faults", "all")
    assert tree_digest(again, mtimes=True) == tree_digest(tower_out, mtimes=True)


def test_factory_same_seed_same_bytes(tmp_path: Path) -> None:
    one = generate(tmp_path / "one", "factory", *SHORT_FACTORY)
    two = generate(tmp_path / "two", "factory", *SHORT_FACTORY)
    assert tree_digest(one, mtimes=True) == tree_digest(two, mtimes=True)


def test_another_seed_other_bytes(tmp_path: Path) -> None:
    one = generate(tmp_path / "one", "tower", *SHORT_TOWER)
    other = [*SHORT_TOWER]
    other[1] = "8"
    two = generate(tmp_path / "two", "tower", *other)
    assert tree_digest(one) != tree_digest(two)
    assert sorted(p.name for p in one.rglob("*")) != []
    assert one != two


def test_real_time_writes_the_same_bytes_as_batch(tmp_path: Path) -> None:
    batch = generate(tmp_path / "batch", "tower", *SHORT_TOWER)
    fast = generate(tmp_path / "fast", "tower", *SHORT_TOWER, "--speed", "2000000")
    batch_factory = generate(tmp_path / "batch", "factory", *SHORT_FACTORY)
    fast_factory = generate(tmp_path / "fast", "factory", *SHORT_FACTORY, "--speed", "2000000")
    assert batch_factory == batch
    assert fast_factory == fast

    def data_only(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*.csv")}

    assert data_only(fast) == data_only(batch)
    for name in ("tower-rows.jsonl", "factory-rows.jsonl", "tower-cycles.jsonl"):
        assert (fast / "_truth" / name).read_bytes() == (batch / "_truth" / name).read_bytes()
