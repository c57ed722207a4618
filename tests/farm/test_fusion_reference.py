"""The farm stage against a brute-force reference, whatever order the data arrives in.

Random site readings (with gaps), automation rows and seeding events (some cycles without a
Grow ID, some trays left empty) and random tower readings are delivered in random chunks and
random order through the real farm stages and a real state database, with farm worker steps in
between (its grace period long over, so readings without context go out late at once). At the
end, the last revision of every reading published must carry exactly the joins a linear scan
over all the data gives: the cycle whose [seededAt, harvestedAt) holds the reading, the latest
site reading at or before it within the tolerance, the automation state in force; and it is
final (``late: false``) exactly when the streams it waits for have reached its time, else
late with those streams ``pending``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from edge_agent.config.load import parse_config
from edge_agent.farm.service import Farm
from edge_agent.farm.timeline import mint_grow_id
from edge_agent.farm.worker import FarmWorker
from edge_agent.state.db import StateDB
from edge_agent.state.ledger import FileAdvance
from edge_agent.state.outbox import OutboxGauge
from edge_agent.state.writer import OutboxWriter
from simulators.datasets import builtin_dataset_mapping, cea_mapping
from simulators.recipe import DEFAULT_RECIPE, deviations

T0 = 1_780_000_000.0  # 2026-05-28
TOLERANCE = 600.0
TOWERS = ("tower-01", "tower-02")
TRAYS = ("tray-01", "tray-02", "tray-03")


def iso(ts: float) -> str:
    from datetime import UTC, datetime  # noqa: PLC0415

    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None).isoformat() + "Z"


@dataclass
class World:
    site: list[float]
    automation: dict[str, list[tuple[float, str]]]
    events: dict[tuple[str, str], list[tuple[float, str, str | None]]]
    readings: list[tuple[float, str, str, str, float]]  # ts, tower, station, tray, humidity


def make_world(rng: random.Random) -> World:
    horizon = 2 * 86_400
    site = []
    gap_from = rng.uniform(0, horizon)
    gap_to = gap_from + rng.uniform(0, 4 * 3600)
    t = 0.0
    while t < horizon:
        if not gap_from <= t < gap_to and rng.random() > 0.05:
            site.append(T0 + t + rng.randint(0, 59))
        t += 300
    automation = {
        tower: sorted(
            (T0 + rng.uniform(-600, horizon), rng.choice(("running", "irrigating", "fault")))
            for _ in range(rng.randint(0, 120))
        )
        for tower in TOWERS
    }
    events: dict[tuple[str, str], list[tuple[float, str, str | None]]] = {}
    for tower in TOWERS:
        for tray in TRAYS:
            t = rng.uniform(-2 * 86_400, 0)
            items = []
            while t < horizon:
                grow_id = None if rng.random() < 0.3 else f"G-{rng.randrange(10**6):06d}"
                items.append((T0 + t, "seeded", grow_id))
                t += rng.uniform(3 * 3600, 20 * 3600)
                if rng.random() < 0.8:
                    items.append((T0 + t, "harvested", grow_id))
                    t += rng.uniform(60, 6 * 3600)  # sometimes a tray stays empty a while
            events[(tower, tray)] = items
    readings = [
        (
            T0 + rng.uniform(-1800, horizon),
            rng.choice(TOWERS),
            rng.choice(("st-1", "st-2")),
            rng.choice(TRAYS),
            rng.choice((60.0, 60.0, 78.0, 85.0)),
        )
        for _ in range(400)
    ]
    return World(site, automation, events, readings)


def reference(world: World, ts: float, tower: str, tray: str) -> dict[str, Any]:
    """The joins by linear scan: what the agent must end up publishing."""
    before = [e for e in world.events[(tower, tray)] if e[0] <= ts]
    grow_id: str | None = None
    seeded_at = None
    if before:
        last = max(before, key=lambda e: e[0])
        if last[1] == "seeded":
            seeded_at = last[0]
            grow_id = last[2] or mint_grow_id(tower, tray, last[0])
    site = [s for s in world.site if s <= ts and ts - s <= TOLERANCE]
    states = [a for a in world.automation[tower] if a[0] <= ts]
    return {
        "growId": grow_id,
        "tagStatus": "tagged" if grow_id else "untracked",
        "dayOfCycle": math.floor((ts - seeded_at) / 86_400) if seeded_at is not None else None,
        "site": iso(max(site)) if site else None,
        "siteStale": not site,
        "automation": iso(max(states)[0]) if states else None,
    }


def reference_alerts(world: World, published: Any) -> set[tuple[Any, ...]]:
    """Runs of deviating readings per station lasting 15 min or more (DEFAULT_RECIPE)."""
    by_station: dict[tuple[str, str], list[tuple[float, list[str]]]] = {}
    for rec in published:
        ts = _epoch(rec["ts"])
        ref = reference(world, ts, rec["tower_id"], rec["tray_id"])
        values = {"humidity_pct": rec["humidity_pct"]}
        variables = [d["variable"] for d in deviations(DEFAULT_RECIPE, ref["dayOfCycle"], values)]
        by_station.setdefault((rec["tower_id"], rec["station_id"]), []).append((ts, variables))
    found: set[tuple[Any, ...]] = set()
    for (tower, station), readings in by_station.items():
        readings.sort()
        start: float | None = None
        last_ts = 0.0
        for ts, variables in [*readings, (math.inf, [])]:
            if "humidity_pct" in variables:
                start = ts if start is None else start
                last_ts = ts
                continue
            if start is not None and last_ts - start >= DEFAULT_RECIPE["minDeviationSeconds"]:
                ended = iso(last_ts) if ts != math.inf else None
                found.add((tower, station, "humidity_pct", iso(start), ended))
            start = None
    return found


def _config(tmp_path: Path) -> Any:
    sources = [
        {"name": name, "path": str(tmp_path / name), "dataset": name}
        for name in ("tower", "site", "automation", "seeding")
    ]
    return parse_config(
        {
            "thingName": "gw",
            "stateDir": str(tmp_path / "state"),
            "sources": sources,
            "datasets": {
                n: builtin_dataset_mapping(n) for n in ("tower", "site", "automation", "seeding")
            },
            "cea": cea_mapping(graceSeconds=30),
        }
    )


@pytest.mark.parametrize("seed", range(10))
def test_joins_after_any_arrival_order_equal_the_brute_force_reference(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    world = make_world(rng)
    config = _config(tmp_path)
    farm = Farm(config)
    state_dir = tmp_path / "state"
    db = StateDB(state_dir)
    farm.load(db)
    gauge = OutboxGauge(0, 1 << 40)
    writer = OutboxWriter(db, gauge, state_dir=state_dir, min_free_disk_bytes=0)
    ledger = writer.ledger
    worker = FarmWorker(
        config,
        farm.state,
        farm.enricher,
        OutboxWriter(StateDB(state_dir), gauge, state_dir=state_dir, min_free_disk_bytes=0),
    )

    deliveries: list[tuple[str, list[dict[str, Any]]]] = []

    def chunks(kind: str, items: list[dict[str, Any]]) -> None:
        while items:
            n = rng.randint(1, 40)
            deliveries.append((kind, items[:n]))
            items = items[n:]

    chunks("site", [{"ts": iso(t), "site_id": "site-01", "power_kw": 1.0} for t in world.site])
    for tower, states in world.automation.items():
        chunks("automation", [{"ts": iso(t), "tower_id": tower, "state": s} for t, s in states])
    for (tower, tray), events in world.events.items():
        chunks(
            "seeding",
            [
                {"ts": iso(t), "tower_id": tower, "tray_id": tray, "event": e, "grow_id": g}
                for t, e, g in events
            ],
        )
    chunks(
        "tower",
        [
            {"ts": iso(t), "tower_id": w, "station_id": s, "tray_id": y, "humidity_pct": h}
            for t, w, s, y, h in world.readings
        ],
    )
    rng.shuffle(deliveries)

    latest: dict[tuple[str, int], dict[str, Any]] = {}
    now = 2e9  # far past every hold: readings without context go out late at once
    for file_no, (kind, items) in enumerate(deliveries):
        record = ledger.create(kind, f"{kind}/{file_no}.csv")
        stage = farm.open_stage(kind, record, {})
        for line, item in enumerate(items, start=2):
            row = {**item, "line": line}
            out = stage.take(row, line)
            if kind == "tower" and out is not None:
                # Published at once, in the file's batch.
                latest[(record.path, line)] = orjson.loads(out)
        below = len(items) + 2
        writer.commit(
            [],
            advance=(
                record.id,
                FileAdvance(
                    offset=1,
                    next_line=below,
                    state="read",
                    size=1,
                    mtime_ns=1,
                    published=len(items),
                ),
            ),
            writes=lambda conn, stage=stage, below=below: stage.write(conn, below),
        )
        stage.committed(below)
        if rng.random() < 0.5:
            worker.step(now)
    worker.step(now)
    worker.step(now)

    # Then what the worker published (released late, or corrected): the last revision wins.
    for stored in db.query("SELECT payload FROM outbox WHERE topic NOT LIKE '%alerts'"):
        envelope = orjson.loads(stored["payload"])
        for rec in envelope["records"]:
            key = (envelope["source"]["path"], rec["line"])
            if key not in latest or rec.get("revision", 0) > latest[key].get("revision", 0):
                latest[key] = rec
    assert len(latest) == len(world.readings)
    assert not db.query("SELECT 1 FROM farm_held")
    mismatches = []
    for (path, line), rec in latest.items():
        expected = reference(world, _epoch(rec["ts"]), rec["tower_id"], rec["tray_id"])
        got = {
            "growId": rec["growId"],
            "tagStatus": rec["tagStatus"],
            "dayOfCycle": rec["dayOfCycle"],
            "site": rec["site"]["ts"] if rec["site"] else None,
            "siteStale": rec["siteStale"],
            "automation": rec["automation"]["ts"] if rec["automation"] else None,
        }
        # Complete (late false) exactly when every stream waited for has reached the reading:
        # the site with a reading within the tolerance, the tower's automation.
        ts = _epoch(rec["ts"])
        pending = []
        if expected["site"] is None or max(world.site) < ts:
            pending.append("site")
        if not world.automation[rec["tower_id"]] or world.automation[rec["tower_id"]][-1][0] < ts:
            pending.append("automation")
        expected["pending"] = pending
        got["pending"] = rec.get("pending", []) if rec["late"] else []
        if got != expected or ("pending" in rec and not rec["late"]):
            mismatches.append((path, line, rec["ts"], expected, got))
    assert not mismatches, mismatches[:5]

    # Alerts: the last message of each alert (withdrawn ones dropped) against runs recomputed
    # from the final readings in time order, as the simulator's truth defines them.
    last: dict[str, dict[str, Any]] = {}
    for stored in db.query("SELECT payload FROM outbox WHERE topic LIKE '%alerts' ORDER BY seq"):
        alert = orjson.loads(stored["payload"])
        last[alert["alertId"]] = alert
    got_alerts = {
        (a["towerId"], a["stationId"], a["variable"], a["since"], a.get("until"))
        for a in last.values()
        if a["event"] != "withdraw"
    }
    assert got_alerts == reference_alerts(world, latest.values())


def _epoch(ts: str) -> float:
    from datetime import datetime  # noqa: PLC0415

    return datetime.fromisoformat(ts).timestamp()
