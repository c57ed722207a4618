"""The health section of the configuration, progress lines, and source lag, without servers."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edge_agent.config.load import parse_config
from edge_agent.errors import ConfigError
from edge_agent.health.progress import ProgressTracker
from edge_agent.stats import SourceStatus
from edge_agent.status import render


def _config(tmp_path: Path, **health: Any) -> dict[str, Any]:
    return {
        "thingName": "gw-1",
        "stateDir": str(tmp_path / "state"),
        "sources": [{"name": "line1", "path": str(tmp_path), "dataset": "line1"}],
        "datasets": {"line1": {"csv": {"timestampColumn": "ts"}}},
        "health": health,
    }


def _problems(config: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(config)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "localhost"])
def test_loopback_hosts_are_accepted(tmp_path: Path, host: str) -> None:
    assert parse_config(_config(tmp_path, host=host)).health.host == host


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "gateway.local"])
def test_other_hosts_are_refused_with_the_reason(tmp_path: Path, host: str) -> None:
    (problem,) = _problems(_config(tmp_path, host=host))
    assert problem.startswith("health.host:"), problem
    assert "not a loopback address" in problem and "without a password or TLS" in problem
    assert "127.0.0.1" in problem


def test_port_null_turns_the_endpoint_off_and_ports_are_checked(tmp_path: Path) -> None:
    assert parse_config(_config(tmp_path, port=None)).health.port is None
    assert parse_config(_config(tmp_path)).health.port == 9108
    (problem,) = _problems(_config(tmp_path, port=70000))
    assert problem.startswith("health.port:"), problem


@pytest.mark.parametrize(
    ("topic", "words"),
    [
        ("dt/edge-agent/{dataset}/status", "only use {thingName}"),
        ("dt/edge-agent/{thingName}/#", "wildcards"),
        ("/dt/{thingName}/status", "must not start with '/'"),
    ],
)
def test_bad_status_topics_are_refused(tmp_path: Path, topic: str, words: str) -> None:
    (problem,) = _problems(_config(tmp_path, statusTopic=topic))
    assert problem.startswith("health.statusTopic:") and words in problem, problem


def test_a_status_topic_that_is_a_dataset_topic_is_refused(tmp_path: Path) -> None:
    # Refused when the configuration is loaded (edge-agent check, Greengrass validation).
    with pytest.raises(ConfigError) as caught:
        parse_config(_config(tmp_path, statusTopic="dt/edge-agent/{thingName}/line1"))
    (problem,) = caught.value.problems
    assert problem.path == "health.statusTopic" and "dataset 'line1'" in str(problem)


def test_progress_lines_only_for_long_passes_every_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="edge_agent.progress")
    now = [0.0]
    tracker = ProgressTracker(10.0, clock=lambda: now[0])
    status = SourceStatus("line1")
    size = 2_800_000_000
    for t, offset, rows in [(0, 100_000_000, 50_000), (5, 700_000_000, 590_000)]:
        now[0] = t
        tracker.update(status, "big.csv", offset, size, rows)
    assert not caplog.records  # a pass shorter than progressSeconds says nothing
    now[0] = 10.0
    tracker.update(status, "big.csv", 1_300_000_000, size, 590_000)
    (line,) = [r.getMessage() for r in caplog.records]
    # 1.2 GB in 10 s since the first commit; 1.5 GB left at 120 MB/s.
    assert line == "source line1: file big.csv 46% (1.3 GB/2.8 GB), 118,000 rows/s, ETA 12 s"
    now[0] = 15.0
    tracker.update(status, "big.csv", 1_900_000_000, size, 590_000)
    assert len(caplog.records) == 1  # at most one line per progressSeconds
    now[0] = 20.0
    tracker.update(status, "big.csv", 2_500_000_000, size, 590_000)
    assert len(caplog.records) == 2
    assert status.rows_read == 50_000 + 4 * 590_000
    now[0] = 21.0
    tracker.update(status, "small.csv", 500, 500, 10)  # another file: a new pass
    assert len(caplog.records) == 2


def test_lag_counts_from_the_first_waiting_file_until_caught_up() -> None:
    status = SourceStatus("line1")
    assert status.lag_seconds() == 0.0
    status.files_waiting = 2
    since = status.lag_seconds(now=1e12)
    # The runner takes a file off its queue, then names it current: still behind.
    status.files_waiting = 0
    status.current_file = "a.csv"
    status.files_waiting = 1
    status.current_file = None
    assert status.lag_seconds(now=1e12) == since > 0
    status.files_waiting = 0
    status.current_file = "b.csv"
    status.current_file = None
    assert status.lag_seconds() == 0.0


def test_status_tells_running_not_responding_and_stopped_apart() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    now = 1_800_000_000.0
    live = {
        "pid": os.getpid(),
        "started": now - 7200,
        "updated": now - 10,
        "statusIntervalSeconds": 30,
        "publisherState": "disconnected",
        "health": {
            "healthy": False,
            "problems": ["publisher mqtt://b:1883 disconnected for 300 s"],
        },
        "sources": {"line1": {"state": "unavailable", "detail": "folder missing", "lagSeconds": 0}},
    }
    data = {
        "stateDir": "/state",
        "live": live,
        "sources": {},
        "outbox": {
            "batches": 0,
            "rows": 0,
            "bytes": 0,
            "oldestAgeSeconds": None,
            "failing": 0,
            "errors": [],
        },
        "acknowledged": {"rows": 0, "batches": 0},
        "failedFiles": [],
    }
    text = render(data, now)
    assert "running (pid" in text and "up 2.0 h; figures below as of 10 s ago" in text
    assert "health: UNHEALTHY" in text and "  - publisher mqtt://b:1883 disconnected" in text
    assert "  line1: folder missing" in text
    live["updated"] = now - 200  # more than three status intervals: the agent is stuck
    assert f"not responding (pid {os.getpid()}, last status 3 min ago)" in render(data, now)
    live["pid"] = gone.pid
    assert "stopped (last status 3 min ago)" in render(data, now)
