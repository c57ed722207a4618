"""Helpers for the health tests: scrape /metrics and /healthz of a running agent."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from edge_agent.agent import Agent
from tests.agent.support import until

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def health_port(agent: Agent) -> int:
    """The port the agent's health endpoint bound (waits for it)."""
    await until(
        lambda: agent.health.server is not None and agent.health.server.port is not None,
        what="health endpoint serving",
    )
    assert agent.health.server is not None and agent.health.server.port is not None
    return agent.health.server.port


def get(port: int, path: str) -> tuple[int, bytes]:
    """GET http://127.0.0.1:port/path; (status, body) even for an error status."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        with e:  # an error answer still holds the connection
            return e.code, e.read()


def scrape(port: int) -> tuple[str, Samples]:
    """The /metrics text and its samples by (name, sorted labels)."""
    status, body = get(port, "/metrics")
    assert status == 200, body
    text = body.decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return text, samples


def healthz(port: int) -> tuple[int, dict[str, Any]]:
    """The /healthz status and its JSON."""
    status, body = get(port, "/healthz")
    return status, json.loads(body)


def edge_agent_status(*args: str) -> str:
    """``edge-agent status ARGS`` in a child process; its standard output (exit 0 expected)."""
    done = subprocess.run(
        [sys.executable, "-m", "edge_agent", "status", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert not done.stderr, done.stderr
    return done.stdout
