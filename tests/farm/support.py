"""Helpers for the farm tests: a farm agent configuration, and what a subscriber saw of it."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from simulators.datasets import SOURCE_HINTS, builtin_dataset_mapping, cea_mapping
from simulators.truth import compare, load_truth
from tests.agent.support import outbox_depth
from tests.infra.mosquitto import Broker, Message

FARM_DATASETS = ("tower", "seeding", "automation", "site")


def simulate_tower(out: Path, *args: str) -> None:
    """``edge-sim tower --out OUT ARGS`` (batch mode unless ARGS say otherwise)."""
    subprocess.run(
        [sys.executable, "-m", "simulators.cli", "tower", "--out", str(out), "--quiet", *args],
        check=True,
    )


def farm_config(data: Path, state: Path, broker: Broker, thing: str, **cea: Any) -> dict[str, Any]:
    """An agent configuration reading the four farm datasets under ``data``."""
    sources = []
    for name in FARM_DATASETS:
        hint = SOURCE_HINTS[name]
        folder = data / hint.folder
        folder.mkdir(parents=True, exist_ok=True)
        sources.append(
            {
                "name": name,
                "path": str(folder),
                "include": list(hint.include),
                "mode": hint.mode,
                "settleSeconds": 0.2,
                "rescanSeconds": 1,
                "dataset": name,
            }
        )
    return {
        "thingName": thing,
        "stateDir": str(state),
        "sources": sources,
        "datasets": {name: builtin_dataset_mapping(name) for name in FARM_DATASETS},
        "cea": cea_mapping(**{"graceSeconds": 1, **cea}),
        "publish": {
            "mqtt": {"host": broker.host, "port": broker.port},
            "maxPublishesPerSecond": None,
            "maxBytesPerSecond": None,
        },
        "logging": {"format": "text"},
        "health": {"port": None, "heartbeatSeconds": None},
    }


def held_readings(state_dir: Path) -> int:
    """Tower readings the farm stage still holds (waiting for context)."""
    path = state_dir / "edge-agent.db"
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT COUNT(*) FROM farm_held").fetchone()
        return int(row[0])


def records(messages: list[Message]) -> dict[str, list[dict[str, Any]]]:
    """Every published record by dataset, each with its source ``path`` (data topics only)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for topic, payload in messages:
        if topic.endswith(("/quarantine", "/alerts", "/status")):
            continue
        envelope = json.loads(payload)
        for record in envelope["records"]:
            out.setdefault(envelope["dataset"], []).append(
                {**record, "path": envelope["source"]["path"]}
            )
    return out


def quarantined(messages: list[Message]) -> dict[str, list[dict[str, Any]]]:
    """Every quarantine entry by dataset, with its source ``path``."""
    out: dict[str, list[dict[str, Any]]] = {}
    for topic, payload in messages:
        if topic.endswith("/quarantine"):
            envelope = json.loads(payload)
            for entry in envelope["records"]:
                out.setdefault(envelope["dataset"], []).append(
                    {**entry, "path": envelope["source"]["path"]}
                )
    return out


