"""Helpers for end-to-end tests: configurations, an agent in-process or as a child process,
and checks of what a subscriber received against the rows of the files."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import yaml

from edge_agent.agent import Agent
from edge_agent.config.load import parse_config
from edge_agent.config.models import AgentConfig
from tests.infra.mosquitto import Broker, Message


def agent_config(
    tmp_path: Path,
    broker: Broker,
    *,
    thing: str,
    tls: bool = False,
    source: dict[str, Any] | None = None,
    dataset: dict[str, Any] | None = None,
    publish: dict[str, Any] | None = None,
    **top: Any,
) -> dict[str, Any]:
    """A configuration mapping for one local source watched in ``tmp_path / 'in'``."""
    inbox = tmp_path / "in"
    inbox.mkdir(exist_ok=True)
    mqtt: dict[str, Any] = {"host": broker.host, "port": broker.port, "protocol": 5}
    if tls:
        mqtt.update(
            port=broker.tls_port,
            host="localhost",
            tls={
                "ca": str(broker.ca_path),
                "cert": str(broker.cert_path),
                "key": str(broker.key_path),
            },
        )
    config: dict[str, Any] = {
        "thingName": thing,
        "stateDir": str(tmp_path / "state"),
        "sources": [
            {
                "name": "line1",
                "path": str(inbox),
                "settleSeconds": 0.3,
                "rescanSeconds": 2,
                "dataset": "line1",
                **(source or {}),
            }
        ],
        "datasets": {"line1": {"csv": {"timestampColumn": "ts"}, **(dataset or {})}},
        "publish": {
            "mqtt": {**mqtt, "reconnectMinSeconds": 0.2, "reconnectMaxSeconds": 1},
            "maxPublishesPerSecond": None,
            "maxBytesPerSecond": None,
            **(publish or {}),
        },
        "shutdownTimeoutSeconds": 10,
        "logging": {"format": "text", "level": "INFO"},
        # No fixed port shared between agents, no heartbeat among a test's messages.
        "health": {"port": None, "heartbeatSeconds": None},
        **top,
    }
    return config


def write_config(tmp_path: Path, config: dict[str, Any]) -> Path:
    """Write a configuration as YAML and return its path."""
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def write_rows(
    path: Path, rows: int, *, start: int = 0, header: bool = True, cols: int = 3
) -> None:
    """A CSV with a ``ts`` column and ``cols`` value columns; row i has value i in column v0."""
    with path.open("a", encoding="utf-8", newline="") as f:
        if header:
            f.write("ts," + ",".join(f"v{c}" for c in range(cols)) + "\n")
        for i in range(start, start + rows):
            ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_790_000_000 + i))
            f.write(ts + "," + ",".join(str(i * (c + 1) + 0.5 * c) for c in range(cols)) + "\n")


@contextlib.asynccontextmanager
async def running_agent(
    config: dict[str, Any] | AgentConfig, **kwargs: Any
) -> AsyncIterator[Agent]:
    """Run an agent in this event loop; stop it cleanly at the end."""
    parsed = config if isinstance(config, AgentConfig) else parse_config(config)
    agent = Agent(parsed, **kwargs)
    task = asyncio.create_task(agent.run())
    started = asyncio.create_task(agent.started.wait())
    done, _ = await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        started.cancel()
        task.result()  # raises the start-up error
    try:
        yield agent
    finally:
        agent.request_stop()
        await asyncio.wait_for(task, 30)


def records_by_line(
    messages: list[Message], *, quarantine: bool = False
) -> dict[int, list[dict[str, Any]]]:
    """Records (or quarantine entries) received, by line, with their batch id attached."""
    out: dict[int, list[dict[str, Any]]] = {}
    for topic, payload in messages:
        if topic.endswith("/quarantine") != quarantine:
            continue
        envelope = json.loads(payload)
        for record in envelope["records"]:
            out.setdefault(record["line"], []).append({**record, "_batch": envelope["batchId"]})
    return out


def assert_each_once(by_line: dict[int, list[dict[str, Any]]], expected_lines: set[int]) -> None:
    """Every expected line arrived; repeats only inside a re-sent batch with the same id."""
    missing = expected_lines - set(by_line)
    assert not missing, f"{len(missing)} lines never arrived, e.g. {sorted(missing)[:10]}"
    unexpected = set(by_line) - expected_lines
    assert not unexpected, f"unexpected lines {sorted(unexpected)[:10]}"
    for line, copies in by_line.items():
        batches = {c["_batch"] for c in copies}
        assert len(batches) == 1, f"line {line} arrived in different batches {batches}"


def outbox_depth(state_dir: Path) -> int:
    """Batches waiting in an agent's outbox (read straight from its database)."""
    with contextlib.closing(sqlite3.connect(state_dir / "edge-agent.db")) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


def outbox_bytes(state_dir: Path) -> int:
    """Payload bytes waiting in an agent's outbox."""
    with contextlib.closing(sqlite3.connect(state_dir / "edge-agent.db")) as conn:
        return int(
            conn.execute("SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM outbox").fetchone()[0]
        )


def file_states(state_dir: Path) -> dict[str, str]:
    """Ledger state of every file."""
    with contextlib.closing(sqlite3.connect(state_dir / "edge-agent.db")) as conn:
        return dict(conn.execute("SELECT path, state FROM files").fetchall())


async def until(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    """Wait for a condition checked every 50 ms (bounded)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        await asyncio.sleep(0.05)


class AgentProcess:
    """``edge-agent run --config PATH`` as a child process of the test."""

    def __init__(self, config_path: Path, log_path: Path) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the agent."""
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "run", "--config", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()

    def signal(self, sig: signal.Signals) -> None:
        """Send a signal."""
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        """Wait for the exit code."""
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """Make sure the process is gone (SIGKILL as a last resort) and reaped."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
