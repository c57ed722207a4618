"""The component and the state directory lock: a component process the nucleus restarts while
the previous one still drains waits for it; one that waits too long fails, is reported ERRORED
naming the holder, and starts once the state directory is free."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.greengrass import component as component_module
from tests.agent.support import write_rows
from tests.greengrass.test_component import (
    agent_logs,
    configuration,
    delivered,
    local_source,
    rows,
    running_component,
)
from tests.infra.nucleus import NucleusDouble

pytestmark = pytest.mark.infra

__all__ = ["agent_logs"]  # a fixture this module uses


@pytest.fixture
def previous_process(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process holding ``work/state`` as a draining component process would, until its
    stdin closes."""
    state = tmp_path / "work" / "state"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; "
            "from edge_agent.state.lock import StateDirLock; "
            "StateDirLock(Path(sys.argv[1])).try_acquire(); print('held', flush=True); "
            "sys.stdin.read()",
            str(state),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
    try:
        yield holder
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait()
        for stream in (holder.stdin, holder.stdout):
            if stream is not None:
                stream.close()


def _let_go(holder: subprocess.Popen[bytes]) -> None:
    assert holder.stdin is not None
    holder.stdin.close()
    holder.wait(10)


async def test_a_restarted_component_waits_for_the_previous_process_to_let_go(
    tmp_path: Path,
    nucleus_env: NucleusDouble,
    previous_process: subprocess.Popen[bytes],
    agent_logs: list[logging.LogRecord],
) -> None:
    nucleus = nucleus_env
    inbox = tmp_path / "line1"
    nucleus.configuration = configuration(local_source(inbox, "line1"))
    write_rows(inbox / "a.csv", 50)

    async with running_component(nucleus, tmp_path / "work", wait_running=False) as component:
        await asyncio.sleep(1.5)
        assert not component.running.is_set(), "started while the state directory was held"
        waiting = [r for r in agent_logs if "waiting for it to stop" in r.getMessage()]
        assert waiting and waiting[0].__dict__["pid"] == previous_process.pid
        assert nucleus.published == []

        _let_go(previous_process)
        await nucleus.wait_until(lambda: delivered(nucleus, rows("line1", "a.csv", 50)), 20)
    assert "ERRORED" not in nucleus.states


async def test_a_holder_that_does_not_let_go_is_reported_and_waited_out(
    tmp_path: Path,
    nucleus_env: NucleusDouble,
    previous_process: subprocess.Popen[bytes],
    agent_logs: list[logging.LogRecord],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(component_module, "LOCK_WAIT_MARGIN_SECONDS", 0.5)
    nucleus = nucleus_env
    inbox = tmp_path / "line1"
    config = configuration(local_source(inbox, "line1"))
    config["shutdownTimeoutSeconds"] = 1
    nucleus.configuration = config
    write_rows(inbox / "a.csv", 50)

    async with running_component(nucleus, tmp_path / "work", wait_running=False):
        await nucleus.wait_until(lambda: "ERRORED" in nucleus.states, timeout=20)
        failures = [r for r in agent_logs if r.getMessage().startswith("the agent failed")]
        assert failures, [r.getMessage() for r in agent_logs]
        reason = failures[0].__dict__["error"]
        assert str(tmp_path / "work" / "state") in reason
        assert f"PID {previous_process.pid}" in reason

        _let_go(previous_process)
        await nucleus.wait_until(lambda: delivered(nucleus, rows("line1", "a.csv", 50)), 30)
    assert nucleus.states[-1] == "RUNNING"
