"""Context that arrives after the readings: grace period, late records, corrections, alerts.

Files are dropped one by one into the four farm folders of a running agent publishing to a
real Mosquitto, in the order a slow site station or a late seeding file would deliver them.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.agent.support import running_agent, until
from tests.farm.support import farm_config, held_readings
from tests.infra.mosquitto import Broker, Collector

pytestmark = pytest.mark.infra

TOWER_HEADER = (
    "timestamp,tower_id,station_id,tray_id,height_mm,weight_kg,evenness_pct,water_level_mm,"
    "water_ph,water_temp_c,air_temp_c,humidity_pct,co2_ppm"
)
SITE_HEADER = (
    "timestamp,site_id,outdoor_temp_c,outdoor_humidity_pct,solar_w_m2,wind_m_s,"
    "energy_kwh_total,power_kw"
)
AUTOMATION_HEADER = (
    "timestamp,tower_id,state,conveyor_position,pump_on,lights_on,irrigation_ml,fault_code"
)
SEEDING_HEADER = "timestamp,tower_id,tray_id,event,grow_id,seed_kg,seed_lot"


def write(path: Path, header: str, rows: list[str]) -> None:
    """Write a complete file atomically (as a station uploading it would: temp, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".part")
    temp.write_text(header + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    temp.rename(path)


def reading(minute: int, *, humidity: float = 62.0, tray: str = "tray-01") -> str:
    return (
        f"2026-05-01T01:{minute:02d}:12Z,tower-01,st-1,{tray},50.0,3.1,90.0,100.0,"
        f"6.4,19.0,21.0,{humidity},900"
    )


def site(minute: int, hour: int = 1) -> str:
    return f"2026-05-01T{hour:02d}:{minute:02d}:30Z,site-01,12.0,70.0,200.0,3.0,1500.0,4.2"


def tower_records(sub: Collector) -> list[dict[str, Any]]:
    found = []
    for topic, payload in sub.messages:
        if topic.endswith("/tower"):
            found += json.loads(payload)["records"]
    return found


def alerts(sub: Collector) -> list[dict[str, Any]]:
    return [json.loads(p) for t, p in sub.messages if t.endswith("/alerts")]


def automation(hour: int, minutes: range = range(0, 60, 10)) -> list[str]:
    """The tower's state every ten minutes of an hour (the automation software's heartbeat)."""
    return [f"2026-05-01T{hour:02d}:{m:02d}:00Z,tower-01,running,3,false,true,0," for m in minutes]


async def context(data: Path, *, grow_id: str = "G-0501-01") -> None:
    """Seeding of tray-01, and the tower's state through 02:00 (complete for the readings)."""
    write(
        data / "automation/tower-01/20260501T00.csv",
        AUTOMATION_HEADER,
        automation(0) + automation(1) + automation(2, range(0, 1)),
    )
    write(
        data / "seeding/tower-01/20260501T00.csv",
        SEEDING_HEADER,
        [f"2026-05-01T00:01:00Z,tower-01,tray-01,seeded,{grow_id},5.2,L-77"],
    )


@pytest.mark.timeout(60)
async def test_readings_wait_then_go_out_late_and_are_corrected_when_site_data_comes(
    tmp_path: Path, mosquitto: Broker, unique_thing: str
) -> None:
    data, state = tmp_path / "farm", tmp_path / "state"
    config = farm_config(data, state, mosquitto, unique_thing, graceSeconds=1.5)
    await context(data)
    with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
        async with running_agent(config):
            write(
                data / "tower/tower-01/st-1/20260501T01.csv",
                TOWER_HEADER,
                [reading(5), reading(10)],
            )
            await until(lambda: len(tower_records(sub)) == 2, timeout=15, what="late readings")
            first = tower_records(sub)
            assert [r["late"] for r in first] == [True, True]
            assert [r["pending"] for r in first] == [["site"], ["site"]]
            assert all(r["site"] is None and r["siteStale"] for r in first)
            assert [r["growId"] for r in first] == ["G-0501-01"] * 2
            assert first[0]["automation"]["state"] == "running"
            assert first[0]["dayOfCycle"] == 0
            assert "revision" not in first[0]

            write(data / "site/site-01/20260501T01.csv", SITE_HEADER, [site(0), site(5), site(10)])
            await until(lambda: len(tower_records(sub)) == 4, timeout=15, what="corrections")
            corrections = tower_records(sub)[2:]
            assert sorted(r["line"] for r in corrections) == [2, 3]
            for record in corrections:
                assert record["revision"] == 1
                assert record["late"] is False
                assert "pending" not in record
                assert record["siteStale"] is False
                assert record["site"]["power_kw"] == 4.2
            by_line = {r["line"]: r for r in corrections}
            assert by_line[2]["site"]["ts"] == "2026-05-01T01:00:30Z"
            assert by_line[2]["site"]["ageSeconds"] == 282  # 01:05:12 - 01:00:30
            assert by_line[3]["site"]["ts"] == "2026-05-01T01:05:30Z"


@pytest.mark.timeout(60)
async def test_a_seeding_file_read_after_the_readings_corrects_their_grow_id(
    tmp_path: Path, mosquitto: Broker, unique_thing: str
) -> None:
    data, state = tmp_path / "farm", tmp_path / "state"
    config = farm_config(data, state, mosquitto, unique_thing, graceSeconds=1)
    write(data / "automation/tower-01/20260501T00.csv", AUTOMATION_HEADER,
          automation(0) + automation(1))  # fmt: skip
    write(data / "site/site-01/20260501T01.csv", SITE_HEADER, [site(m) for m in range(0, 60, 5)])
    with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
        async with running_agent(config):
            write(data / "tower/tower-01/st-1/20260501T01.csv", TOWER_HEADER, [reading(20)])
            await until(lambda: len(tower_records(sub)) == 1, timeout=15, what="the reading")
            [untracked] = tower_records(sub)
            assert (untracked["growId"], untracked["tagStatus"]) == (None, "untracked")
            assert untracked["late"] is False  # its joins were final: only the tag was unknown
            # The seeding station's file arrives later, without a Grow ID: one is minted.
            write(data / "seeding/tower-01/20260501T01.csv", SEEDING_HEADER,
                  ["2026-05-01T01:01:00Z,tower-01,tray-01,seeded,,5.0,L-78"])  # fmt: skip
            await until(lambda: len(tower_records(sub)) == 2, timeout=15, what="a correction")
            corrected = tower_records(sub)[1]
            assert corrected["revision"] == 1
            assert corrected["growId"] == "auto-tower-01-tray-01-20260501T010100Z"
            assert (corrected["tagStatus"], corrected["dayOfCycle"]) == ("tagged", 0)
            assert corrected["phase"] == "germination"


@pytest.mark.timeout(60)
async def test_held_readings_survive_a_restart_and_keep_their_file(
    tmp_path: Path, mosquitto: Broker, unique_thing: str
) -> None:
    data, state = tmp_path / "farm", tmp_path / "state"
    config = farm_config(data, state, mosquitto, unique_thing, graceSeconds=120)
    tower = next(s for s in config["sources"] if s["name"] == "tower")
    tower["afterIngest"] = "delete"
    await context(data)
    path = data / "tower/tower-01/st-1/20260501T01.csv"
    with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
        async with running_agent(config):
            write(path, TOWER_HEADER, [reading(5), reading(10)])
            await until(lambda: held_readings(state) == 2, timeout=15, what="readings held")
        assert tower_records(sub) == []
        assert path.exists(), "a file whose readings are held must not be deleted"
        async with running_agent(config):
            write(data / "site/site-01/20260501T01.csv", SITE_HEADER, [site(0), site(5), site(10)])
            await until(lambda: len(tower_records(sub)) == 2, timeout=15, what="released")
            await until(lambda: not path.exists(), timeout=15, what="the file deleted")
        released = tower_records(sub)
        assert [r["late"] for r in released] == [False, False]
        assert [r["site"]["ts"] for r in released] == [
            "2026-05-01T01:00:30Z",
            "2026-05-01T01:05:30Z",
        ]
        assert held_readings(state) == 0


@pytest.mark.timeout(60)
async def test_a_deviation_that_lasts_opens_an_alert_and_closes_it_when_back_in_band(
    tmp_path: Path, mosquitto: Broker, unique_thing: str
) -> None:
    data, state = tmp_path / "farm", tmp_path / "state"
    config = farm_config(data, state, mosquitto, unique_thing, graceSeconds=1)
    await context(data)
    write(data / "site/site-01/20260501T01.csv", SITE_HEADER, [site(m) for m in range(0, 60, 5)])
    # Germination phase: humidity 55-80 %. Five readings above for 20 min (>= 15 min), then in.
    rows = [reading(m, humidity=90.0 + m / 10) for m in (0, 5, 10, 15, 20)]
    rows.append(reading(25, humidity=70.0))
    # A shorter excursion (10 min) is a deviation on each reading, but no alert.
    rows += [reading(m, humidity=85.0) for m in (30, 35, 40)] + [reading(45)]
    with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
        async with running_agent(config):
            write(data / "tower/tower-01/st-1/20260501T01.csv", TOWER_HEADER, rows)
            await until(lambda: len(alerts(sub)) == 2, timeout=15, what="open and close")
            await until(lambda: len(tower_records(sub)) == 10, timeout=15, what="readings")
    opened, closed = alerts(sub)
    assert opened["event"] == "open" and closed["event"] == "close"
    for alert in (opened, closed):
        assert alert["growId"] == "G-0501-01"
        assert (alert["towerId"], alert["stationId"], alert["variable"]) == (
            "tower-01",
            "st-1",
            "humidity_pct",
        )
        assert (alert["min"], alert["max"], alert["phase"]) == (55.0, 80.0, "germination")
        assert alert["since"] == "2026-05-01T01:00:12Z"
    assert closed["until"] == "2026-05-01T01:20:12Z"
    assert closed["durationSeconds"] == 1200
    assert closed["readings"] == 5
    assert closed["high"] == 92.0
    records = {r["line"]: r for r in tower_records(sub)}
    assert [d["variable"] for d in records[2]["deviations"]] == ["humidity_pct"]
    assert records[7]["deviations"] == []
    assert [d["variable"] for d in records[8]["deviations"]] == ["humidity_pct"]
    with sqlite3.connect(state / "edge-agent.db") as conn:
        [(stored,)] = conn.execute("SELECT state FROM farm_alerts").fetchall()
    assert stored == "closed"
