"""Ten days of a two-tower farm with every fault, through the agent, against the ground truth.

``edge-sim tower --days 10 --faults all`` writes late and out-of-order files, a three-hour site
gap, a tray left without a cycle, a stuck and a drifting sensor, bad rows, copies and a half
written file. The agent reads the four farm datasets (stopped and restarted in the middle) and
publishes to a real Mosquitto. Every reading's growId, tagStatus, dayOfCycle, site and
automation joins and deviations must be the truth's, and the alerts exactly the truth's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simulators.datasets import SOURCE_HINTS
from simulators.truth import compare, load_truth
from tests.agent.support import running_agent, until
from tests.farm.support import (
    FARM_DATASETS,
    alert_states,
    farm_config,
    latest_revisions,
    quarantined,
    records,
    settled,
    simulate_tower,
)
from tests.infra.mosquitto import Broker

pytestmark = pytest.mark.infra


def _truth_alerts(truth_alerts: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    return {
        (
            a["towerId"],
            a["stationId"],
            a["variable"],
            a["from"],
            None if a["ongoing"] else a["to"],
        )
        for a in truth_alerts
    }


def _agent_alerts(states: dict[str, dict[str, Any]]) -> set[tuple[Any, ...]]:
    found = set()
    for alert in states.values():
        if alert["event"] == "withdraw":
            continue
        until_ = alert["until"] if alert["event"] == "close" else None
        found.add((alert["towerId"], alert["stationId"], alert["variable"], alert["since"], until_))
    return found


@pytest.mark.timeout(400)
async def test_ten_days_with_every_fault_and_a_restart_match_the_truth(
    tmp_path: Path, mosquitto: Broker, unique_thing: str
) -> None:
    data, state = tmp_path / "farm", tmp_path / "state"
    simulate_tower(
        data, "--seed", "5", "--towers", "2", "--days", "10", "--start",
        "2026-05-01T00:00:00Z", "--faults", "all",
    )  # fmt: skip
    config = farm_config(data, state, mosquitto, unique_thing)
    truth = load_truth(data)
    with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
        async with running_agent(config) as agent:
            await until(
                lambda: agent.stats.source("tower").rows_published > 6000,
                timeout=120,
                what="a third of the tower readings read",
            )
        async with running_agent(config) as agent:
            await until(lambda: settled(agent, state), timeout=240, what="everything published")
        messages = sub.messages

    published, bad = records(messages), quarantined(messages)
    tower, corrections = latest_revisions(published.get("tower", []))
    reports = []
    expected = 0
    for name in FARM_DATASETS:
        diff = compare(
            truth.rows_for(name),
            tower if name == "tower" else published.get(name, []),
            quarantined=bad.get(name, []),
            datasets={name},
            prefix=SOURCE_HINTS[name].folder,
        )
        expected += diff.expected
        if not diff.ok:
            reports.append(f"--- {name}\n{diff}")
    assert not reports, "\n".join(reports)
    assert expected > 25_000
    # Everything was on disk before the agent started: context is read first, so nothing
    # needed correcting, even across the restart.
    assert corrections == 0
    states = alert_states(messages)
    assert _agent_alerts(states) == _truth_alerts(truth.alerts)
    assert truth.alerts, "the drift fault should raise at least one alert"
    assert not [a for a in states.values() if a["event"] == "withdraw"]
    late = [r for r in tower if r["late"]]
    assert late, "the site gap leaves readings without site data: published late"
    assert all(r["siteStale"] for r in late if r["site"] is None)
