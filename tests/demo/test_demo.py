"""``edge-agent demo``: the whole demo as a child process, and its parts in-process."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.agent import Agent
from edge_agent.demo import run_demo
from edge_agent.demo.broker import EmbeddedBroker
from edge_agent.demo.control import DemoAgent, StopControl
from edge_agent.demo.logs import demo_logging
from edge_agent.demo.scenario import agent_config, demo_sources
from edge_agent.demo.subscriber import QuarantinedRow, SampleRecord, Subscriber, Tally
from edge_agent.demo.view import (
    Snapshot,
    SourceLine,
    Terminal,
    render_line,
    render_screen,
    render_summary,
)
from simulators.datasets import SOURCE_HINTS

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
FOLDER = re.compile(r"working folder (\S+) \(removed at the end\)")
PROGRESS = re.compile(r"published: tower ([\d,]+) rows, factory ([\d,]+) rows")
SUMMARY_GROUP = re.compile(r"^\s+(tower|factory):\s+([\d,]+) records published", re.MULTILINE)
BATCHES = re.compile(r"acknowledged by the broker: ([\d,]+); messages received: ([\d,]+)")


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("TERM", None)
    env["NO_COLOR"] = "1"
    return env


def _demo(*args: str) -> list[str]:
    return [sys.executable, "-m", "edge_agent", "demo", "--plain", *args]


def _check_summary(stdout: str) -> None:
    groups = {name: _number(n) for name, n in SUMMARY_GROUP.findall(stdout)}
    assert groups.get("tower", 0) > 0, stdout
    assert groups.get("factory", 0) > 0, stdout
    batches = BATCHES.search(stdout)
    assert batches is not None, stdout
    acknowledged, received = map(_number, batches.groups())
    assert received >= acknowledged > 0, "the subscriber missed batches the broker acknowledged"
    # Warnings may come from libraries (watchdog reports its own races); errors may not.
    assert re.search(r"^  errors: 0, warnings: \d+$", stdout, re.MULTILINE), stdout
    match = FOLDER.search(stdout)
    assert match is not None, stdout
    assert not Path(match.group(1)).exists(), "the working folder was left behind"


# --------------------------------------------------------------------------- child process


@pytest.mark.slow
def test_demo_runs_for_its_duration_and_publishes_tower_and_factory_records(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    result = subprocess.run(
        _demo("--duration", "8"),
        cwd=tmp_path,
        env=_child_env(),
        capture_output=True,
        text=True,
        timeout=45,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    assert time.monotonic() - started < 20
    assert PROGRESS.search(result.stdout), "no progress line in --plain mode"
    _check_summary(result.stdout)


def _lines(stream: Iterator[str], into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_demo_stops_cleanly_on_a_signal_once_records_were_published(
    tmp_path: Path, sig: signal.Signals
) -> None:
    stderr_path = tmp_path / "stderr.txt"
    lines: queue.Queue[str | None] = queue.Queue()
    seen: list[str] = []
    with (
        stderr_path.open("w") as stderr,
        subprocess.Popen(
            _demo(),
            cwd=tmp_path,
            env=_child_env(),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        ) as proc,
    ):
        assert proc.stdout is not None
        reader = threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 30
            while True:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
                assert line is not None, "".join(seen)
                seen.append(line)
                progress = PROGRESS.search(line)
                if progress and all(_number(n) > 0 for n in progress.groups()):
                    break
            proc.send_signal(sig)
            signalled = time.monotonic()
            returncode = proc.wait(timeout=10)
            stopped_in = time.monotonic() - signalled
        finally:
            if proc.poll() is None:
                proc.kill()
        reader.join(timeout=5)
    while (line := lines.get_nowait()) is not None:
        seen.append(line)
    stdout = "".join(seen)
    assert returncode == 0, stdout + stderr_path.read_text()
    assert stopped_in < 5, f"took {stopped_in:.1f} s to stop"
    assert stderr_path.read_text() == ""
    _check_summary(stdout)


def test_demo_refuses_a_speed_that_is_not_positive(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_demo(speed=0) == 2
    assert "--speed" in capsys.readouterr().err


# --------------------------------------------------------------------------- configuration


def test_agent_configuration_has_one_source_per_dataset_publishing_to_the_local_broker(
    tmp_path: Path,
) -> None:
    config = agent_config(tmp_path / "data", tmp_path / "state", host="127.0.0.1", port=1234)
    assert {s.name for s in config.sources} == set(SOURCE_HINTS)
    for source in config.sources:
        assert source.mode == SOURCE_HINTS[source.name].mode
        assert source.path is not None
        assert Path(source.path).is_dir()
        assert source.dataset == source.name
    mqtt_config = config.publish.mqtt
    assert (mqtt_config.host, mqtt_config.port, mqtt_config.protocol) == (
        "127.0.0.1",
        1234,
        "3.1.1",
    )
    assert config.publish.max_publishes_per_second == 100  # IoT Core's limit stays on
    assert config.logging.level == "WARNING"
    assert [s.group for s in demo_sources()][:4] == ["tower"] * 4


# --------------------------------------------------------------------------- broker and tally


async def test_embedded_broker_listens_on_loopback_and_the_subscriber_counts(
    tmp_path: Path,
) -> None:
    tally = Tally()
    async with EmbeddedBroker() as broker:
        assert broker.host == "127.0.0.1"
        assert broker.port > 0
        async with Subscriber(broker.host, broker.port, tally, client_id="test-viewer"):
            envelope = {
                "kind": "tower",
                "dataset": "tower",
                "source": {"name": "tower", "path": "tower/t1/st-1/x.csv"},
                "records": [{"ts": "2026-01-01T00:00:00Z", "line": 2, "height_mm": 100.0}],
            }
            publisher = mqtt.Client(
                CallbackAPIVersion.VERSION2, client_id="test-pub", protocol=mqtt.MQTTv311
            )
            # paho blocks; the broker runs on this event loop: block a thread, not the loop.
            await asyncio.to_thread(publisher.connect, broker.host, broker.port, 30)
            publisher.loop_start()
            try:
                info = publisher.publish("dt/edge-agent/t/tower", json.dumps(envelope), qos=1)
                await asyncio.to_thread(info.wait_for_publish, 5)
                assert await tally.wait_for_messages(1, within=5)
            finally:
                publisher.disconnect()
                await asyncio.to_thread(publisher.loop_stop)
    assert tally.records == 1
    assert tally.sources["tower"].last_path == "tower/t1/st-1/x.csv"
    assert tally.latest_tower is not None
    assert tally.latest_tower.record["height_mm"] == 100.0


def test_tally_counts_records_quarantine_alerts_and_unreadable_messages() -> None:
    tally = Tally()
    source = {"name": "plc", "path": "factory/plc/a.csv"}
    tally.add("dt/edge-agent/g/plc", {"kind": "generic", "source": source, "records": [{}, {}]})
    tally.add(
        "dt/edge-agent/g/plc/quarantine",
        {"source": source, "records": [{"line": 9, "reason": "7 fields but the header has 8"}]},
    )
    alert = {"event": "open", "variable": "water_ph", "towerId": "tower-01"}
    tally.add("dt/edge-agent/g/alerts", alert)
    tally.add("dt/edge-agent/g/status", {"kind": "heartbeat"})  # neither data nor unreadable
    tally.add("dt/edge-agent/g/plc", None)
    assert (tally.messages, tally.records, tally.quarantined) == (5, 2, 1)
    assert (tally.alerts, tally.unreadable) == (1, 1)
    assert tally.latest_alert == alert
    assert tally.sources["plc"].records == 2
    assert list(tally.recent_quarantine) == [
        QuarantinedRow("plc", "factory/plc/a.csv", 9, "7 fields but the header has 8")
    ]
    assert tally.latest_tower is None  # only records of kind tower are samples


# --------------------------------------------------------------------------- stopping


class _FakeAgent:
    def __init__(self) -> None:
        self.stop_requests = 0

    def request_stop(self) -> None:
        self.stop_requests += 1


async def test_first_signal_stops_in_order_and_a_second_one_hurries_the_agent() -> None:
    control = StopControl()
    agent = _FakeAgent()
    control.agent = agent  # type: ignore[assignment]
    control.request()
    assert control.requested.is_set()
    assert agent.stop_requests == 0  # the demo stops the simulators before the agent
    control.request()
    assert agent.stop_requests == 1


def test_the_demo_agent_replaces_the_agents_own_signal_handling() -> None:
    # DemoAgent overrides these; if Agent renames them, its handlers would take over again.
    for name in ("_install_signals", "_remove_signals"):
        assert callable(getattr(Agent, name, None))
        assert getattr(DemoAgent, name) is not getattr(Agent, name)


# --------------------------------------------------------------------------- logging


def test_demo_logging_counts_real_problems_into_a_file_and_restores_logging(
    tmp_path: Path,
) -> None:
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    path = tmp_path / "demo.log"
    with demo_logging(path) as tally, warnings.catch_warnings():
        warnings.simplefilter("always")
        logging.getLogger("edge_agent.runner").error("reading pass failed")
        logging.getLogger("edge_agent.runner").info("file read")  # below WARNING: not kept
        logging.getLogger("watchdog.observers.inotify").error(
            "InotifyEmitter.queue_events() called when the thread is inactive"
        )
        warnings.warn("a library complains", RuntimeWarning, stacklevel=1)
    assert (tally.errors, tally.warnings) == (1, 1)
    assert list(tally.recent) == [
        "ERROR edge_agent.runner: reading pass failed",
        "WARNING py.warnings: RuntimeWarning: a library complains",  # without file and line
    ]
    text = path.read_text(encoding="utf-8")
    assert "reading pass failed" in text
    assert "queue_events" in text  # benign: in the file, but not counted
    assert "a library complains" in text
    assert "file read" not in text
    assert (root.level, root.handlers) == before


# --------------------------------------------------------------------------- view


def _snapshot(**changes: object) -> Snapshot:
    sources = (
        SourceLine("tower", "tower", "watching", "", 18, 1234, 0, "tower/tower-02/st-3/x.csv"),
        SourceLine("site", "tower", "watching", "", 2, 14, 0, None),
        SourceLine("plc", "factory", "unavailable", "folder missing", 10, 5678, 12, "p.csv"),
    )
    sample = SampleRecord(
        "tower",
        "tower/tower-02/st-3/20261127T04.csv",
        {
            "ts": "2026-11-27T04:55:23Z",
            "line": 13,
            "tower_id": "tower-02",
            "station_id": "st-3",
            "tray_id": "tray-08",
            "height_mm": 94.5,
            "water_ph": 6.53,
            "co2_ppm": 997,
            "growId": None,
        },
        {"height_mm": "mm", "water_ph": "pH", "co2_ppm": "ppm"},
    )
    values: dict[str, object] = {
        "uptime": 65.2,
        "sim_time": datetime(2026, 11, 27, 6, 10, tzinfo=UTC),
        "sim_elapsed": 8400.0,
        "speed": 600.0,
        "broker": "mqtt://127.0.0.1:43429",
        "sources": sources,
        "batches": 1311,
        "rows": 6926,
        "rows_per_second": 129.4,
        "outbox_batches": 2,
        "outbox_bytes": 1234,
        "alerts": 0,
        "recent_quarantine": (
            QuarantinedRow("plc", "factory/plc/p.csv", 74, "7 fields but the header has 8 columns"),
        ),
        "sample": sample,
        "alert": None,
        "errors": 0,
        "warnings": 0,
        "recent_problems": (),
        "log_path": "/tmp/edge-agent-demo-x/demo.log",
    }
    values.update(changes)
    return Snapshot(**values)  # type: ignore[arg-type]


def test_screen_shows_sources_totals_quarantine_and_a_sample_record() -> None:
    screen = "\n".join(render_screen(_snapshot(), 120, color=False))
    assert "\x1b" not in screen
    assert "up 0:01:05" in screen
    assert "2026-11-27 06:10 UTC (+2 h 20 min at 600x)" in screen
    assert re.search(r"tower\s+18\s+1,234\s+0\s+tower/tower-02/st-3/x.csv", screen)
    assert re.search(r"plc\s+10\s+5,678\s+12\s+unavailable: folder missing", screen)
    assert "batches 1,311" in screen
    assert "129 rows/s" in screen
    assert "outbox 2 batches, 1.2 kB" in screen
    assert re.search(r"p\.csv:74\s+7 fields but the header has 8 columns", screen)
    assert "tower-02  st-3  tray-08" in screen
    assert "height 94.5 mm" in screen
    assert "water 6.53 pH" in screen
    assert "co2 997 ppm" in screen
    assert "growId" not in screen  # an identifier, shown with the others once it has a value
    assert "errors," not in screen  # no problems, no log section
    assert "Ctrl-C stops the demo" in screen
    stopped = "\n".join(render_screen(_snapshot(phase="stopped"), 120, color=False))
    assert "Ctrl-C" not in stopped
    assert "demo.log" not in stopped  # about to be removed with the working folder


def test_screen_shows_what_the_farm_stage_fused_and_the_latest_alert() -> None:
    fused = SampleRecord(
        "tower",
        "tower/tower-01/st-2/20261127T04.csv",
        {
            "ts": "2026-11-27T04:55:16Z",
            "line": 13,
            "tower_id": "tower-01",
            "station_id": "st-2",
            "tray_id": "tray-03",
            "water_ph": 6.93,
            "growId": "G-1127-0301",
            "tagStatus": "tagged",
            "dayOfCycle": 3,
            "phase": "growth",
            "deviations": [{"variable": "water_ph", "value": 6.93, "min": 6.0, "max": 6.8}],
            "site": {"ts": "2026-11-27T04:50:30Z", "ageSeconds": 286, "outdoor_temp_c": 4.5,
                     "power_kw": 12.25},
            "siteStale": False,
            "automation": {"ts": "2026-11-27T04:55:00Z", "state": "running"},
            "late": False,
        },
        {"water_ph": "pH"},
    )  # fmt: skip
    alert = {
        "event": "open",
        "towerId": "tower-01",
        "stationId": "st-2",
        "variable": "water_ph",
        "value": 6.93,
        "min": 6.0,
        "max": 6.8,
        "phase": "growth",
        "since": "2026-11-27T04:40:16Z",
        "growId": "G-1127-0301",
    }
    screen = "\n".join(render_screen(_snapshot(sample=fused, alert=alert), 160, color=False))
    assert "grow G-1127-0301, day 3 (growth)" in screen
    assert "site 4.5 °C outdoors, 12.25 kW, 286 s before" in screen
    assert "tower running" in screen
    assert "water_ph 6.93 out of band" in screen
    assert "latest alert  open" in screen
    assert "water_ph 6.93 (band 6-6.8, growth) since 2026-11-27T04:40:16Z" in screen
    assert "deviations" not in screen  # fused fields are summarised, not dumped


def test_screen_fits_a_narrow_terminal_and_colours_only_when_asked() -> None:
    problems = ("ERROR edge_agent.runner: reading pass failed; file left in place",)
    snapshot = _snapshot(errors=1, recent_problems=problems, phase="stopping")
    coloured = render_screen(snapshot, 40, color=True)
    assert any("\x1b[" in line for line in coloured)
    plain = [ANSI.sub("", line) for line in coloured]
    assert plain == render_screen(snapshot, 40, color=False)
    assert all(len(line) <= 40 for line in plain)
    assert any(line.endswith("…") for line in plain)
    assert any("stopping" in line for line in plain)
    assert any(line.startswith("log: 1 errors") for line in plain)


def test_plain_line_and_summary() -> None:
    snapshot = _snapshot()
    line = render_line(snapshot)
    assert "published: tower 1,248 rows, factory 5,678 rows" in line
    assert "quarantined 12" in line
    assert "errors 0" in line
    summary = "\n".join(render_summary(snapshot, messages=1311))
    assert "tower:   1,248 records published (tower 1,234, site 14)" in summary
    assert "factory: 5,678 records published (plc 5,678)" in summary
    assert "acknowledged by the broker: 1,311; messages received: 1,311" in summary


def test_terminal_redraws_in_place_within_its_height() -> None:
    out = StringIO()
    terminal = Terminal(out)
    terminal.draw(["a", "b", "c"], height=10)
    first = out.getvalue()
    assert first == "\ra\x1b[K\nb\x1b[K\nc\x1b[K\n\x1b[J"
    terminal.draw(["x"] * 20, height=5)  # cut to 4 lines: the frame never scrolls
    second = out.getvalue()[len(first) :]
    assert second.startswith("\r\x1b[3A")
    assert second.count("\n") == 4
    terminal.draw(["y"], height=5)
    assert out.getvalue().endswith("\r\x1b[4Ay\x1b[K\n\x1b[J")
