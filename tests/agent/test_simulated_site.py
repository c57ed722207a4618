"""The agent against the simulators' ground truth: a tower farm and factory machines, end to end.

Every data row the simulators wrote must be published exactly once with the values the truth
expects, or quarantined where the truth says it must be, through the builtin datasets and a
real Mosquitto.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from simulators.datasets import SOURCE_HINTS, builtin_dataset_mapping, cea_mapping
from simulators.truth import compare, load_truth
from tests.agent.support import outbox_depth, running_agent, until
from tests.farm.support import held_readings
from tests.infra.mosquitto import Broker

pytestmark = pytest.mark.infra


def _simulate(out: Path) -> None:
    common = [sys.executable, "-m", "simulators.cli"]
    subprocess.run(
        [
            *common,
            "tower",
            "--out",
            str(out),
            "--seed",
            "3",
            "--towers",
            "2",
            "--days",
            "2",
            "--start",
            "2026-03-28T00:00:00Z",
            "--faults",
            "missing,stuck,late,reorder,duplicate,half_written,bad_rows",
            "--quiet",
        ],
        check=True,
    )
    subprocess.run(
        [
            *common,
            "factory",
            "--out",
            str(out),
            "--seed",
            "3",
            "--hours",
            "4",
            "--start",
            "2026-10-25T00:00:00Z",
            "--quiet",
        ],
        check=True,
    )


def _config(out: Path, tmp_path: Path, broker: Broker, thing: str) -> dict[str, Any]:
    sources, datasets = [], {}
    for name, hint in SOURCE_HINTS.items():
        folder = out / hint.folder
        if not folder.is_dir():
            continue
        sources.append(
            {
                "name": name,
                "path": str(folder),
                "include": list(hint.include),
                "mode": hint.mode,
                "settleSeconds": 0.2,
                "rescanSeconds": 2,
                "dataset": name,
            }
        )
        datasets[name] = builtin_dataset_mapping(name)
    return {
        "thingName": thing,
        "stateDir": str(tmp_path / "state"),
        "sources": sources,
        "datasets": datasets,
        "cea": cea_mapping(graceSeconds=3),
        "publish": {
            "mqtt": {"host": broker.host, "port": broker.port},
            "maxPublishesPerSecond": None,
            "maxBytesPerSecond": None,
        },
        "logging": {"format": "text"},
    }


@pytest.mark.timeout(300)
async def test_simulated_site_matches_ground_truth(
    tmp_path: Path, mosquitto: Broker, unique_thing: str
) -> None:
    out = tmp_path / "site"
    _simulate(out)
    config = _config(out, tmp_path, mosquitto, unique_thing)
    with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
        async with running_agent(config) as agent:
            await until(
                lambda: (
                    all(r.idle.is_set() for r in agent.runners.values())
                    and outbox_depth(tmp_path / "state") == 0
                    and agent.dispatcher is not None
                    and agent.dispatcher.idle.is_set()
                    and held_readings(tmp_path / "state") == 0
                ),
                timeout=240,
                what="every file read and acknowledged",
            )
        messages = sub.messages
    published: dict[str, list[dict[str, Any]]] = {}
    quarantined: dict[str, list[dict[str, Any]]] = {}
    for topic, payload in messages:
        envelope = json.loads(payload)
        target = quarantined if topic.endswith("/quarantine") else published
        for record in envelope["records"]:
            target.setdefault(envelope["dataset"], []).append(
                {**record, "path": envelope["source"]["path"]}
            )
    truth = load_truth(out)
    reports = []
    expected = 0
    for name in config["datasets"]:
        diff = compare(
            truth.rows_for(name),
            published.get(name, []),
            quarantined=quarantined.get(name, []),
            datasets={name},
            prefix=SOURCE_HINTS[name].folder,
        )
        expected += diff.expected
        if not diff.ok:
            reports.append(f"--- {name}\n{diff}")
    assert not reports, "\n".join(reports)
    assert expected > 5_000
