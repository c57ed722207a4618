"""Completeness by watermark: no tower record goes out final before its context is in.

Simulated farm data (``edge-sim tower``, ground truth alongside) is delivered to a running
agent in an order that makes context lag the readings: the automation files of each hour after
that hour's tower files, and a site log that stalls for two hours and then catches up. Whatever
the order, no record is published final (``late: false``) with a join that a later record of
the same reading replaces, every late record names its ``pending`` streams, and once the
context is in, the last record of every reading is the truth's and final.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.agent.support import file_states, running_agent, until
from tests.farm.support import (
    contract,
    deliver,
    exact,
    farm_config,
    held_readings,
    hour_files,
    readings,
    settled,
    simulate_tower,
    tower_of,
)
from tests.infra.mosquitto import Broker, Collector

pytestmark = pytest.mark.infra

GRACE = 2.0


async def quiet(sub: Collector, seconds: float = 0.5) -> None:
    """Wait until nothing arrived for ``seconds`` (what was acknowledged was forwarded)."""
    count = -1
    while count != len(sub.messages):
        count = len(sub.messages)
        await asyncio.sleep(seconds)


@pytest.mark.timeout(180)
async def test_automation_files_after_their_hours_tower_files(
    tmp_path: Path, mosquitto: Broker, unique_thing: str
) -> None:
    """Each hour's automation files come after that hour's tower files: within the grace
    period on even hours (readings wait, then go out final), after it on odd hours (readings
    go out late with pending automation, then are corrected)."""
    sim, data, state = tmp_path / "sim", tmp_path / "farm", tmp_path / "state"
    simulate_tower(sim, "--seed", "11", "--days", "0.25", "--start", "2026-05-01T00:00:00Z")
    config = farm_config(data, state, mosquitto, unique_thing, graceSeconds=GRACE)
    for kind in ("seeding", "site"):
        for path in sorted((sim / kind).rglob("*.csv")):
            deliver(sim, data, path.relative_to(sim).as_posix())
    hours = range(4)
    delivered: set[str] = set()
    with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
        async with running_agent(config) as agent:
            for hour in hours:
                towers = hour_files(sim, "tower", hour)
                for relative in towers:
                    deliver(sim, data, relative)
                delivered |= set(towers)
                wanted = {p.removeprefix("tower/") for p in towers}

                def read(wanted: set[str] = wanted) -> bool:
                    return wanted <= {p for p, s in file_states(state).items() if s == "read"}

                await until(read, timeout=30, what=f"hour {hour}'s tower files read")
                # Its readings after the tower's last known state wait (held) for it.
                assert held_readings(state) > 0
                await asyncio.sleep(0.2 if hour % 2 == 0 else GRACE + 1.5)
                for relative in hour_files(sim, "automation", hour):
                    deliver(sim, data, relative)
            # The next hour's automation completes the last readings of hour 3.
            for relative in hour_files(sim, "automation", hours[-1] + 1):
                deliver(sim, data, relative)
            await until(lambda: settled(agent, state), timeout=60, what="everything published")
            await quiet(sub)
        tower = tower_of(sub.messages)

    count, late, corrections, finals = contract(tower)
    assert count == len(tower) - corrections
    assert late > 0, "odd hours' automation came after the grace period: late records expected"
    pending = {tuple(r["pending"]) for r in tower if r["late"] and r["site"] is not None}
    assert pending == {("automation",)}
    holes = sum(1 for r in finals if r["late"])  # before the first site reading: never final
    assert corrections >= late - holes  # each other late record is followed by a final one
    assert (problem := exact(sim, finals, delivered, "2026-05-01T04")) is None, problem


@pytest.mark.timeout(180)
async def test_a_site_log_that_stalls_then_catches_up(
    tmp_path: Path, mosquitto: Broker, unique_thing: str
) -> None:
    """Growing logs; the site log stops at 02:00 while the towers log on to 04:00, then the
    site station writes its backlog: readings after 02:00 go out late with pending site and
    are corrected, nothing before goes out late, and nothing goes out final too early."""
    sim, data, state = tmp_path / "sim", tmp_path / "farm", tmp_path / "state"
    simulate_tower(
        sim, "--seed", "12", "--days", "0.25", "--start", "2026-05-01T00:00:00Z", "--append"
    )
    config = farm_config(data, state, mosquitto, unique_thing, graceSeconds=GRACE)
    for source in config["sources"]:
        source.update(mode="append", lingerSeconds=0.2)
    logs = {
        p.relative_to(sim).as_posix(): p.read_text(encoding="utf-8").splitlines(keepends=True)
        for p in sim.rglob("*.csv")
    }

    def write_log(relative: str, before: str, *, start: int = 0) -> None:
        """Append the rows of a log from line ``start`` (0: the header) with ts < ``before``."""
        lines = logs[relative]
        rows = [line for i, line in enumerate(lines[start:], start) if i == 0 or line[:20] < before]
        target = data / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a", encoding="utf-8") as f:
            f.writelines(rows)

    stall, end = "2026-05-01T02:00:00Z", "2026-05-01T04:00:00Z"
    site = next(p for p in logs if p.startswith("site/"))
    towers = {p for p in logs if p.startswith("tower/")}
    for relative in logs:
        if relative.startswith(("seeding/", "automation/")):
            write_log(relative, "2026-05-01T04:10")
    write_log(site, stall)
    with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
        async with running_agent(config) as agent:
            for relative in sorted(towers):
                write_log(relative, end)
            # Readings after the last site reading wait, then go out late.
            await until(
                lambda: any(r["late"] for r in tower_of(sub.messages)),
                timeout=30,
                what="late records",
            )
            await until(lambda: held_readings(state) == 0, timeout=30, what="grace over")
            written = sum(1 for line in logs[site] if line[:20] < stall) + 1
            write_log(site, "2026-05-01T04:10", start=written)
            await until(lambda: settled(agent, state), timeout=60, what="everything published")
            await quiet(sub)
        tower = tower_of(sub.messages)

    _count, late, corrections, finals = contract(tower)
    assert {tuple(r["pending"]) for r in tower if r["late"]} == {("site",)}
    first = {key: records_[0] for key, records_ in readings(tower).items()}
    late_after = [r for r in first.values() if r["ts"] >= stall]
    assert late_after and all(r["late"] for r in late_after), "readings after the stall"
    early = [r for r in first.values() if r["late"] and r["ts"] < "2026-05-01T01:55:30Z"]
    assert all(r["site"] is None for r in early), "only readings in a hole of the site data"
    assert corrections == late - sum(1 for r in finals if r["late"])
    assert (problem := exact(sim, finals, towers, end)) is None, problem
