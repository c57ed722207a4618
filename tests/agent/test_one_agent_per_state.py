"""One agent per state directory: a second ``edge-agent run`` on the same stateDir is refused
at once, naming the directory and the PID that holds it, while the first goes on publishing
every row once; the read-only commands work beside the running agent."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.agent.support import (
    AgentProcess,
    agent_config,
    records_by_line,
    write_config,
    write_rows,
)
from tests.cli import edge_agent
from tests.infra.mosquitto import Broker, Message

pytestmark = pytest.mark.infra


def _data_rows(messages: list[Message]) -> int:
    return sum(
        len(json.loads(payload)["records"])
        for topic, payload in messages
        if not topic.endswith("/quarantine")
    )


def test_a_second_agent_on_the_same_state_dir_is_refused_and_the_first_goes_on(
    tmp_path: Path, mosquitto: Broker, unique_thing: str
) -> None:
    config = agent_config(tmp_path, mosquitto, thing=unique_thing, statusIntervalSeconds=1)
    config["datasets"]["line1"]["columns"] = {"v0": {"type": "float"}}
    path = write_config(tmp_path, config)
    state_dir = tmp_path / "state"
    inbox = tmp_path / "in"
    first = AgentProcess(path, tmp_path / "first.log")
    second = AgentProcess(path, tmp_path / "second.log")
    with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
        try:
            first.start()
            write_rows(inbox / "a.csv", 40)
            sub.wait_for(lambda m: _data_rows(m) >= 40, timeout=30)

            began = time.monotonic()
            second.start()
            code = second.wait(15)
            refused_after = time.monotonic() - began
            log = (tmp_path / "second.log").read_text()
            assert code != 0, log
            assert refused_after < 10, f"refused only after {refused_after:.1f} s"
            assert first.proc is not None
            [line] = [text for text in log.splitlines() if "in use" in text]
            assert str(state_dir) in line and f"PID {first.proc.pid}" in line, line
            assert "edge-agent started" not in log

            # The read-only commands work beside the running agent.
            deadline = time.monotonic() + 15
            while True:  # the running agent writes its status snapshot every second
                status = edge_agent("status", "--state-dir", str(state_dir), "--json")
                assert status.returncode == 0, status.stderr
                live = json.loads(status.stdout)["live"]
                if live is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert live is not None and live["pid"] == first.proc.pid
            (inbox / "b.csv").write_text(
                "ts,v0\n2026-01-01T00:00:00Z,abc\n2026-01-01T00:00:01Z,2.5\n", encoding="utf-8"
            )
            sub.wait_for(lambda m: len(records_by_line(m, quarantine=True)) >= 1, timeout=30)
            listed = edge_agent("quarantine", "--config", str(path))
            assert listed.returncode == 0, listed.stderr
            assert "2026-01-01T00:00:00Z,abc" in listed.stdout

            # The first agent still publishes, and nothing went out twice.
            write_rows(inbox / "c.csv", 30, start=100)
            sub.wait_for(lambda m: _data_rows(m) >= 40 + 1 + 30, timeout=30)
            first.signal(signal.SIGTERM)
            assert first.wait(20) == 0
        finally:
            second.stop()
            first.stop()
    batch_ids = [json.loads(payload)["batchId"] for _, payload in sub.messages]
    assert len(batch_ids) == len(set(batch_ids)), "a batch was published twice"
    rows: dict[tuple[str, int], int] = {}
    for topic, payload in sub.messages:
        if topic.endswith("/quarantine"):
            continue
        envelope = json.loads(payload)
        for record in envelope["records"]:
            key = (envelope["source"]["path"], record["line"])
            rows[key] = rows.get(key, 0) + 1
    expected = {("a.csv", line) for line in range(2, 42)}
    expected |= {("b.csv", 3)} | {("c.csv", line) for line in range(2, 32)}
    assert set(rows) == expected
    assert set(rows.values()) == {1}, "a row was published twice"
