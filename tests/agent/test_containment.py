"""Failure containment: a loop that fails is shown and started again; the agent and the other
sources go on, and nothing is lost."""

from __future__ import annotations

import json
from pathlib import Path

from edge_agent.config.load import parse_config
from edge_agent.publish.fake import FakePublisher
from edge_agent.sources.base import FileInfo
from edge_agent.sources.local import LocalSource
from tests.agent.support import running_agent, until, write_rows


class BuggySource(LocalSource):
    """A source whose listing fails with a bug-like error a few times."""

    failures = 2

    def scan(self) -> list[FileInfo]:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("a bug in the listing")
        return super().scan()


def _config(tmp_path: Path) -> dict[str, object]:
    sources = []
    for name in ("good", "bad"):
        (tmp_path / name).mkdir()
        sources.append(
            {
                "name": name,
                "path": str(tmp_path / name),
                "settleSeconds": 0.1,
                "rescanSeconds": 0.5,
                "dataset": "d",
            }
        )
    return {
        "thingName": "gw",
        "stateDir": str(tmp_path / "state"),
        "sources": sources,
        "datasets": {"d": {"csv": {"timestampColumn": "ts"}}},
        "publish": {"maxPublishesPerSecond": None, "maxBytesPerSecond": None},
        "health": {"port": None, "heartbeatSeconds": None},
    }


def _rows(publisher: FakePublisher, source: str) -> int:
    return sum(
        len(envelope["records"])
        for envelope in (json.loads(p) for _t, p in publisher.published)
        if envelope["source"]["name"] == source
    )


async def test_a_failing_source_loop_is_restarted_and_the_others_go_on(tmp_path: Path) -> None:
    config = parse_config(_config(tmp_path))
    bad = BuggySource(config.source("bad"))
    publisher = FakePublisher()
    write_rows(tmp_path / "good" / "a.csv", 30)
    write_rows(tmp_path / "bad" / "b.csv", 20)
    async with running_agent(config, publisher=publisher, sources={"bad": bad}) as agent:
        await until(lambda: _rows(publisher, "good") == 30, what="the good source read")
        component = agent.stats.component("source bad (discover)")
        await until(lambda: component.failures >= 1, what="the failure seen")
        assert "RuntimeError: a bug in the listing" in component.error
        snapshot = agent.stats.snapshot()
        assert snapshot["components"]["source bad (discover)"]["failures"] >= 1
        await until(lambda: _rows(publisher, "bad") == 20, timeout=30, what="bad read after all")
        assert component.state == "running"
