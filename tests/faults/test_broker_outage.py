"""The broker down for 30 s in the middle of a run (mosquitto stopped by PID, started again on
the same port), while the agent, a child process, is publishing a large file from the share
and more files keep arriving.

Proves: the agent keeps reading into its outbox while the broker is away and says so in its
status; once the broker is back every row is delivered, a repeat only as a re-sent batch with
the same batchId; the outbox ends empty; files are disposed of only after acknowledgement.
The existing tests/agent/test_end_to_end.py::test_broker_down_during_ingestion_loses_nothing
covers a short outage before publishing starts, in process; this one is the issue's 30 s,
mid-publish, against the process as deployed.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.agent.support import write_config
from tests.faults.support import (
    FaultAgent,
    Key,
    Received,
    ShareWatch,
    ledger_file,
    outbox_batches,
    share_config,
    share_sink,
    share_sources,
    status,
    wait_drained,
    wait_until,
)
from tests.infra.mosquitto import BrokerFactory, Message
from tests.infra.samba import SambaServer
from tests.sources.test_smb_agent import csv_bytes

pytestmark = [pytest.mark.infra, pytest.mark.slow]

OUTAGE_SECONDS = 30.0  # the figure


@pytest.mark.timeout(150)
def test_broker_down_30_s_mid_run_loses_and_duplicates_nothing(
    tmp_path: Path,
    mosquitto_broker: BrokerFactory,
    samba: SambaServer,
    smb_folder: str,
    unique_thing: str,
) -> None:
    broker = mosquitto_broker()
    sources = share_sources(samba, smb_folder)
    state = tmp_path / "state"
    config = share_config(
        tmp_path,
        broker,
        samba,
        sources,
        thing=unique_thing,
        publish={"maxPublishesPerSecond": 40, "maxPayloadBytes": 16384},
        outbox={"minFreeDiskBytes": 0},
        statusIntervalSeconds=1,
    )
    # The agent reconnects no sooner than 2 s after the broker is back, so the test's
    # subscriber is there first and sees everything re-sent.
    config["publish"]["mqtt"].update(reconnectMinSeconds=2, reconnectMaxSeconds=3)
    agent = FaultAgent(write_config(tmp_path, config), tmp_path / "agent.log")
    before = {("deleted", "big.csv"): 20_000, ("moved", "small.csv"): 30}
    during = {("deleted", "late.csv"): 2_000, ("moved", "sub/late.csv"): 5}
    expected: dict[Key, int] = {**before, **during}
    contents = {
        key: csv_bytes(tmp_path, rows, start=i * 100_000, cols=5)
        for i, (key, rows) in enumerate(expected.items())
    }
    folders = {s.name: s.folder.removeprefix(f"{smb_folder}/") for s in sources}
    sink = share_sink(samba, smb_folder)

    def write(keys: dict[Key, int]) -> None:
        for name, path in keys:
            sink.write(f"{folders[name]}/{path}", contents[(name, path)])

    received = Received()
    first: list[Message] = []
    watch = ShareWatch({s.name: s.local(samba) for s in sources}, state)
    try:
        with watch:
            agent.start()
            agent.wait_started(1)
            with broker.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
                write(before)
                sub.wait_for(30, timeout=30)  # publishing the big file is under way
                broker.stop()
                down_at = time.monotonic()
                first = sub.messages
            received.update(first)
            assert received.copies < sum(before.values()), "all published before the outage"

            write(during)  # more files while the broker is away
            assert wait_until(
                lambda: all(_ledger_state(state, key) in ("read", "disposed") for key in during),
                20,
            ), "files arriving during the outage read into the outbox"
            waiting = outbox_batches(state)
            assert wait_until(
                lambda: status(state)["live"]["publisherState"] == "disconnected",
                10,
            ), "status saying the publisher is disconnected"
            # Nothing of them can be acknowledged, so nothing of them is disposed of.
            for key in during:
                assert _on_share(samba, smb_folder, folders, key)
            time.sleep(max(0.0, down_at + OUTAGE_SECONDS - time.monotonic()))
            assert agent.alive, agent.log_text()[-3000:]

            broker.start()
            with broker.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
                sub.wait_for(
                    lambda m: received.has_all(expected)(first + m),
                    timeout=60,
                )
                wait_drained(state, [s.local(samba) for s in sources])
                second = sub.messages
            agent.signal(signal.SIGTERM)
            assert agent.wait(15) == 0, agent.log_text()[-3000:]
    finally:
        sink.close_all()
        agent.stop()
    received = Received()
    received.update(first + second)
    print(
        f"\nbroker down {OUTAGE_SECONDS:.0f} s after {len(first)} batches; {waiting} batches "
        f"waited in the outbox; {received.copies} records received, {received.repeats} repeats"
    )
    problems = received.problems(expected)
    assert not problems, problems
    early = [why for v in watch.vanished if (why := v.early(len(contents[(v.source, v.path)])))]
    assert not early, early
    assert sorted((v.source, v.path) for v in watch.vanished) == sorted(expected)


def _ledger_state(state_dir: Path, key: Key) -> str | None:
    row = ledger_file(state_dir, *key)
    return None if row is None else str(row["state"])


def _on_share(samba: SambaServer, smb_folder: str, folders: dict[str, str], key: Key) -> bool:
    name, path = key
    return (samba.share_path / smb_folder / folders[name] / path).exists()
