"""The wall clock jumps back an hour under a running agent (a child process), as when NTP
corrects a gateway whose clock ran ahead, or a technician sets the time by hand.

The agent runs under libfaketime (Debian package ``faketime``, installed by .ci/run): its
``time.time()``, ``datetime.now()`` and everything in C that reads CLOCK_REALTIME follow a
control file the test rewrites, while CLOCK_MONOTONIC (asyncio's clock: settle times, retry
and rescan intervals) is left alone, as a real clock step leaves it. Without the library the
test is skipped with the reason.

Proves: after the jump files still settle and are read; nothing is lost or published twice
under a new batchId; a file is still moved or deleted only after its batches are acknowledged.
"""

from __future__ import annotations

import glob
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.agent.support import agent_config, write_config
from tests.faults.support import (
    QUIET_HEALTH,
    FaultAgent,
    Key,
    Received,
    ShareWatch,
    ledger_file,
    share_config,
    share_sink,
    share_sources,
    status,
    wait_drained,
    wait_until,
)
from tests.infra.mosquitto import BrokerFactory
from tests.infra.samba import SambaServer
from tests.sources.test_smb_agent import csv_bytes

pytestmark = [pytest.mark.infra, pytest.mark.slow]

JUMP_SECONDS = -3600
SHIM = Path(__file__).parent / "fakeclock"


def libfaketime() -> str:
    """The multi-threaded libfaketime, or skip the test saying how to get it."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
    if not found:
        pytest.skip("libfaketime not found: apt-get install -y faketime (.ci/run does)")
    return found[0]


def fake_clock(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """The environment that puts an agent process on a wall clock the test can step, and the
    control file to step it with (write an offset such as ``-3600``)."""
    control = tmp_path / "faketime"
    control.write_text("+0\n")
    env = {
        "LD_PRELOAD": libfaketime(),
        "FAKETIME_TIMESTAMP_FILE": str(control),
        "FAKETIME_NO_CACHE": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "PYTHONPATH": str(SHIM),
    }
    return env, control


def _log_times(agent: FaultAgent) -> list[datetime]:
    """The timestamps of the agent's log lines (its own wall clock)."""
    out = []
    for line in agent.log_text().splitlines():
        stamp = line[:23]
        try:
            out.append(datetime.fromisoformat(stamp).replace(tzinfo=UTC))
        except ValueError:
            continue  # a continuation line (traceback)
    return out


@pytest.mark.timeout(120)
def test_wall_clock_jumping_back_an_hour(
    tmp_path: Path,
    mosquitto_broker: BrokerFactory,
    samba: SambaServer,
    smb_folder: str,
    unique_thing: str,
) -> None:
    env, control = fake_clock(tmp_path)
    broker = mosquitto_broker()
    sources = share_sources(samba, smb_folder)
    state = tmp_path / "state"
    config = share_config(tmp_path, broker, samba, sources, thing=unique_thing)
    agent = FaultAgent(write_config(tmp_path, config), tmp_path / "agent.log", env=env)
    files: dict[Key, int] = {
        ("moved", "before.csv"): 2_000,
        ("deleted", "before.csv"): 300,
        ("moved", "after.csv"): 20_000,
        ("deleted", "after.csv"): 500,
        ("moved", "held.csv"): 50,
    }
    contents = {
        key: csv_bytes(tmp_path, rows, start=i * 100_000, cols=5)
        for i, (key, rows) in enumerate(files.items())
    }
    folders = {s.name: s.folder.removeprefix(f"{smb_folder}/") for s in sources}
    sink = share_sink(samba, smb_folder)

    def write(*keys: Key) -> None:
        for name, path in keys:
            sink.write(f"{folders[name]}/{path}", contents[(name, path)])

    def expect(*keys: Key) -> dict[Key, int]:
        return {key: files[key] for key in keys}

    received = Received()
    watch = ShareWatch({s.name: s.local(samba) for s in sources}, state)
    try:
        with broker.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub, watch:
            agent.start()
            agent.wait_started(1)
            write(("moved", "before.csv"), ("deleted", "before.csv"))
            sub.wait_for(received.has_all(expect(*list(files)[:2])), timeout=30)
            wait_drained(state, [s.local(samba) for s in sources])

            control.write_text(f"{JUMP_SECONDS:+d}\n")  # the wall clock steps back an hour
            jumped_at = datetime.now(UTC)
            write(("moved", "after.csv"), ("deleted", "after.csv"))
            sub.wait_for(received.has_all(expect(*list(files)[:4])), timeout=60)
            wait_drained(state, [s.local(samba) for s in sources])
            # The agent really lives an hour back now (its log is stamped with its clock).
            assert any((jumped_at - t).total_seconds() > 3000 for t in _log_times(agent)), (
                f"the agent's clock did not jump:\n{agent.log_text()[-2000:]}"
            )

            # Disposition still waits for acknowledgements on the stepped clock.
            broker.pause()
            try:
                write(("moved", "held.csv"))
                assert wait_until(
                    lambda: (ledger_file(state, "moved", "held.csv") or {}).get("state") == "read",
                    20,
                ), "held.csv not read into the outbox after the jump"
                time.sleep(3.0)  # longer than a rescan and a disposal sweep (2 s)
                assert (sources[1].local(samba) / "held.csv").exists(), "moved before its ack"
            finally:
                broker.resume()
            sub.wait_for(received.has_all(files), timeout=30)
            wait_drained(state, [s.local(samba) for s in sources])
            agent.signal(signal.SIGTERM)
            assert agent.wait(15) == 0, agent.log_text()[-3000:]
            received.update(sub.messages)
    finally:
        sink.close_all()
        agent.stop()
    problems = received.problems(files)
    assert not problems, problems
    early = [why for v in watch.vanished if (why := v.early(len(contents[(v.source, v.path)])))]
    assert not early, early
    archive = samba.share_path / smb_folder / "archive"
    for (name, path), data in contents.items():
        if name == "moved":
            assert (archive / path).read_bytes() == data, path
    print(f"\nclock stepped {JUMP_SECONDS} s: {received.copies} records, {received.repeats} again")


@pytest.mark.timeout(60)
def test_health_still_reports_an_outage_after_the_clock_steps_back(
    tmp_path: Path, mosquitto_broker: BrokerFactory, unique_thing: str
) -> None:
    env, control = fake_clock(tmp_path)
    broker = mosquitto_broker()
    config = agent_config(
        tmp_path,
        broker,
        thing=unique_thing,
        health={**QUIET_HEALTH, "unhealthyAfterSeconds": 1},
        statusIntervalSeconds=0.5,
    )
    agent = FaultAgent(write_config(tmp_path, config), tmp_path / "agent.log", env=env)
    state = tmp_path / "state"

    def health() -> dict[str, Any]:
        live = status(state)["live"] or {}
        verdict: dict[str, Any] = live.get("health") or {}
        return verdict

    try:
        agent.start()
        agent.wait_started(1)
        assert wait_until(lambda: health().get("healthy") is True, 15), health()
        broker.stop()  # an outage begins
        assert wait_until(lambda: health().get("healthy") is False, 15), health()
        control.write_text(f"{JUMP_SECONDS:+d}\n")
        time.sleep(3.0)  # several samples (every second) and status snapshots (every 0.5 s)
        verdict = health()
    finally:
        agent.stop()
    assert verdict.get("healthy") is False, f"the outage vanished with the clock step: {verdict}"
