"""The operator's view of an agent against a real Mosquitto: /metrics, /healthz, the heartbeat,
progress lines, a taken port, and ``edge-agent status`` for a live and a stopped agent."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import socket
import sqlite3
import urllib.error
from pathlib import Path

import pytest

from tests.agent.support import (
    AgentProcess,
    agent_config,
    outbox_depth,
    records_by_line,
    running_agent,
    until,
    write_config,
    write_rows,
)
from tests.health.support import edge_agent_status, get, health_port, healthz, scrape
from tests.infra.mosquitto import Broker, BrokerFactory

pytestmark = pytest.mark.infra

STRICT_V0 = {"columns": {"v0": {"type": "float", "required": True}}}


def _append_bad_rows(csv: Path) -> None:
    with csv.open("a") as f:
        f.write("2026-11-27T01:00:00Z,oops,1,2\n")  # v0 is not a number
        f.write("2026-11-27T01:00:00Z,,1,2\n")  # v0 required


async def test_metrics_count_what_was_published_and_quarantined(
    tmp_path: Path, mosquitto: Broker, unique_thing: str
) -> None:
    config = agent_config(
        tmp_path,
        mosquitto,
        thing=unique_thing,
        dataset=STRICT_V0,
        health={"port": 0, "heartbeatSeconds": None},
    )
    csv = tmp_path / "in" / "batch.csv"
    with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
        async with running_agent(config) as agent:
            port = await health_port(agent)
            write_rows(csv, 5000)
            _append_bad_rows(csv)
            messages = await sub.wait_for_async(
                lambda m: (
                    len(records_by_line(m)) >= 5000
                    and len(records_by_line(m, quarantine=True)) >= 2
                ),
                timeout=30,
            )
            await until(lambda: agent.stats.rows_acknowledged >= 5002, what="acknowledged")
            await until(lambda: outbox_depth(tmp_path / "state") == 0, what="outbox empty")
            text, samples = scrape(port)
            status, verdict = healthz(port)
    with pytest.raises(urllib.error.URLError):  # stopped with the agent: the port is free
        get(port, "/healthz")

    published = sum(len(copies) for copies in records_by_line(messages).values())
    quarantined = len(records_by_line(messages, quarantine=True))
    assert (published, quarantined) == (5000, 2)
    source = (("source", "line1"),)
    assert samples[("edge_agent_rows_queued_total", source)] == published
    assert samples[("edge_agent_rows_quarantined_total", source)] == quarantined
    assert samples[("edge_agent_rows_read_total", source)] == published + quarantined
    assert samples[("edge_agent_rows_published_total", ())] == published + quarantined
    assert samples[("edge_agent_batches_published_total", ())] == len(messages)
    assert samples[("edge_agent_ledger_rows_acknowledged_total", ())] == published + quarantined
    assert samples[("edge_agent_outbox_batches", ())] == 0
    assert samples[("edge_agent_outbox_oldest_age_seconds", ())] == 0
    assert samples[("edge_agent_files", (("source", "line1"), ("state", "read")))] == 1
    assert samples[("edge_agent_files_seen", source)] == 1
    assert samples[("edge_agent_source_state", (("source", "line1"), ("state", "watching")))] == 1
    assert samples[("edge_agent_source_state", (("source", "line1"), ("state", "paused")))] == 0
    assert samples[("edge_agent_publisher_connected", ())] == 1
    assert samples[("edge_agent_healthy", ())] == 1
    assert "# HELP edge_agent_source_lag_seconds" in text
    assert (status, verdict) == (200, {"healthy": True, "problems": []})


async def test_healthz_turns_503_when_the_broker_goes_and_200_when_it_is_back(
    tmp_path: Path, mosquitto_broker: BrokerFactory, unique_thing: str
) -> None:
    broker = mosquitto_broker()
    config = agent_config(
        tmp_path,
        broker,
        thing=unique_thing,
        health={"port": 0, "heartbeatSeconds": 3600, "unhealthyAfterSeconds": 0.5},
    )
    with broker.subscriber(f"dt/edge-agent/{unique_thing}/status") as sub:
        async with running_agent(config) as agent:
            port = await health_port(agent)
            connected = ("edge_agent_publisher_connected", ())
            await until(lambda: scrape(port)[1][connected] == 1, what="connected")
            assert healthz(port)[0] == 200
            heartbeat = agent.health.heartbeat
            assert heartbeat is not None
            limiter = agent.dispatcher.limiter if agent.dispatcher else None
            assert limiter is not None
            assert await heartbeat.beat(limiter)
            await sub.wait_for_async(1)

            broker.stop()
            await until(lambda: healthz(port)[0] == 503, what="503 once the broker is gone")
            status, verdict = healthz(port)
            assert status == 503 and verdict["healthy"] is False
            assert any("disconnected" in p for p in verdict["problems"]), verdict
            assert scrape(port)[1][("edge_agent_healthy", ())] == 0
            # Disconnected: the heartbeat is skipped, not queued for later.
            assert not await heartbeat.beat(limiter)
            assert outbox_depth(tmp_path / "state") == 0

            broker.start()
            await until(lambda: healthz(port)[0] == 200, timeout=15, what="healthy again")


async def test_healthz_names_a_source_that_stays_unreadable(
    tmp_path: Path, mosquitto: Broker, unique_thing: str
) -> None:
    config = agent_config(
        tmp_path,
        mosquitto,
        thing=unique_thing,
        source={"path": str(tmp_path / "not-there")},
        health={"port": 0, "heartbeatSeconds": None, "unhealthyAfterSeconds": 0.5},
    )
    async with running_agent(config) as agent:
        port = await health_port(agent)

        def source_problem() -> bool:
            status, verdict = healthz(port)
            problems = verdict["problems"]
            return status == 503 and any(p.startswith("source line1 unavailable") for p in problems)

        await until(source_problem, what="503 naming the missing folder")


async def test_heartbeat_carries_the_counters_and_status_reads_a_running_agent(
    tmp_path: Path, mosquitto: Broker, unique_thing: str
) -> None:
    config = agent_config(
        tmp_path,
        mosquitto,
        thing=unique_thing,
        dataset=STRICT_V0,
        health={"port": None, "heartbeatSeconds": 0.3},
        statusIntervalSeconds=0.2,
    )

    def caught_up(messages: list[tuple[str, bytes]]) -> bool:
        for _, payload in messages:
            beat = json.loads(payload)
            source = beat["sources"].get("line1", {})
            if beat["rowsPublished"] == 302 and beat["outbox"]["batches"] == 0:
                return bool(source.get("rowsQueued") == 300)
        return False

    with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/status") as sub:
        async with running_agent(config):
            write_rows(tmp_path / "in" / "a.csv", 300)
            _append_bad_rows(tmp_path / "in" / "a.csv")
            messages = await sub.wait_for_async(caught_up, timeout=20)
            table = await asyncio.to_thread(
                edge_agent_status, "--state-dir", str(tmp_path / "state")
            )
    beat = next(json.loads(p) for _, p in messages if json.loads(p)["rowsPublished"] == 302)
    assert beat["thingName"] == unique_thing and beat["kind"] == "heartbeat"
    assert beat["publisher"] == "connected" and beat["health"]["healthy"] is True
    line1 = beat["sources"]["line1"]
    assert (line1["rowsQuarantined"], line1["state"], line1["outboxBatches"]) == (2, "watching", 0)
    assert "running (pid" in table, table
    assert re.search(r"^line1\s+watching\s+1 read\s", table, re.M), table


async def test_a_taken_port_is_a_warning_and_data_still_flows(
    tmp_path: Path, mosquitto: Broker, unique_thing: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="edge_agent.health")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = agent_config(
            tmp_path, mosquitto, thing=unique_thing, health={"port": port, "heartbeatSeconds": None}
        )
        with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
            async with running_agent(config) as agent:
                write_rows(tmp_path / "in" / "a.csv", 100)
                await sub.wait_for_async(lambda m: len(records_by_line(m)) >= 100, timeout=15)
                assert agent.health.server is not None and agent.health.server.port is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f":{port}" in w and "health.port" in w for w in warnings), warnings


async def test_progress_lines_while_a_large_file_is_read(
    tmp_path: Path, mosquitto: Broker, unique_thing: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edge_agent.progress")
    config = agent_config(
        tmp_path,
        mosquitto,
        thing=unique_thing,
        health={"port": None, "heartbeatSeconds": None, "progressSeconds": 0.2},
    )
    big = tmp_path / "big.csv"
    write_rows(big, 150_000)
    async with running_agent(config) as agent:
        big.rename(tmp_path / "in" / "big.csv")
        status = agent.stats.source("line1")
        await until(lambda: status.rows_published == 150_000, timeout=60, what="file read")
    lines = [r.getMessage() for r in caplog.records if r.name == "edge_agent.progress"]
    pattern = r"^source line1: file big\.csv \d+% \([\d.]+ [KMG]?B/[\d.]+ MB\), [\d,]+ rows/s, ETA "
    assert lines and all(re.match(pattern, line) for line in lines), lines


async def test_status_of_a_stopped_agent_shows_sources_files_and_outbox(
    tmp_path: Path, mosquitto_broker: BrokerFactory, unique_thing: str
) -> None:
    broker = mosquitto_broker(start=False)  # nothing is acknowledged: the outbox keeps it all
    config = agent_config(
        tmp_path, broker, thing=unique_thing, dataset=STRICT_V0, shutdownTimeoutSeconds=1
    )
    csv = tmp_path / "in" / "a.csv"
    write_rows(csv, 400)
    _append_bad_rows(csv)
    process = AgentProcess(write_config(tmp_path, config), tmp_path / "agent.log")
    state = tmp_path / "state"
    process.start()
    try:

        def queued() -> bool:
            if not (state / "edge-agent.db").exists():
                return False
            try:
                return outbox_depth(state) >= 2
            except sqlite3.OperationalError:  # the agent is still creating the database
                return False

        await until(queued, what="batches queued")
        process.signal(signal.SIGTERM)
        assert process.wait(30) == 0, (tmp_path / "agent.log").read_text()
    finally:
        process.stop()
    batches = outbox_depth(state)
    table = edge_agent_status("--state-dir", str(state))
    assert "stopped (last status" in table, table
    assert re.search(
        rf"^line1\s+\S+\s+1 read\s+0\s+0 s\s+{batches}\s+\d+ s\s+400\s+2\s+0$", table, re.M
    ), table
    assert f"outbox: {batches} batches, 402 rows" in table, table
    data = json.loads(edge_agent_status("--state-dir", str(state), "--json"))
    assert data["outbox"]["batches"] == batches
    assert data["sources"]["line1"]["files"] == {"read": 1}
