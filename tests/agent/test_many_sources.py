"""Field scale: many sources, a small outbox and a broker frozen mid-run (issue: with every pool
thread parked waiting for outbox room, acknowledgements never ran and the agent stalled for
good). Every row must arrive, none repeated under another batchId."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.agent.support import (
    assert_each_once,
    outbox_depth,
    records_by_line,
    running_agent,
    until,
    write_rows,
)
from tests.infra.mosquitto import BrokerFactory

pytestmark = [pytest.mark.infra, pytest.mark.slow]

SOURCES = 8
ROWS = 20_000
FROZEN_SECONDS = 10.0


def _config(tmp_path: Path, host: str, port: int, thing: str) -> dict[str, Any]:
    sources = []
    for i in range(SOURCES):
        folder = tmp_path / f"line{i}"
        folder.mkdir()
        sources.append(
            {
                "name": f"line{i}",
                "path": str(folder),
                "settleSeconds": 0.2,
                "rescanSeconds": 2,
                "dataset": "d",
            }
        )
    return {
        "thingName": thing,
        "stateDir": str(tmp_path / "state"),
        "sources": sources,
        "datasets": {"d": {"csv": {"timestampColumn": "ts"}, "topic": "dt/{thingName}/{source}"}},
        "outbox": {"maxBytes": 1024 * 1024},  # a few batches: every source waits for room
        "publish": {
            "mqtt": {"host": host, "port": port, "reconnectMinSeconds": 0.2},
            "maxPublishesPerSecond": None,
            "maxBytesPerSecond": None,
        },
        "health": {"port": None, "heartbeatSeconds": None},
        "logging": {"format": "text"},
    }


@pytest.mark.timeout(240)
async def test_eight_sources_a_full_outbox_and_a_frozen_broker_deliver_every_row_once(
    tmp_path: Path, mosquitto_broker: BrokerFactory, unique_thing: str
) -> None:
    broker = mosquitto_broker()
    config = _config(tmp_path, broker.host, broker.port, unique_thing)
    with broker.subscriber(f"dt/{unique_thing}/#") as sub:
        async with running_agent(config) as agent:
            await until(lambda: agent.publisher.connected, what="connected")
            broker.pause()
            try:
                for i in range(SOURCES):
                    write_rows(tmp_path / f"line{i}" / "big.csv", ROWS)
                # Every source fills the outbox and waits for room (on the event loop).
                await until(
                    lambda: agent._gauge.full,
                    timeout=60,
                    what="outbox full",
                )
                await asyncio.sleep(FROZEN_SECONDS)
            finally:
                broker.resume()
            total = SOURCES * ROWS
            await until(
                lambda: agent.stats.rows_acknowledged >= total, timeout=150, what="all acknowledged"
            )
            await until(lambda: outbox_depth(tmp_path / "state") == 0, what="outbox empty")
        await sub.wait_for_async(
            lambda m: sum(len(v) for v in records_by_line(m).values()) >= total, timeout=30
        )
    by_source: dict[str, list[tuple[str, bytes]]] = {}
    for topic, payload in sub.messages:
        by_source.setdefault(topic.rsplit("/", 1)[-1], []).append((topic, payload))
    assert sorted(by_source) == [f"line{i}" for i in range(SOURCES)]
    for messages in by_source.values():
        assert_each_once(records_by_line(messages), set(range(2, ROWS + 2)))
