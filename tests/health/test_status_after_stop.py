"""``edge-agent status`` after the agent stopped: it says so and when the agent last ran, and
does not repeat what the last snapshot said while it ran (publisher connected, sources
watching, the file being read)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from edge_agent.publish.fake import FakePublisher
from edge_agent.state.db import StateDB
from edge_agent.status import collect, render
from tests.agent.support import file_states, running_agent, until, write_rows


def _data(state: Path, pid: int, now: float, lock_holder: int | None) -> dict[str, Any]:
    """What ``collect`` reads from an empty state database, with this snapshot and lock."""
    StateDB(state).close()
    data = collect(state)
    data["lockHolder"] = lock_holder
    data["live"] = {
        "pid": pid,
        "started": now - 3600,
        "updated": now - 120,
        "statusIntervalSeconds": 30,
        "publisherState": "connected",
        "health": {"healthy": True, "problems": []},
        "publishErrors": {"timeout": 2},
        "sources": {
            "line1": {
                "state": "watching",
                "detail": "",
                "filesWaiting": 0,
                "currentFile": "a.csv",
                "lagSeconds": 0,
            }
        },
    }
    return data


def test_a_stopped_agent_is_not_shown_connected_or_watching(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    now = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC

    text = render(_data(tmp_path, gone.pid, now, lock_holder=0), now)

    headline = text.splitlines()[0]
    assert "stopped (last status 2 min ago)" in headline
    assert "last ran from 2027-01-15 07:00:00 to 07:58:00 UTC" in headline
    assert f"pid {gone.pid}" in headline
    assert "publisher connected" not in text and "health: ok" not in text
    assert "watching" not in text and "reading a.csv" not in text
    assert "nothing is read or published until an agent runs again" in text
    assert "publish errors in its last run: timeout 2" in text
    assert re.search(r"^line1\s+stopped\s", text, re.M), text


def test_an_agent_that_let_go_of_its_state_directory_has_stopped_whatever_its_pid(
    tmp_path: Path,
) -> None:
    now = time.time()
    # The PID is alive (it was given to another process, here: this one), but the lock file
    # is empty: the agent that wrote the snapshot released its state directory.
    text = render(_data(tmp_path, os.getpid(), now, lock_holder=0), now)
    assert text.splitlines()[0].split(": ", 1)[1].startswith("stopped")


async def test_status_after_a_clean_stop(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    state = tmp_path / "state"
    config = {
        "thingName": "gw-1",
        "stateDir": str(state),
        "sources": [
            {"name": "line1", "path": str(inbox), "settleSeconds": 0.1, "dataset": "line1"}
        ],
        "datasets": {"line1": {"csv": {"timestampColumn": "ts"}}},
        "publish": {"maxPublishesPerSecond": None, "maxBytesPerSecond": None},
        "health": {"port": None, "heartbeatSeconds": None},
        "statusIntervalSeconds": 0.2,
    }
    async with running_agent(config, publisher=FakePublisher()):
        write_rows(inbox / "a.csv", 20)
        await until(lambda: file_states(state).get("a.csv") == "read")
        await until(lambda: collect(state)["live"] is not None, what="a status snapshot")
        running = collect(state)
        assert running["agent"] == "running"
        assert "publisher connected" in render(running)

    data = collect(state)
    text = render(data)

    assert data["agent"] == "stopped"
    assert json.loads(json.dumps(data))["lockHolder"] == 0
    assert "stopped (last status" in text and "last ran from" in text
    assert "publisher connected" not in text and "watching" not in text


def test_an_agent_that_has_not_written_its_first_status_yet_is_running(tmp_path: Path) -> None:
    # An agent holds its state directory from the start; its first snapshot comes a status
    # interval later.
    data = _data(tmp_path, os.getpid(), time.time(), lock_holder=os.getpid())
    data["live"] = None
    assert (
        render(data)
        .splitlines()[0]
        .endswith(f"running (pid {os.getpid()}, no status written yet; files and outbox below)")
    )
    data["lockHolder"] = 0
    assert render(data).splitlines()[0].endswith("no status written yet")
