"""SIGKILL at random moments while the agent runs a farm: tower files hour by hour, each
hour's automation files after them (sometimes after the grace period), a real Mosquitto.

Proves, across the kills and restarts: no final record (``late: false``) is repeated under
another batchId, nor is any record of one revision; no correction is lost (the last record of
every reading is final and equals the simulator's truth); no record went out final with a
join a later record replaced (tests/farm/support.py, ``completeness_problems``).
The seed is printed; ``FAULTS_SEED=<n>`` replays a run's schedule (docs/faults.md).
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.agent.support import file_states, write_config
from tests.farm.support import (
    contract,
    deliver,
    exact,
    farm_config,
    held_readings,
    hour_files,
    simulate_tower,
    tower_of,
)
from tests.faults.support import FaultAgent, outbox_batches, seed_from_env, wait_until
from tests.infra.mosquitto import Broker, Message

pytestmark = [pytest.mark.infra, pytest.mark.slow]

HOURS = 6
GRACE = 1.5
KILLS = 12


def batch_ids(messages: list[Message]) -> dict[tuple[str, int, int], set[str]]:
    """The batchIds each tower record (path, line, revision) arrived under."""
    found: dict[tuple[str, int, int], set[str]] = {}
    for topic, payload in messages:
        if not topic.endswith("/tower"):
            continue
        envelope = json.loads(payload)
        for record in envelope["records"]:
            key = (envelope["source"]["path"], record["line"], record.get("revision", 0))
            found.setdefault(key, set()).add(envelope["batchId"])
    return found


@pytest.mark.timeout(300)
def test_sigkill_during_a_farm_run_repeats_no_final_record_and_loses_no_correction(
    tmp_path: Path, mosquitto: Broker, unique_thing: str
) -> None:
    seed = seed_from_env()
    rng = random.Random(seed)
    print(f"\nFAULTS_SEED={seed}")
    sim, data, state = tmp_path / "sim", tmp_path / "farm", tmp_path / "state"
    simulate_tower(sim, "--seed", "21", "--days", "0.3", "--start", "2026-05-01T00:00:00Z")
    config: dict[str, Any] = farm_config(data, state, mosquitto, unique_thing, graceSeconds=GRACE)
    # Small payloads at a bounded rate: kills land between read, commit, publish and PUBACK.
    config["publish"].update(maxPayloadBytes=8192, maxPublishesPerSecond=60)
    agent = FaultAgent(write_config(tmp_path, config), tmp_path / "agent.log")
    for kind in ("seeding", "site"):
        for path in sorted((sim / kind).rglob("*.csv")):
            deliver(sim, data, path.relative_to(sim).as_posix())
    delivered: set[str] = set()
    automation: list[str] = []  # delivered so far, in order (paths inside the source)
    first_start = threading.Event()
    errors: list[BaseException] = []
    pace = random.Random(seed + 1)  # the delivery thread's own: a run replays exactly

    def deliver_hours() -> None:
        """An hour of tower files, then (within or after the grace period) its automation."""
        try:
            first_start.wait(30)
            for hour in range(HOURS):
                towers = hour_files(sim, "tower", hour)
                for relative in towers:
                    deliver(sim, data, relative)
                delivered.update(towers)
                if hour in (1, 4):
                    # Always after the grace period: late records, then corrections (a kill
                    # in between gives held readings a fresh grace period: wait them out).
                    wanted = [p.removeprefix("tower/") for p in towers]
                    wait_until(
                        lambda: read_by_agent(wanted) and held_readings(state) == 0,  # noqa: B023
                        30.0,
                    )
                else:
                    time.sleep(pace.choice((0.3, GRACE + 1.0)))
                for relative in hour_files(sim, "automation", hour):
                    deliver(sim, data, relative)
                    automation.append(relative.removeprefix("automation/"))
                time.sleep(pace.uniform(0.5, 2.0))
            for relative in hour_files(sim, "automation", HOURS):  # the last hour's tail
                deliver(sim, data, relative)
        except BaseException as e:  # reported by the test
            errors.append(e)

    def read_by_agent(paths: list[str]) -> bool:
        states = file_states(state) if (state / "edge-agent.db").exists() else {}
        return bool(paths) and all(states.get(path) == "read" for path in paths)

    writer = threading.Thread(target=deliver_hours, name="delivery", daemon=True)
    moments: list[str] = []
    held_at_kill = 0
    with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
        writer.start()
        try:
            run = 0
            while run < KILLS or writer.is_alive():  # kills all along the delivery
                run += 1
                agent.start()
                agent.wait_started(run)
                first_start.set()
                if rng.random() < 0.5:
                    # Right after context was committed: the corrections it makes due are
                    # known only in memory until the farm worker commits them.
                    seen = len(automation)
                    wait_until(lambda: len(automation) > seen, 4.0)  # noqa: B023
                    wait_until(lambda: read_by_agent(automation[seen:]), 4.0)  # noqa: B023
                    time.sleep(rng.uniform(0.0, 0.03))
                else:
                    time.sleep(rng.uniform(0.2, 2.5))
                assert agent.alive, f"agent died by itself:\n{agent.log_text()[-3000:]}"
                held = held_readings(state)
                held_at_kill += held > 0
                moments.append(f"kill {run:2d}: held {held}, outbox {outbox_batches(state)}")
                agent.kill()
            writer.join(60)
            assert not errors, errors
            agent.start()
            agent.wait_started(run + 1)
            expected = sum(
                len((sim / path).read_text(encoding="utf-8").splitlines()) - 1 for path in delivered
            )

            def every_reading(messages: list[Message]) -> bool:
                return len({(r["path"], r["line"]) for r in tower_of(messages)}) >= expected

            sub.wait_for(every_reading, timeout=120)
            # Then until nothing is held or waiting, and the last corrections arrived.
            seen = -1
            while seen != len(sub.messages):
                seen = len(sub.messages)
                assert wait_until(
                    lambda: outbox_batches(state) == 0 and held_readings(state) == 0, 60
                ), agent.log_text()[-3000:]
                time.sleep(2.0)
            agent.signal(signal.SIGTERM)
            assert agent.wait(20) == 0, agent.log_text()[-3000:]
        finally:
            agent.stop()
        messages = list(sub.messages)

    context = f"(FAULTS_SEED={seed})\n" + "\n".join(moments)
    print(context)
    repeated = {k: ids for k, ids in batch_ids(messages).items() if len(ids) > 1}
    assert not repeated, f"records repeated under another batchId: {list(repeated)[:5]} {context}"
    tower = tower_of(messages)
    count, late, corrections, finals = contract(tower)
    assert count == expected, context
    assert held_at_kill, f"no kill while readings were held {context}"
    assert late > 0, "automation after the grace period: late records expected"
    assert corrections > 0
    problem = exact(sim, finals, delivered, "2026-05-02")
    assert problem is None, f"{problem} {context}"
