"""After a fix: a file that failed whole is read again by itself once its dataset's configuration
changed; ``edge-agent reingest`` does it on demand, on a stopped agent too."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest

from tests.agent.support import (
    agent_config,
    file_states,
    outbox_depth,
    records_by_line,
    running_agent,
    until,
    write_config,
    write_rows,
)
from tests.infra.mosquitto import Broker

pytestmark = pytest.mark.infra


async def test_a_file_quarantined_whole_is_published_after_the_fix_and_a_restart(
    tmp_path: Path, mosquitto: Broker, unique_thing: str
) -> None:
    wrong = agent_config(tmp_path, mosquitto, thing=unique_thing)
    wrong["datasets"]["line1"]["csv"]["timestampColumn"] = "time"  # the file says "ts"
    state = tmp_path / "state"
    with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
        async with running_agent(wrong):
            write_rows(tmp_path / "in" / "a.csv", 50)
            await until(lambda: file_states(state) == {"a.csv": "failed"}, what="failed")
            await until(lambda: outbox_depth(state) == 0, what="quarantine entry sent")
        whole = [
            e for lines in records_by_line(sub.messages, quarantine=True).values() for e in lines
        ]
        assert "timestampColumn" in whole[0]["reason"] or "time" in whole[0]["reason"]
        fixed = copy.deepcopy(wrong)
        fixed["datasets"]["line1"]["csv"]["timestampColumn"] = "ts"
        async with running_agent(fixed):  # restarted with the fix; nobody runs a command
            await until(lambda: len(records_by_line(sub.messages)) >= 50, what="published")
            await until(lambda: outbox_depth(state) == 0, what="drained")
    data = records_by_line(sub.messages)
    assert sorted(data) == list(range(2, 52))
    assert all(len(copies) == 1 for copies in data.values())
    assert file_states(state) == {"a.csv": "read"}


async def test_reingest_on_a_stopped_agent_reads_a_file_again_as_a_new_version(
    tmp_path: Path, mosquitto: Broker, unique_thing: str
) -> None:
    config = agent_config(tmp_path, mosquitto, thing=unique_thing)
    config_path = write_config(tmp_path, config)
    state = tmp_path / "state"
    with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
        async with running_agent(config):
            write_rows(tmp_path / "in" / "a.csv", 20)
            write_rows(tmp_path / "in" / "b.csv", 5)
            await until(lambda: len(records_by_line(sub.messages)) >= 20, what="published")
            await until(lambda: outbox_depth(state) == 0, what="drained")
        done = _cli(
            "reingest",
            "--config",
            str(config_path),
            "--source",
            "line1",
            str(tmp_path / "in" / "a.csv"),
        )
        assert done.returncode == 0, done.stderr
        assert "line1: a.csv" in done.stdout
        async with running_agent(config):
            await until(lambda: _versions(sub.messages, "a.csv") == {1, 2}, what="version 2")
            await until(lambda: outbox_depth(state) == 0, what="drained")
    assert _versions(sub.messages, "b.csv") == {1}
    none = _cli("reingest", "--config", str(config_path), "--source", "line1", "--failed")
    assert none.returncode == 1
    assert "nothing to do" in none.stderr


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``edge-agent ARGS`` in a child process (a blocking call: the agent is stopped)."""
    command = [sys.executable, "-m", "edge_agent", *args]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _versions(messages: list[tuple[str, bytes]], path: str) -> set[int]:
    import json  # noqa: PLC0415

    found = set()
    for topic, payload in messages:
        if topic.endswith("/quarantine"):
            continue
        envelope = json.loads(payload)
        if envelope["source"]["path"] == path:
            found.add(envelope["source"]["version"])
    return found
