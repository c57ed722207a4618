"""Disposal: a file is moved or deleted only once every batch of it is acknowledged and no stage
holds records of it; a changed file, or a source that cannot be reached, waits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent.config.load import parse_config
from edge_agent.disposal import Disposer
from edge_agent.errors import SourceUnavailableError
from edge_agent.sources.base import FileInfo
from edge_agent.sources.local import LocalSource
from edge_agent.state.db import StateDB
from edge_agent.state.ledger import Batch, FileAdvance, Ledger
from edge_agent.state.outbox import Outbox, OutboxGauge
from edge_agent.state.writer import OutboxWriter
from edge_agent.stats import AgentStats
from tests.agent.support import until


class Holding:
    """A stage that still holds records of some files."""

    def __init__(self) -> None:
        self.held: set[int] = set()

    def files_with_pending_work(self, file_refs: Iterable[int]) -> set[int]:
        return self.held & set(file_refs)


class FlakySource(LocalSource):
    """A local folder whose share can go away."""

    down = False

    def stat(self, path: str) -> FileInfo | None:
        if self.down:
            raise SourceUnavailableError(self.name, "share went away")
        return super().stat(path)


class Site:
    def __init__(self, root: Path, after_ingest: str = "move") -> None:
        self.folder = root / "in"
        self.folder.mkdir(parents=True)
        self.state = root / "state"
        extra: dict[str, Any] = {"moveTo": str(root / "done")} if after_ingest == "move" else {}
        self.config = parse_config(
            {
                "thingName": "gw",
                "stateDir": str(self.state),
                "sources": [
                    {
                        "name": "s",
                        "path": str(self.folder),
                        "dataset": "d",
                        "afterIngest": after_ingest,
                        "rescanSeconds": 0.2,
                        **extra,
                    }
                ],
                "datasets": {"d": {}},
            }
        )
        self.db = StateDB(self.state)
        self.ledger = Ledger(self.db)
        self.writer = OutboxWriter(
            self.db, OutboxGauge(0, 1 << 30), state_dir=self.state, min_free_disk_bytes=0
        )
        self.source = FlakySource(self.config.sources[0])
        self.pending = Holding()
        self.stats = AgentStats()
        self.disposer = Disposer(
            self.config, {"s": self.source}, Ledger(StateDB(self.state)), self.stats, self.pending
        )

    def read_file(self, name: str, *, batches: int = 1) -> int:
        """A file wholly read, with ``batches`` batches in the outbox; returns its ledger id."""
        path = self.folder / name
        path.write_bytes(b"ts,v\n1,2\n")
        stat = path.stat()
        record = self.ledger.create("s", name)
        self.writer.commit(
            [(Batch(f"{name}-{i}", "t", b"{}", 1), record.id) for i in range(batches)],
            advance=(
                record.id,
                FileAdvance(
                    offset=stat.st_size,
                    next_line=3,
                    state="read",
                    size=stat.st_size,
                    mtime_ns=stat.st_mtime_ns,
                    published=1,
                    batches=batches,
                ),
            ),
        )
        return record.id

    def acknowledge_all(self) -> set[int]:
        outbox = Outbox(self.db)
        refs, _freed, _rows = outbox.acknowledge([i.seq for i in outbox.fetch(0, 1000)])
        return refs

    def state_of(self, name: str) -> str:
        record = self.ledger.get("s", name)
        assert record is not None
        return record.state


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    s = Site(tmp_path)
    yield s
    s.db.close()


async def test_a_file_is_moved_only_after_its_last_batch_is_acknowledged(site: Site) -> None:
    site.read_file("a.csv", batches=2)
    task = asyncio.create_task(site.disposer.run())
    try:
        await asyncio.sleep(0.5)  # a sweep or two
        assert (site.folder / "a.csv").exists()
        assert site.state_of("a.csv") == "read"
        site.disposer.acknowledged(site.acknowledge_all())
        await until(lambda: site.state_of("a.csv") == "disposed")
        assert not (site.folder / "a.csv").exists()
        assert (site.folder.parent / "done" / "a.csv").exists()
        assert site.stats.files_disposed == 1
    finally:
        site.disposer.stop()
        await task


async def test_a_file_whose_records_a_stage_holds_waits_for_them(site: Site) -> None:
    ref = site.read_file("held.csv", batches=0)
    site.pending.held.add(ref)
    task = asyncio.create_task(site.disposer.run())
    try:
        await asyncio.sleep(0.5)
        assert site.state_of("held.csv") == "read"
        site.pending.held.clear()
        await until(lambda: site.state_of("held.csv") == "disposed")  # the next sweep
    finally:
        site.disposer.stop()
        await task


async def test_a_file_changed_since_it_was_read_stays(site: Site) -> None:
    site.read_file("grown.csv", batches=0)
    with (site.folder / "grown.csv").open("ab") as f:
        f.write(b"3,4\n")
    task = asyncio.create_task(site.disposer.run())
    try:
        await asyncio.sleep(0.5)
        assert site.state_of("grown.csv") == "read"
        assert (site.folder / "grown.csv").exists()
    finally:
        site.disposer.stop()
        await task


async def test_a_source_down_is_said_once_and_its_files_wait(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("a.csv", "b.csv", "c.csv"):
        site.read_file(name, batches=0)
    site.source.down = True
    task = asyncio.create_task(site.disposer.run())
    try:

        def warnings() -> int:
            return sum("could not dispose" in r.getMessage() for r in caplog.records)

        with caplog.at_level(logging.WARNING, logger="edge_agent.agent"):
            # The share may have done it and lost the answer: looked at again for a few
            # seconds before the warning; then further sweeps stay quiet.
            await until(lambda: warnings() == 1, timeout=10)
            await asyncio.sleep(1.0)
        assert warnings() == 1
        assert all(site.state_of(n) == "read" for n in ("a.csv", "b.csv", "c.csv"))
        site.source.down = False
        await until(lambda: all(site.state_of(n) == "disposed" for n in ("a.csv", "b.csv")))
    finally:
        site.disposer.stop()
        await task


async def test_delete_removes_the_file_and_records_it(tmp_path: Path) -> None:
    site = Site(tmp_path, after_ingest="delete")
    try:
        site.read_file("d.csv", batches=0)
        task = asyncio.create_task(site.disposer.run())
        await until(lambda: site.state_of("d.csv") == "disposed")
        assert not (site.folder / "d.csv").exists()
        site.disposer.stop()
        await task
    finally:
        site.db.close()
