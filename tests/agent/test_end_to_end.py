"""The whole pipeline against a real Mosquitto: folder -> records -> outbox -> MQTT."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from edge_agent.config.load import parse_config
from edge_agent.state.db import StateDB
from edge_agent.state.outbox import Outbox
from tests.agent.support import (
    AgentProcess,
    agent_config,
    assert_each_once,
    file_states,
    outbox_depth,
    records_by_line,
    running_agent,
    until,
    write_config,
    write_rows,
)
from tests.infra.mosquitto import Broker, BrokerFactory

pytestmark = pytest.mark.infra


async def test_file_to_mqtt_over_mutual_tls_with_quarantine(
    tmp_path: Path, mosquitto: Broker
) -> None:
    thing = mosquitto.thing_name
    config = agent_config(
        tmp_path,
        mosquitto,
        thing=thing,
        tls=True,
        dataset={
            "topic": f"dt/edge-agent/{{thingName}}/{tmp_path.name}/{{dataset}}",
            "columns": {"v0": {"type": "float", "required": True}},
        },
    )
    csv = tmp_path / "in" / "batch.csv"
    with mosquitto.subscriber(f"dt/edge-agent/{thing}/{tmp_path.name}/#") as sub:
        async with running_agent(config) as agent:
            write_rows(csv, 3000)
            with csv.open("a") as f:
                f.write("2026-11-27T01:00:00Z,oops,1,2\n")  # line 3002: v0 is not a number
                f.write("not-a-time,1,2,3\n")  # line 3003
                f.write("2026-11-27T01:00:00Z,,1,2\n")  # line 3004: v0 required
                f.write("2026-11-27T01:00:00Z,1,2\n")  # line 3005: a field short
            await sub.wait_for_async(
                lambda m: (
                    len(records_by_line(m)) >= 3000
                    and len(records_by_line(m, quarantine=True)) >= 4
                ),
                timeout=30,
            )
            await until(lambda: outbox_depth(tmp_path / "state") == 0, what="outbox drained")
            # The counter follows the deletion a moment later (same event loop, after a thread).
            await until(lambda: agent.stats.rows_acknowledged >= 3004, what="acknowledged")
            assert agent.stats.rows_acknowledged == 3004
        data = records_by_line(sub.messages)
        assert_each_once(data, set(range(2, 3002)))
        quarantined = records_by_line(sub.messages, quarantine=True)
        assert sorted(quarantined) == [3002, 3003, 3004, 3005]
        assert "v0" in quarantined[3002][0]["reason"] and "oops" in quarantined[3002][0]["raw"]
        assert "timestamp" in quarantined[3003][0]["reason"]
        assert "required" in quarantined[3004][0]["reason"]
        assert "fields" in quarantined[3005][0]["reason"]
        first = data[2][0]
        assert first["ts"] == "2026-09-21T14:13:20Z" and first["v0"] == 0.0
        for _, payload in sub.messages:
            assert len(payload) <= 131072
            envelope = json.loads(payload)
            assert envelope["thingName"] == thing and envelope["source"]["path"] == "batch.csv"
    local = (tmp_path / "state" / "quarantine" / "line1.jsonl").read_text().splitlines()
    assert [json.loads(x)["line"] for x in local] == [3002, 3003, 3004, 3005]


async def test_growing_log_appended_in_three_steps(
    tmp_path: Path, mosquitto: Broker, unique_thing: str
) -> None:
    config = agent_config(tmp_path, mosquitto, thing=unique_thing, source={"mode": "append"})
    log = tmp_path / "in" / "log.csv"
    with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
        async with running_agent(config):
            write_rows(log, 10)
            await sub.wait_for_async(lambda m: len(records_by_line(m)) >= 10)
            write_rows(log, 10, start=10, header=False)
            with log.open("a") as f:
                f.write("2026-11-27T01:00:00Z,1.5,")  # half a line: not yet
            await sub.wait_for_async(lambda m: len(records_by_line(m)) >= 20)
            with log.open("a") as f:
                f.write("2.5,3.5\n")
            write_rows(log, 5, start=21, header=False)
            await sub.wait_for_async(lambda m: len(records_by_line(m)) >= 26)
            await until(lambda: outbox_depth(tmp_path / "state") == 0)
        by_line = records_by_line(sub.messages)
        assert_each_once(by_line, set(range(2, 28)))
        assert by_line[22][0]["v1"] == 2.5


async def test_broker_down_during_ingestion_loses_nothing(
    tmp_path: Path, mosquitto_broker: BrokerFactory, unique_thing: str
) -> None:
    broker = mosquitto_broker()
    config = agent_config(tmp_path, broker, thing=unique_thing)
    # Reconnect no sooner than 2 s after a drop, so the test's subscriber is back first.
    config["publish"]["mqtt"].update(reconnectMinSeconds=2, reconnectMaxSeconds=3)
    async with running_agent(config) as agent:
        await until(lambda: getattr(agent.publisher, "connected", False), what="connected")
        broker.stop()
        write_rows(tmp_path / "in" / "a.csv", 5000)
        write_rows(tmp_path / "in" / "b.csv", 100)
        await until(
            lambda: file_states(tmp_path / "state") == {"a.csv": "read", "b.csv": "read"},
            what="both files read into the outbox",
        )
        assert outbox_depth(tmp_path / "state") > 0
        broker.start()
        with broker.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
            # Subscribed after the restart: what is still in the outbox must arrive now.
            await until(lambda: outbox_depth(tmp_path / "state") == 0, timeout=30, what="drained")
            await sub.wait_for_async(lambda m: _rows(m) >= 5100)
            await until(lambda: agent.stats.rows_acknowledged >= 5100, what="acknowledged")
        assert agent.stats.rows_acknowledged == 5100
        assert _rows(sub.messages) == 5100


def _rows(messages: list[tuple[str, bytes]]) -> int:
    return sum(len(json.loads(payload)["records"]) for _, payload in messages)


async def test_publish_denied_by_acl_stays_in_outbox(tmp_path: Path, mosquitto: Broker) -> None:
    config = agent_config(
        tmp_path,
        mosquitto,
        thing=mosquitto.thing_name,
        tls=True,
        dataset={"topic": "dt/edge-agent/other-thing/{dataset}"},
        publish={"retryRejectedSeconds": 3600},
    )
    async with running_agent(config) as agent:
        write_rows(tmp_path / "in" / "a.csv", 5)
        await until(lambda: agent.stats.publish_errors.get("rejected:135", 0) >= 1, what="refusal")
        assert outbox_depth(tmp_path / "state") == 1
        db = StateDB(tmp_path / "state")
        try:
            [row] = db.query("SELECT attempts, last_error FROM outbox")
            assert row["attempts"] >= 1
            assert "135" in row["last_error"] or "authori" in row["last_error"].lower()
            assert Outbox(db).depth().rows == 5
        finally:
            db.close()


async def test_identical_headers_and_rewritten_file(
    tmp_path: Path, mosquitto: Broker, unique_thing: str
) -> None:
    config = agent_config(tmp_path, mosquitto, thing=unique_thing)
    inbox = tmp_path / "in"
    with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
        async with running_agent(config):
            write_rows(inbox / "a.csv", 3)
            write_rows(inbox / "b.csv", 3, start=50)  # the same header line, other rows
            await sub.wait_for_async(2)
            (inbox / "a.csv").unlink()
            write_rows(inbox / "a.csv", 2, start=100)  # rewritten in place, shorter
            await sub.wait_for_async(3)
        envelopes = sub.payloads_json()
    by_path: dict[str, list[dict[str, object]]] = {}
    for env in envelopes:
        by_path.setdefault(env["source"]["path"], []).append(env)
    assert [len(e["records"]) for e in by_path["b.csv"]] == [3]
    versions = [(e["source"]["version"], len(e["records"])) for e in by_path["a.csv"]]
    assert versions == [(1, 3), (2, 2)]


@pytest.mark.parametrize("action", ["move", "delete"])
async def test_disposition_after_acknowledgement(
    tmp_path: Path, mosquitto: Broker, unique_thing: str, action: str
) -> None:
    source = {"afterIngest": action}
    if action == "move":
        source["moveTo"] = str(tmp_path / "archive")
    config = agent_config(tmp_path, mosquitto, thing=unique_thing, source=source)
    async with running_agent(config):
        write_rows(tmp_path / "in" / "x.csv", 20)
        await until(lambda: file_states(tmp_path / "state").get("x.csv") == "disposed", what=action)
    assert not (tmp_path / "in" / "x.csv").exists()
    if action == "move":
        assert (tmp_path / "archive" / "x.csv").read_text().count("\n") == 21


async def test_mqtt_311(tmp_path: Path, mosquitto: Broker, unique_thing: str) -> None:
    config = agent_config(tmp_path, mosquitto, thing=unique_thing)
    config["publish"]["mqtt"]["protocol"] = "3.1.1"
    with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
        async with running_agent(parse_config(config)):
            write_rows(tmp_path / "in" / "a.csv", 50)
            await sub.wait_for_async(lambda m: len(records_by_line(m)) >= 50)
            await until(lambda: outbox_depth(tmp_path / "state") == 0)


# ---------------------------------------------------------------------- as a process


def _big(tmp_path: Path, rows: int) -> Path:
    staging = tmp_path / "big.csv"
    write_rows(staging, rows, cols=8)
    return staging


def test_sigkill_mid_file_then_restart_resends_same_batches(
    tmp_path: Path, mosquitto: Broker, unique_thing: str
) -> None:
    rows = 150_000
    config = agent_config(tmp_path, mosquitto, thing=unique_thing)
    path = write_config(tmp_path, config)
    staging = _big(tmp_path, rows)
    agent = AgentProcess(path, tmp_path / "agent.log")
    with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
        try:
            agent.start()
            staging.rename(tmp_path / "in" / "big.csv")
            sub.wait_for(lambda m: len(m) >= 20, timeout=60)
            agent.signal(signal.SIGKILL)
            agent.wait(10)
            killed_at = len(records_by_line(sub.messages))
            assert killed_at < rows, "the kill came too late to test anything"
            agent.start()
            sub.wait_for(lambda m: len(records_by_line(m)) >= rows, timeout=120)
        finally:
            agent.stop()
        assert_each_once(records_by_line(sub.messages), set(range(2, rows + 2)))


def test_sigterm_during_large_file_stops_cleanly_and_resumes(
    tmp_path: Path, mosquitto: Broker, unique_thing: str
) -> None:
    rows = 150_000
    config = agent_config(tmp_path, mosquitto, thing=unique_thing, shutdownTimeoutSeconds=5)
    path = write_config(tmp_path, config)
    staging = _big(tmp_path, rows)
    agent = AgentProcess(path, tmp_path / "agent.log")
    with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
        try:
            agent.start()
            staging.rename(tmp_path / "in" / "big.csv")
            sub.wait_for(lambda m: len(m) >= 10, timeout=60)
            agent.signal(signal.SIGTERM)
            assert agent.wait(8) == 0, (tmp_path / "agent.log").read_text()[-3000:]
            states = file_states(tmp_path / "state")
            assert states["big.csv"] in ("reading", "read")
            agent.start()
            sub.wait_for(lambda m: len(records_by_line(m)) >= rows, timeout=120)
        finally:
            agent.stop()
        assert_each_once(records_by_line(sub.messages), set(range(2, rows + 2)))
    assert "stopping" in (tmp_path / "agent.log").read_text()


async def test_copy_of_a_file_under_another_name_is_skipped(
    tmp_path: Path, mosquitto: Broker, unique_thing: str
) -> None:
    config = agent_config(tmp_path, mosquitto, thing=unique_thing)
    inbox = tmp_path / "in"
    with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
        async with running_agent(config):
            write_rows(inbox / "a.csv", 30)
            await until(lambda: file_states(tmp_path / "state").get("a.csv") == "read")
            (inbox / "a - Copy.csv").write_bytes((inbox / "a.csv").read_bytes())
            write_rows(inbox / "b.csv", 30, start=1)  # same header, other rows: not a copy
            await until(
                lambda: (
                    file_states(tmp_path / "state").get("a - Copy.csv") == "duplicate"
                    and file_states(tmp_path / "state").get("b.csv") == "read"
                ),
                what="copy skipped, other file read",
            )
            await until(lambda: outbox_depth(tmp_path / "state") == 0)
            await sub.wait_for_async(2)
    paths = [env["source"]["path"] for env in sub.payloads_json()]
    assert sorted(paths) == ["a.csv", "b.csv"]


async def test_a_log_whose_last_line_has_no_line_end_is_read_once_idle(
    tmp_path: Path, mosquitto: Broker, unique_thing: str
) -> None:
    config = agent_config(
        tmp_path,
        mosquitto,
        thing=unique_thing,
        source={"mode": "append", "lingerSeconds": 0.1, "idleSeconds": 1},
    )
    log = tmp_path / "in" / "log.csv"
    with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
        async with running_agent(config):
            # A writer that starts each row with its line end: the last row never has one.
            log.write_text("ts,v0\n2026-11-27T01:00:00Z,1.5\n2026-11-27T01:00:01Z,2.5")
            await sub.wait_for_async(lambda m: len(records_by_line(m)) >= 2, timeout=10)
            with log.open("a") as f:
                f.write("\n2026-11-27T01:00:02Z,3.5\n2026-11-27T01:00:03Z,4.5")
            await sub.wait_for_async(lambda m: len(records_by_line(m)) >= 4, timeout=10)
            await until(lambda: outbox_depth(tmp_path / "state") == 0)
        by_line = records_by_line(sub.messages)
        assert_each_once(by_line, {2, 3, 4, 5})  # physical lines, though line 3 ended late
        assert [by_line[n][0]["v0"] for n in (2, 3, 4, 5)] == [1.5, 2.5, 3.5, 4.5]
        assert not records_by_line(sub.messages, quarantine=True)
