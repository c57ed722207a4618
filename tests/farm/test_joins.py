"""The reading pass's cached joins (``farm/joins.py``) against the farm worker's plain ones.

Random context arrives in random chunks while random readings (values in and out of band,
missing, NaN, text, booleans) are taken by one tower stage, so its cache is renewed again and
again; every reading's published bytes, completeness and signature must be exactly what
``Enricher.join`` gives for the same state.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from edge_agent.batcher import encode
from edge_agent.config.load import parse_config
from edge_agent.farm.records import AutomationState, SeedingEvent, SiteReading, TowerReading
from edge_agent.farm.service import Farm
from edge_agent.farm.stages import TowerStage
from simulators.datasets import builtin_dataset_mapping, cea_mapping
from tests.farm.test_fusion_reference import TOWERS, TRAYS, iso, make_world

VARIABLES = ("air_temp_c", "humidity_pct", "co2_ppm", "water_ph", "water_temp_c")
ODD_VALUES = (None, math.nan, "n/a", True, 0, -5.5, 10**6)


def _farm(tmp_path: Path, wait_for: list[str]) -> Farm:
    names = ("tower", "site", "automation", "seeding")
    config = parse_config(
        {
            "thingName": "gw",
            "stateDir": str(tmp_path / "state"),
            "sources": [{"name": n, "path": str(tmp_path / n), "dataset": n} for n in names],
            "datasets": {n: builtin_dataset_mapping(n) for n in names},
            "cea": cea_mapping(graceSeconds=0, waitFor=wait_for),
        }
    )
    return Farm(config)


def _reading(rng: random.Random, ts: float) -> dict[str, Any]:
    record: dict[str, Any] = {
        "ts": iso(ts),
        "tower_id": rng.choice(TOWERS),
        "station_id": rng.choice(("st-1", "st-2")),
        "tray_id": rng.choice(TRAYS),
    }
    for name in VARIABLES:
        roll = rng.random()
        if roll < 0.05:
            continue  # the column is missing
        if roll < 0.15:
            record[name] = rng.choice(ODD_VALUES)
        else:
            record[name] = round(rng.uniform(0, 2000) if roll < 0.3 else rng.uniform(6, 7), 2)
    return record


def _expected(farm: Farm, record: dict[str, Any]) -> tuple[bytes, str]:
    """What the plain join publishes for ``record`` now (grace 0: late at once), its sig."""
    reading = TowerReading.from_record(record)
    joined = farm.enricher.join(record, reading)
    fields: dict[str, Any] = {**joined.fields, "late": not joined.complete}
    if joined.pending:
        fields["pending"] = list(joined.pending)
    return encode({**record, **fields}), joined.sig


@pytest.mark.parametrize("seed", range(6))
def test_cached_joins_equal_the_plain_joins_whatever_arrives_between_readings(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    world = make_world(rng)
    wait_for = rng.choice([["site", "automation"], ["site", "automation", "seeding"], []])
    farm = _farm(tmp_path, wait_for)
    context: list[tuple[str, Any]] = [
        ("site", SiteReading(t, "site-01", {"power_kw": 1.0, "note": rng.choice(("a", None))}))
        for t in world.site
    ]
    for tower, states in world.automation.items():
        context += [("automation", AutomationState(t, tower, s, {"state": s})) for t, s in states]
    for (tower, tray), events in world.events.items():
        context += [("seeding", SeedingEvent(t, tower, tray, e, g)) for t, e, g in events]
    rng.shuffle(context)
    apply = {
        "site": farm.state.add_site,
        "automation": farm.state.add_automation,
        "seeding": farm.state.add_cycle_events,
    }
    stage = TowerStage(
        farm.enricher, lambda: None, file_ref=1, version=1, units={}, grace_seconds=0
    )
    line = 1
    checked = late = 0
    while context or line < 2_000:
        for _ in range(rng.randint(0, 30)):
            if context:
                kind, item = context.pop()
                apply[kind]([item])
        # Readings in time order, as a station's file holds them, a few at the same time.
        start = rng.uniform(-1800, 2 * 86_400)
        for i in range(rng.randint(1, 40)):
            line += 1
            record = _reading(rng, world.site[0] + start + 60 * (i // 3))
            record["line"] = line
            expected, sig = _expected(farm, record)
            published = stage.take(dict(record), line)
            assert published == expected, (record, published, expected)
            row = stage._sent[record["tower_id"]].rows[-1]
            assert row[4] == sig
            assert row[5] == (orjson.loads(expected)["deviations"] or None)
            checked += 1
            late += orjson.loads(expected)["late"]
    assert checked >= 2_000
    if wait_for:
        assert 0 < late < checked
