"""The periodic listing is the safety net under the watcher: while it finds nothing the watcher
missed, listings space out (a year of files kept costs little when idle); a watcher that misses
changes keeps them at rescanSeconds, and nothing is lost either way."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from edge_agent.config.load import parse_config
from edge_agent.publish.fake import FakePublisher
from edge_agent.sources.base import ChangeCallback, FileInfo
from edge_agent.sources.local import LocalSource
from tests.agent.support import running_agent, until, write_rows


class CountingSource(LocalSource):
    """A local folder that counts its full listings."""

    scans = 0

    def scan(self) -> list[FileInfo]:
        self.scans += 1
        return super().scan()


class BlindSource(CountingSource):
    """Its watcher runs but never tells anything: every change is missed."""

    def watch(self, notify: ChangeCallback, stop: threading.Event) -> None:
        stop.wait()


def _config(tmp_path: Path) -> dict[str, object]:
    (tmp_path / "in").mkdir()
    return {
        "thingName": "gw",
        "stateDir": str(tmp_path / "state"),
        "sources": [
            {
                "name": "s",
                "path": str(tmp_path / "in"),
                "settleSeconds": 0.05,
                "rescanSeconds": 0.3,
                "dataset": "d",
            }
        ],
        "datasets": {"d": {"csv": {"timestampColumn": "ts"}}},
        "publish": {"maxPublishesPerSecond": None, "maxBytesPerSecond": None},
        "health": {"port": None, "heartbeatSeconds": None},
    }


async def test_listings_space_out_while_the_watcher_misses_nothing(tmp_path: Path) -> None:
    config = parse_config(_config(tmp_path))
    source = CountingSource(config.sources[0])
    publisher = FakePublisher()
    async with running_agent(config, publisher=publisher, sources={"s": source}) as agent:
        write_rows(tmp_path / "in" / "a.csv", 5)
        await until(lambda: agent.stats.rows_acknowledged == 5, what="read")
        start = source.scans
        await asyncio.sleep(6.0)
        idle_scans = source.scans - start
        write_rows(
            tmp_path / "in" / "b.csv", 5, start=5
        )  # the watcher still sees new files at once
        await until(lambda: agent.stats.rows_acknowledged == 10, timeout=2, what="b read")
    # At rescanSeconds (0.3 s) 6 s would be 20 listings; spaced out to 3 s, a handful.
    assert idle_scans <= 8, idle_scans


async def test_a_watcher_that_misses_changes_keeps_listings_frequent(tmp_path: Path) -> None:
    config = parse_config(_config(tmp_path))
    source = BlindSource(config.sources[0])
    publisher = FakePublisher()
    async with running_agent(config, publisher=publisher, sources={"s": source}) as agent:
        for i in range(6):
            write_rows(tmp_path / "in" / f"f{i}.csv", 5, start=5 * i)
            await until(
                lambda i=i: agent.stats.rows_acknowledged == 5 * (i + 1),
                timeout=3,
                what=f"file {i} found by a listing",
            )
            await asyncio.sleep(0.5)
