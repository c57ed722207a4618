"""A full outbox pauses reading with a clear status; nothing is dropped, and reading resumes."""

from __future__ import annotations

from pathlib import Path

from edge_agent.publish.fake import FakePublisher
from tests.agent.support import outbox_bytes, running_agent, until, write_rows


async def test_full_outbox_pauses_reading_and_resumes(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    config = {
        "thingName": "gw-1",
        "stateDir": str(tmp_path / "state"),
        "sources": [
            {"name": "line1", "path": str(inbox), "settleSeconds": 0.1, "dataset": "line1"}
        ],
        "datasets": {"line1": {"csv": {"timestampColumn": "ts"}}},
        "publish": {"maxPublishesPerSecond": None, "maxBytesPerSecond": None},
        "outbox": {"maxBytes": 1024 * 1024, "minFreeDiskBytes": 0},
    }
    publisher = FakePublisher()
    publisher.hold_acks()  # the "broker" acknowledges nothing for now
    rows = 40_000  # about 3 MB of records: three times the outbox
    async with running_agent(config, publisher=publisher) as agent:
        write_rows(inbox / "big.csv", rows)
        status = agent.stats.source("line1")
        await until(lambda: status.state == "paused", what="reading paused")
        assert "outbox full" in status.detail
        # Bounded: the limit plus at most one commit group (four batches and a quarantine one).
        assert outbox_bytes(tmp_path / "state") <= 1024 * 1024 + 5 * 131072
        publisher.release_acks()
        await until(
            lambda: sum(len(p["records"]) for p in publisher.payloads_json()) >= rows,
            timeout=60,
            what="every row published",
        )
        await until(lambda: status.state == "watching", what="reading resumed")
    lines = [r["line"] for p in publisher.payloads_json() for r in p["records"]]
    assert sorted(lines) == list(range(2, rows + 2))
