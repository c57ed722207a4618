"""SIGKILL at 22 random moments while the agent ingests a multi-file workload from a real
smbd and publishes to a real Mosquitto; restarted after each kill.

Proves: every row of every file is delivered; a row delivered twice is only ever inside a
re-sent batch with the same batchId; the outbox ends empty; no source file is deleted or
moved away before every one of its batches was acknowledged (checked the moment it vanishes).
The seed is printed; ``FAULTS_SEED=<n>`` replays a run's schedule (docs/faults.md).
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.agent.support import write_config
from tests.faults.support import (
    FaultAgent,
    Key,
    Received,
    ShareWatch,
    outbox_batches,
    partly_read,
    seed_from_env,
    share_config,
    share_sink,
    share_sources,
    wait_drained,
    wait_until,
)
from tests.infra.mosquitto import Broker
from tests.infra.samba import SambaServer
from tests.sources.test_smb_agent import csv_bytes

pytestmark = [pytest.mark.infra, pytest.mark.slow]

# (seconds after the first start, source, path, rows): big files take seconds to publish at
# the throttled rate below, so kills land mid-file; small ones land between them; the last
# ones arrive while the agent is being killed over and over.
WORKLOAD = [
    (0.0, "deleted", "big-1.csv", 30_000),
    (0.0, "moved", "small-1.csv", 40),
    (0.0, "moved", "sub/medium-1.csv", 3_000),
    (3.0, "deleted", "small-2.csv", 10),
    (6.0, "moved", "big-2.csv", 25_000),
    (9.0, "deleted", "medium-2.csv", 4_000),
    (12.0, "moved", "small-3.csv", 1),
    (15.0, "deleted", "big-3.csv", 20_000),
    (20.0, "moved", "medium-3.csv", 5_000),
    (25.0, "deleted", "small-4.csv", 60),
    (30.0, "moved", "big-4.csv", 15_000),
    (35.0, "deleted", "medium-4.csv", 3_000),
    (40.0, "moved", "small-5.csv", 5),
]
# How each kill is timed; shuffled by the seeded RNG. "scan": right after start (listing the
# share, reconnecting); "mid-file": once a file is partly committed; "disposal": right after
# a file was moved or deleted (before or after the ledger records it); "random": anywhere.
KILL_KINDS = ["scan"] * 4 + ["mid-file"] * 6 + ["disposal"] * 4 + ["random"] * 8


@dataclass
class Kill:
    """One SIGKILL and what the agent was doing at that moment."""

    kind: str
    after_start: float
    partly_read: list[str]
    outbox: int
    after_disposal: bool

    def __str__(self) -> str:
        return (
            f"{self.kind:<8} {self.after_start:5.2f} s after start; outbox {self.outbox}; "
            f"mid-file {self.partly_read or '-'}; just disposed: {self.after_disposal}"
        )


@pytest.mark.timeout(300)
def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    tmp_path: Path, mosquitto: Broker, samba: SambaServer, smb_folder: str, unique_thing: str
) -> None:
    seed = seed_from_env()
    rng = random.Random(seed)
    print(f"\nFAULTS_SEED={seed}")
    sources = share_sources(samba, smb_folder)
    state = tmp_path / "state"
    config = share_config(
        tmp_path,
        mosquitto,
        samba,
        sources,
        thing=unique_thing,
        # Small batches published at a bounded rate and a small outbox: reading keeps pace
        # with publishing, so every phase (read, commit, publish, acknowledge) is spread out.
        publish={"maxPublishesPerSecond": 40, "maxPayloadBytes": 16384},
        outbox={"maxBytes": 1024 * 1024, "minFreeDiskBytes": 0},
    )
    agent = FaultAgent(write_config(tmp_path, config), tmp_path / "agent.log")
    contents = {
        (name, path): csv_bytes(tmp_path, rows, start=i * 100_000, cols=5)
        for i, (_, name, path, rows) in enumerate(WORKLOAD)
    }
    expected: dict[Key, int] = {(name, path): rows for _, name, path, rows in WORKLOAD}
    folders = {s.name: s.folder for s in sources}
    sink = share_sink(samba, smb_folder)
    first_start = threading.Event()
    writer_errors: list[BaseException] = []

    def write_workload() -> None:
        try:
            first_start.wait(30)
            t0 = time.monotonic()
            for at, name, path, _rows in WORKLOAD:
                time.sleep(max(0.0, t0 + at - time.monotonic()))
                folder = folders[name].removeprefix(f"{smb_folder}/")
                sink.write(f"{folder}/{path}", contents[(name, path)])
        except BaseException as e:  # reported by the test
            writer_errors.append(e)
        finally:
            sink.close_all()

    kinds = list(KILL_KINDS)
    rng.shuffle(kinds)
    kills: list[Kill] = []
    received = Received()
    writer = threading.Thread(target=write_workload, name="workload", daemon=True)
    watch = ShareWatch({s.name: s.local(samba) for s in sources}, state)
    with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub, watch:
        writer.start()
        try:
            for run, kind in enumerate(kinds, start=1):
                agent.start()
                agent.wait_started(run)
                first_start.set()
                started = time.monotonic()
                if kind == "scan":
                    time.sleep(rng.uniform(0.0, 0.25))
                elif kind == "mid-file":
                    wait_until(lambda: partly_read(state), 6.0)
                    time.sleep(rng.uniform(0.0, 0.4))
                elif kind == "disposal":
                    wait_until(lambda: watch.seen_since(started), 6.0)  # noqa: B023
                    time.sleep(rng.uniform(0.0, 0.03))
                else:
                    time.sleep(rng.uniform(0.3, 3.0))
                doing = Kill(
                    kind,
                    time.monotonic() - started,
                    partly_read(state),
                    outbox_batches(state),
                    watch.seen_since(time.monotonic() - 0.1),
                )
                assert agent.alive, f"agent died by itself:\n{agent.log_text()[-3000:]}"
                agent.kill()
                kills.append(doing)
            writer.join(60)
            assert not writer_errors, writer_errors
            # The last run: everything must arrive and every file be disposed of.
            agent.start()
            agent.wait_started(len(kinds) + 1)  # SIGTERM before that would not be handled
            sub.wait_for(received.has_all(expected), timeout=120)
            wait_drained(state, [s.local(samba) for s in sources])
            agent.signal(signal.SIGTERM)
            assert agent.wait(15) == 0, agent.log_text()[-3000:]
        finally:
            agent.stop()
        received.update(sub.messages)

    report = "\n".join(f"  kill {i:2d}: {k}" for i, k in enumerate(kills, start=1))
    seen = Counter(k.kind for k in kills)
    print(f"{len(kills)} kills (seed {seed}): {dict(seen)}\n{report}")
    print(f"{received.copies} records received, {received.repeats} of them repeats")
    context = f"(FAULTS_SEED={seed})\n{report}"
    assert len(kills) >= 20
    # The moments covered what the issue asks for: start-up scan, mid-file, publishing,
    # disposal.
    assert any(k.after_start < 0.3 for k in kills), f"no kill during the start-up scan {context}"
    assert any(k.partly_read for k in kills), f"no kill in the middle of a file {context}"
    assert any(k.outbox for k in kills), f"no kill while batches were in flight {context}"
    assert any(k.after_disposal for k in kills), f"no kill right after a disposal {context}"

    problems = received.problems(expected)
    assert not problems, f"{problems} {context}"
    assert outbox_batches(state) == 0
    early = [
        why
        for v in watch.vanished
        if (why := v.early(len(contents[(v.source, v.path)]))) is not None
    ]
    assert not early, f"{early} {context}"
    assert sorted((v.source, v.path) for v in watch.vanished) == sorted(expected)
    archive = samba.share_path / smb_folder / "archive"
    for (name, path), data in contents.items():
        if name == "moved":  # moved, never modified
            assert (archive / path).read_bytes() == data, path