def latest_revisions(tower: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The last revision of each reading (corrections replace it), and how many corrections."""
    final: dict[tuple[str, int], dict[str, Any]] = {}
    corrections = 0
    for record in tower:
        key = (record["path"], record["line"])
        revision = record.get("revision", 0)
        if revision:
            corrections += 1
        if key not in final or revision > final[key].get("revision", 0):
            final[key] = record
        elif revision == final[key].get("revision", 0) and record is not final[key]:
            # The same revision twice is a duplicate the truth comparison must see.
            final[(record["path"], -record["line"])] = record
    return list(final.values()), corrections


def alert_states(messages: list[Message]) -> dict[str, dict[str, Any]]:
    """The last alert message per alertId (open, close or withdrawn)."""
    states: dict[str, dict[str, Any]] = {}
    for topic, payload in messages:
        if topic.endswith("/alerts"):
            alert = json.loads(payload)
            states[alert["alertId"]] = alert
    return states


# Every join a published tower record carries (``late``, ``pending`` and ``revision`` aside).
JOINS = ("growId", "tagStatus", "dayOfCycle", "phase", "deviations", "site", "siteStale",
         "automation")  # fmt: skip


def readings(tower: list[dict[str, Any]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """Every record published for each reading (source path and line), in revision order;
    the same record twice (a batch re-sent with its batchId) is kept once."""
    found: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for record in tower:
        copies = found.setdefault((record["path"], record["line"]), [])
        if record not in copies:  # a batch re-sent after a crash (same batchId) counts once
            copies.append(record)
    for records_ in found.values():
        records_.sort(key=lambda r: r.get("revision", 0))
    return found


def completeness_problems(
    tower: list[dict[str, Any]], wait_for: tuple[str, ...] = ("site", "automation")
) -> list[str]:
    """What breaks the completeness contract (docs/farm.md): a record published final
    (``late: false``) whose joins a later record of the same reading replaces; a late record
    without its ``pending`` streams (or naming one not waited for); a reading whose last record
    is not final, unless it lies in a hole of the site data (no site reading within the
    tolerance: never final, a late site file could fill it); a final record with ``pending``;
    two records of one revision."""
    problems = []
    for (path, line), records_ in readings(tower).items():
        where = f"{path}:{line}"
        last = records_[-1]
        if last["late"] and not (last.get("pending") == ["site"] and last["site"] is None):
            problems.append(f"{where}: last record still late, pending {last.get('pending')}")
        revisions = [r.get("revision", 0) for r in records_]
        if len(set(revisions)) != len(revisions):
            problems.append(f"{where}: revisions {revisions} (a repeat under another batch)")
        for record in records_:
            pending = record.get("pending")
            if record["late"]:
                if not pending or not set(pending) <= set(wait_for):
                    problems.append(f"{where}: late record with pending {pending}")
                continue
            if pending is not None:
                problems.append(f"{where}: final record with pending {pending}")
            changed = [k for k in JOINS if record.get(k) != last.get(k)]
            if changed:
                problems.append(
                    f"{where}: revision {record.get('revision', 0)} went out final, and "
                    f"revision {last.get('revision', 0)} replaced its {', '.join(changed)}"
                )
    return problems


def settled(agent: Any, state: Path) -> bool:
    """Every file read, nothing held, the outbox empty, the dispatcher and worker idle."""
    return (
        all(r.idle.is_set() for r in agent.runners.values())
        and held_readings(state) == 0
        and outbox_depth(state) == 0
        and agent.dispatcher is not None
        and agent.dispatcher.idle.is_set()
        and agent.farm_worker is not None
        and agent.farm_worker.idle.is_set()
    )


# --------------------------------------------------------------------------- delivering a run


def deliver(sim: Path, data: Path, relative: str) -> None:
    """Put one simulated file in place as a station would (a temporary name, then rename)."""
    target = data / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_suffix(".part")
    shutil.copyfile(sim / relative, temp)
    temp.rename(target)


def hour_files(sim: Path, kind: str, hour: int) -> list[str]:
    """The simulated interval files of one dataset kind for hour ``hour`` of 2026-05-01."""
    name = f"20260501T{hour:02d}.csv"
    return sorted(p.relative_to(sim).as_posix() for p in (sim / kind).rglob(name))


def tower_of(messages: list[Message]) -> list[dict[str, Any]]:
    """The tower records of what a subscriber received."""
    return records(messages).get("tower", [])


def exact(sim: Path, finals: list[dict[str, Any]], files: set[str], before: str) -> str | None:
    """None when the last records equal the truth's rows of ``files`` (rows before ``before``,
    an ISO 8601 UTC prefix: such strings order as the times do); else the difference."""
    truth = load_truth(sim)
    rows = [r for r in truth.rows_for("tower") if r["file"] in files and r["ts"] < before]
    diff = compare(rows, finals, datasets={"tower"}, prefix=SOURCE_HINTS["tower"].folder)
    return None if diff.ok else str(diff)


def contract(tower: list[dict[str, Any]]) -> tuple[int, int, int, list[dict[str, Any]]]:
    """Check the completeness contract (:func:`completeness_problems`, fails the test) and
    give (readings, late records, corrections, the last record of each reading)."""
    problems = completeness_problems(tower)
    assert not problems, problems[:10]
    found = readings(tower)
    late = sum(1 for rs in found.values() for r in rs if r["late"])
    corrections = sum(1 for rs in found.values() for r in rs if r.get("revision"))
    print(f"\n{len(found)} readings, {late} late records, {corrections} corrections")
    return len(found), late, corrections, [rs[-1] for rs in found.values()]
