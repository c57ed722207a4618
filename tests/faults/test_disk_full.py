"""The state disk full: stateDir on a 16 MiB tmpfs that a ballast file fills while the agent
(a child process) reads a large file; then the ballast is removed.

In the first test the writes that fail are real ENOSPC from the kernel (SQLite's WAL), not a
threshold: ``outbox.minFreeDiskBytes`` is 0 there. The second test covers that threshold,
where the status snapshot can still be written, through ``edge-agent status``.
(tests/agent/test_backpressure.py covers the outbox's own limit, ``outbox.maxBytes``.)

Proves: acknowledgements that cannot be recorded do not crash the agent; ingestion pauses and
says so with a detail that names stateDir and the fix, and stays paused across rescans; no
source file is deleted while its rows are not all acknowledged; once space comes back
reading resumes by itself, every row is delivered (repeats only as the same batchId) and
the files are deleted.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from tests.agent.support import agent_config, write_config, write_rows
from tests.faults.support import (
    QUIET_HEALTH,
    FaultAgent,
    Received,
    fill,
    ledger_file,
    outbox_batches,
    small_filesystem,
    state_db,
    status,
    wait_until,
)
from tests.infra.mosquitto import Broker, BrokerFactory

pytestmark = [pytest.mark.infra, pytest.mark.slow]

FS_BYTES = 16 * 1024 * 1024


def _source_status(state_dir: Path) -> dict[str, Any]:
    live = status(state_dir)["live"] or {}
    source: dict[str, Any] = live.get("sources", {}).get("line1", {})
    return source


def _pauses(agent: FaultAgent) -> int:
    return agent.log_text().count("source paused")


def _last_state_line(agent: FaultAgent) -> str:
    return [x for x in agent.log_text().splitlines() if "source paused" in x][-1]


@pytest.mark.timeout(120)
def test_state_disk_full_pauses_with_a_clear_status_and_resumes(
    tmp_path: Path, mosquitto_broker: BrokerFactory, unique_thing: str
) -> None:
    rows, late = 20_000, 5_000
    expected = {
        ("line1", "warmup.csv"): 50,
        ("line1", "big.csv"): rows,
        ("line1", "late.csv"): late,
    }
    broker = mosquitto_broker()
    with small_filesystem(tmp_path / "statefs", FS_BYTES) as statefs:
        state = statefs / "state"
        config = agent_config(
            tmp_path,
            broker,
            thing=unique_thing,
            source={"afterIngest": "delete"},
            outbox={"minFreeDiskBytes": 0},
            health=QUIET_HEALTH,
            statusIntervalSeconds=0.5,
        )
        config["stateDir"] = str(state)
        agent = FaultAgent(write_config(tmp_path, config), tmp_path / "agent.log")
        inbox = tmp_path / "in"
        received = Received()
        with broker.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
            try:
                agent.start()
                agent.wait_started(1)
                write_rows(inbox / "warmup.csv", 50)
                sub.wait_for(received.has_all({("line1", "warmup.csv"): 50}), timeout=20)
                assert wait_until(lambda: not (inbox / "warmup.csv").exists(), 10)

                # Batches of big.csv in flight, unacknowledged, when the disk fills up.
                broker.pause()
                write_rows(inbox / "big.csv", rows, cols=5)
                assert wait_until(lambda: outbox_batches(state) >= 4, 20)
                with state_db(state) as reader:
                    # A reader (as `edge-agent status` or a backup would be) keeps SQLite from
                    # restarting its WAL: every write must grow the file, and fails.
                    reader.execute("BEGIN")
                    reader.execute("SELECT COUNT(*) FROM outbox").fetchone()
                    ballast = fill(statefs, leave_bytes=0)
                    broker.resume()  # the acknowledgements arrive while nothing can be written
                    assert wait_until(lambda: "cannot be deleted" in agent.log_text(), 20), (
                        agent.log_text()[-3000:]
                    )
                    assert agent.alive, agent.log_text()[-3000:]
                    reader.execute("COMMIT")
                # A file that arrives now cannot be recorded at all (big.csv may be wholly in
                # the outbox already): reading must pause on it.
                write_rows(inbox / "late.csv", late, start=rows, cols=5)
                paused = wait_until(lambda: _pauses(agent) >= 1, 30)
                assert paused, f"no pause logged:\n{agent.log_text()[-3000:]}"
                line = _last_state_line(agent)
                print(f"\nlogged while the disk is full: {line}")
                assert str(state) in line, line  # names the place
                assert "free space" in line and "nothing is lost" in line, line  # and the fix
                # Still paused after rescans (every 2 s) and retries (every 5 s), not crashed;
                # the files wait on the source, their rows not all acknowledged.
                logged = agent.log_text().count("source watching")
                assert not wait_until(
                    lambda: agent.log_text().count("source watching") > logged, 6
                ), f"pause lifted while the disk is still full:\n{agent.log_text()[-2000:]}"
                assert agent.alive, agent.log_text()[-3000:]
                row = ledger_file(state, "line1", "late.csv")
                assert row is None or row["state"] in ("new", "reading"), row
                assert (inbox / "big.csv").exists() and (inbox / "late.csv").exists()

                ballast.unlink()  # space comes back
                sub.wait_for(received.has_all(expected), timeout=60)
                assert wait_until(
                    lambda: outbox_batches(state) == 0 and not any(inbox.iterdir()), 20
                ), "outbox not drained or files not deleted after space came back"
                assert wait_until(lambda: _source_status(state).get("state") == "watching", 10)
                agent.signal(signal.SIGTERM)
                assert agent.wait(15) == 0, agent.log_text()[-3000:]
            finally:
                agent.stop()
            received.update(sub.messages)
        problems = received.problems(expected)
        assert not problems, problems
        for _, path in expected:
            final = ledger_file(state, "line1", path)
            assert final is not None and final["state"] == "disposed", final


@pytest.mark.timeout(60)
def test_min_free_disk_bytes_pauses_with_a_clear_status_and_resumes(
    tmp_path: Path, mosquitto: Broker, unique_thing: str
) -> None:
    rows = 2_000
    with small_filesystem(tmp_path / "statefs", FS_BYTES) as statefs:
        state = statefs / "state"
        config = agent_config(
            tmp_path,
            mosquitto,
            thing=unique_thing,
            source={"afterIngest": "delete"},
            outbox={"minFreeDiskBytes": 12 * 1024 * 1024},
            health=QUIET_HEALTH,
            statusIntervalSeconds=0.5,
        )
        config["stateDir"] = str(state)
        agent = FaultAgent(write_config(tmp_path, config), tmp_path / "agent.log")
        inbox = tmp_path / "in"
        received = Received()
        with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
            try:
                agent.start()
                agent.wait_started(1)
                ballast = fill(statefs, leave_bytes=8 * 1024 * 1024)  # below the 12 MiB kept
                write_rows(inbox / "a.csv", rows)
                assert wait_until(lambda: _source_status(state).get("state") == "paused", 20), (
                    f"no pause in the status: {_source_status(state)}"
                )
                detail = _source_status(state)["detail"]
                print(f"\nedge-agent status while under minFreeDiskBytes: paused — {detail}")
                assert str(state) in detail and "minFreeDiskBytes" in detail, detail
                assert "free space" in detail and "nothing is lost" in detail, detail
                assert (inbox / "a.csv").exists()
                assert not received.has_all({("line1", "a.csv"): 1})(sub.messages)

                ballast.unlink()
                sub.wait_for(received.has_all({("line1", "a.csv"): rows}), timeout=30)
                assert wait_until(lambda: not (inbox / "a.csv").exists(), 10)
                assert wait_until(lambda: _source_status(state).get("state") == "watching", 10)
                agent.signal(signal.SIGTERM)
                assert agent.wait(15) == 0, agent.log_text()[-3000:]
            finally:
                agent.stop()
            received.update(sub.messages)
        problems = received.problems({("line1", "a.csv"): rows})
        assert not problems, problems
