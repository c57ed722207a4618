"""smbd restarted while the agent moves and deletes files on the share.

smbd restarted in the middle of reading a file is tests/sources/test_smb_agent.py::
test_server_restart_in_the_middle_of_a_file_loses_nothing; this is the other SMB write the
agent makes: its disposal (rename into the archive, delete). Fifty small files are read into
the outbox while the broker is frozen; when it is thawed their acknowledgements arrive and
the agent disposes of them one after another, and smbd is restarted after the first one.

Proves: every file is moved or deleted exactly once, only after its batches were
acknowledged (checked the moment it vanished); a rename whose answer was lost with the
connection does not leave a second copy (``name-1.csv``) in the archive; no file is read
again; every row delivered, nothing under a new batchId; the outbox ends empty.
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
    outbox_batches,
    share_config,
    share_sink,
    share_sources,
    state_db,
    wait_drained,
    wait_until,
)
from tests.infra.mosquitto import BrokerFactory
from tests.infra.samba import SambaServer
from tests.sources.test_smb_agent import csv_bytes

pytestmark = [pytest.mark.infra, pytest.mark.slow]


@pytest.mark.timeout(120)
def test_smbd_restart_while_files_are_moved_and_deleted(
    tmp_path: Path,
    mosquitto_broker: BrokerFactory,
    samba: SambaServer,
    smb_folder: str,
    unique_thing: str,
) -> None:
    broker = mosquitto_broker()
    sources = share_sources(samba, smb_folder)
    state = tmp_path / "state"
    config = share_config(tmp_path, broker, samba, sources, thing=unique_thing)
    agent = FaultAgent(write_config(tmp_path, config), tmp_path / "agent.log")
    files: dict[Key, int] = {
        (name, f"f{i:02d}.csv"): 5 + i % 7 for name in ("moved", "deleted") for i in range(25)
    }
    contents = {
        key: csv_bytes(tmp_path, rows, start=i * 1000)
        for i, (key, rows) in enumerate(files.items())
    }
    folders = {s.name: s.folder.removeprefix(f"{smb_folder}/") for s in sources}
    received = Received()
    watch = ShareWatch({s.name: s.local(samba) for s in sources}, state)
    sink = share_sink(samba, smb_folder)
    try:
        with broker.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub, watch:
            agent.start()
            agent.wait_started(1)
            broker.pause()  # connected, nothing acknowledged: files pile up as "read"
            try:
                for name, path in files:
                    sink.write(f"{folders[name]}/{path}", contents[(name, path)])
                sink.close_all()
                assert wait_until(lambda: _read(state) == len(files), 30), (
                    f"only {_read(state)} of {len(files)} files read into the outbox"
                )
                assert not watch.vanished, "disposed of before any acknowledgement"
            finally:
                broker.resume()
            assert watch.event.wait(20), "no file disposed of after the broker came back"
            samba.restart()  # in the middle of the disposals
            restarted_after = len(watch.vanished)
            sub.wait_for(received.has_all(files), timeout=30)
            wait_drained(state, [s.local(samba) for s in sources], timeout=40)
            agent.signal(signal.SIGTERM)
            assert agent.wait(15) == 0, agent.log_text()[-3000:]
            received.update(sub.messages)
    finally:
        sink.close_all()
        agent.stop()
    print(
        f"\nsmbd restarted after {restarted_after} of {len(files)} disposals; "
        f"{received.repeats} records received twice"
    )
    assert restarted_after < len(files), "every file was disposed of before the restart"
    problems = received.problems(files)
    assert not problems, problems
    early = [why for v in watch.vanished if (why := v.early(len(contents[(v.source, v.path)])))]
    assert not early, early
    assert sorted((v.source, v.path) for v in watch.vanished) == sorted(files)
    archive = samba.share_path / smb_folder / "archive"
    moved = {path: data for (name, path), data in contents.items() if name == "moved"}
    assert sorted(p.name for p in archive.iterdir()) == sorted(moved), "a file moved twice"
    for path, data in moved.items():
        assert (archive / path).read_bytes() == data, path
    with state_db(state) as conn:
        rows = conn.execute("SELECT source, path, state, version FROM files").fetchall()
    assert {(r["source"], r["path"]) for r in rows} == set(files)
    assert {(r["state"], r["version"]) for r in rows} == {("disposed", 1)}, [dict(r) for r in rows]
    assert outbox_batches(state) == 0


def _read(state_dir: Path) -> int:
    if not (state_dir / "edge-agent.db").exists():
        return 0
    with state_db(state_dir) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM files WHERE state = 'read'").fetchone()[0])


@pytest.mark.timeout(60)
def test_share_down_while_files_wait_for_disposal_is_reported_once(
    tmp_path: Path,
    mosquitto_broker: BrokerFactory,
    samba: SambaServer,
    smb_folder: str,
    unique_thing: str,
) -> None:
    broker = mosquitto_broker()
    sources = share_sources(samba, smb_folder)[1:]  # "moved"
    state = tmp_path / "state"
    config = share_config(tmp_path, broker, samba, sources, thing=unique_thing)
    agent = FaultAgent(write_config(tmp_path, config), tmp_path / "agent.log")
    sink = share_sink(samba, smb_folder)
    count = 20
    try:
        agent.start()
        agent.wait_started(1)
        assert wait_until(lambda: "mqtt.connected" in agent.log_text(), 10)
        broker.pause()
        try:
            for i in range(count):
                sink.write(f"mov/f{i:02d}.csv", csv_bytes(tmp_path, 3, start=i * 10))
            sink.close_all()
            assert wait_until(lambda: _read(state) == count, 30)
            samba.stop()  # the share goes away before the acknowledgements arrive
        finally:
            broker.resume()
        assert wait_until(lambda: outbox_batches(state) == 0, 20)
        time.sleep(4.5)  # two disposal sweeps (every rescanSeconds = 2 s) with the share down
        warnings = agent.log_text().count("could not dispose of a file")
    finally:
        sink.close_all()
        agent.stop()
        samba.start()
    assert warnings <= 3, f"{warnings} disposal warnings for one unavailable share in ~5 s"
