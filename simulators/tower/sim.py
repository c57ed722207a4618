"""The tower simulator: one site, N towers, their stations, seeding, automation and weather.

Every five-minute step, in time order: the automation logs the tower state and moves the
carousel (step +0 s); each sensor station reads the tray in front of it (+10..23 s); the site
station logs weather and energy (+30 s); the seeding station harvests and re-seeds the tray at
slot 0 (+60 s, +120 s); irrigation starts or stops (+150 s).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from simulators.clock import floor_time, iso_z
from simulators.ops import FileOp, Json, Steps
from simulators.recipe import DEFAULT_RECIPE, deviations
from simulators.tower.automation import AutomationLog
from simulators.tower.farm import (
    HARVEST_OFFSET,
    SEED_OFFSET,
    STEP,
    Cycle,
    CycleFactory,
    Tower,
    Tray,
    station_slots,
)
from simulators.tower.faults import FaultPlan
from simulators.tower.files import FAULTS, ROWS, TowerFiles
from simulators.tower.join import SITE_TOLERANCE, AlertTracker, AsOf, site_join
from simulators.tower.rows import reading_cells, seeding_cells, site_cells, truth_row
from simulators.tower.sensors import Weather, read_tray

CYCLES: Final = "tower-cycles"
ALERTS: Final = "tower-alerts"
TRUTH_STREAMS: Final = (ROWS, "tower-files", CYCLES, FAULTS, ALERTS)


@dataclass(frozen=True)
class TowerSettings:
    """What to simulate (the ``edge-sim tower`` options)."""

    start: datetime
    end: datetime | None
    seed: int = 1
    towers: int = 2
    trays: int = 12
    stations: int = 3
    faults: frozenset[str] = field(default_factory=frozenset)
    append: bool = False
    realtime: bool = False
    site_id: str = "site-01"


class TowerSimulation:
    """Generates the site's files step by step (see :mod:`simulators.ops`)."""

    name: Final = "tower"
    truth_streams: Final = TRUTH_STREAMS

    def __init__(self, settings: TowerSettings) -> None:
        if settings.trays < settings.stations + 1:
            raise ValueError(f"--trays must be at least {settings.stations + 1}")
        if settings.start != floor_time(settings.start, STEP):
            raise ValueError("the start of a tower run must be on a five-minute boundary")
        self.settings = s = settings
        slots = station_slots(s.trays, s.stations)
        self.towers: list[Tower] = []
        for n in range(1, s.towers + 1):
            rng = random.Random(f"{s.seed}:tower:tower-{n:02d}")
            stations = [(f"st-{i + 1}", slot) for i, slot in enumerate(slots)]
            tower = Tower(
                tower_id=f"tower-{n:02d}",
                number=n,
                trays=[Tray(f"tray-{i + 1:02d}") for i in range(s.trays)],
                stations=stations,
                water_level_mm=rng.uniform(90.0, 118.0),
                station_offsets_c={sid: rng.uniform(-0.3, 0.3) for sid, _ in stations},
            )
            self.towers.append(tower)
        self._station_rngs = {
            (t.tower_id, sid): random.Random(f"{s.seed}:station:{t.tower_id}:{sid}")
            for t in self.towers
            for sid, _ in t.stations
        }
        horizon = (s.end - s.start) if s.end is not None else timedelta(hours=24)
        self.plan = FaultPlan(
            s.faults,
            seed=s.seed,
            start=s.start,
            horizon=horizon,
            towers=[(t.tower_id, [sid for sid, _ in t.stations]) for t in self.towers],
            site_id=s.site_id,
        )
        self.files = TowerFiles(self.plan, append=s.append, realtime=s.realtime)
        self.cycle_factory = CycleFactory(s.seed)
        self.weather = Weather(s.seed)
        self._site = AsOf()
        self.automation = AutomationLog(s.seed, self.towers, self.files)
        self._alerts = AlertTracker(DEFAULT_RECIPE)
        self._ops: list[FileOp] = []
        self._reported: set[str] = set()

    @property
    def start(self) -> datetime:
        """First simulated time of the period."""
        return self.settings.start

    def streams(self) -> list[Steps]:
        """The one step stream of the site."""
        return [self.steps()]

    def run_record(self) -> Json:
        """The run's parameters, written to ``_truth/tower-run.json``."""
        s = self.settings
        return {
            "generator": "tower",
            "truthVersion": 1,
            "seed": s.seed,
            "start": iso_z(s.start),
            "end": iso_z(s.end) if s.end is not None else None,
            "mode": "realtime" if s.realtime else "batch",
            "layout": "append" if s.append else "interval",
            "siteId": s.site_id,
            "towers": [t.tower_id for t in self.towers],
            "trays": s.trays,
            "stations": [sid for sid, _ in self.towers[0].stations],
            "faults": sorted(s.faults),
            "halfWrittenCompleted": s.realtime,
            "siteToleranceSeconds": int(SITE_TOLERANCE.total_seconds()),
            "datasets": {
                "tower": "tower",
                "seeding": "seeding",
                "automation": "automation",
                "site": "site",
            },
            "recipe": DEFAULT_RECIPE,
        }

    # ------------------------------------------------------------------ steps

    def steps(self) -> Steps:
        """Prehistory (cycles seeded before the start), then one step per five minutes."""
        start, end = self.settings.start, self.settings.end
        yield start, self._prehistory()
        now = start
        while end is None or now < end:
            self._step(now)
            now += STEP
            yield now, self._collect(now)
        ops = self._collect(now)
        ops.extend(self.files.finish(now))
        for record in self._alerts.flush():
            ops.append(FileOp(now, "truth", truth=((ALERTS, record),)))
        for tower in self.towers:
            for tray in tower.trays:
                if tray.cycle is not None:
                    ops.append(
                        FileOp(now, "truth", truth=((CYCLES, self._cycle_record(tray.cycle)),))
                    )
        yield now, ops

    def _collect(self, now: datetime) -> list[FileOp]:
        ops, self._ops = self._ops, []
        ops.extend(self.files.roll(now))
        for row in self.files.finalized:
            for record in self._alerts.feed(row.truth):
                ops.append(FileOp(now, "truth", truth=((ALERTS, record),)))
        self.files.finalized.clear()
        return ops

    def _prehistory(self) -> list[FileOp]:
        start = self.settings.start
        for tower in self.towers:
            for cycle in self.cycle_factory.prehistory(tower, start):
                self._seeding_row(tower, cycle, "seeded", cycle.seeded_at)
        return self._collect(start)

    def _step(self, now: datetime) -> None:
        step_index = round(now.timestamp() / STEP.total_seconds())
        for tower in self.towers:
            self.automation.heartbeat(tower, now, step_index)
        for tower in self.towers:
            for index, (station_id, slot) in enumerate(tower.stations):
                self._reading(tower, index, station_id, slot, now)
        self._site_reading(now + timedelta(seconds=30))
        for tower in self.towers:
            self._seeding_station(tower, now)
            self.automation.irrigation_change(tower, now + timedelta(seconds=150))
            tower.water_level_mm -= 0.12
            if tower.water_level_mm < 82.0:
                tower.water_level_mm = 118.0

    def _fault(self, at: datetime, record: Json) -> None:
        self._ops.append(FileOp(at, "truth", truth=((FAULTS, record),)))

    # ------------------------------------------------------------------ stations

    def _reading(self, tower: Tower, index: int, station_id: str, slot: int, now: datetime) -> None:
        rng = self._station_rngs[(tower.tower_id, station_id)]
        ts = now + timedelta(seconds=10 + 5 * index + rng.randint(0, 3))
        tray = tower.tray_at(slot)
        reading = read_tray(rng, tower, station_id, tray, ts)
        if self.plan.missing(tower.tower_id, station_id, ts):
            fault = {"fault": "missing", "towerId": tower.tower_id, "stationId": station_id}
            self._fault(ts, fault | {"trayId": tray.tray_id, "ts": iso_z(ts)})
            return
        numbers = {
            "air_temp_c": reading.air_temp_c,
            "humidity_pct": reading.humidity_pct,
            "water_ph": reading.water_ph,
        }
        applied = self.plan.sensor(tower.tower_id, station_id, ts, numbers)
        for name in applied:
            self._report_sensor_fault(name, ts)
        bad = self.plan.bad_row(tower.tower_id, station_id, ts)
        text, values = reading_cells(
            ts,
            tower_id=tower.tower_id,
            station_id=station_id,
            tray_id=tray.tray_id,
            reading=reading,
            numbers=numbers,
            bad=bad,
        )
        truth = truth_row("tower", ts)
        truth["faults"] = applied
        if bad is not None:
            truth["outcome"], truth["reason"] = "quarantine", bad
            truth["faults"] = [*applied, "bad_rows"]
        else:
            truth["values"] = values
            truth |= self._enrich(tower, tray, ts, values)
        self.files.add(("tower", tower.tower_id, station_id), "tower", ts, text, truth)
        if bad is not None:
            record = {
                "fault": "bad_rows",
                "file": truth["file"],
                "line": truth["line"],
                "reason": bad,
            }
            self._fault(ts, record)

    def _report_sensor_fault(self, name: str, ts: datetime) -> None:
        if name in self._reported:
            return
        self._reported.add(name)
        window = self.plan.stuck if name == "stuck" else self.plan.drift
        record: Json = {
            "fault": name,
            "towerId": window.tower_id,
            "stationId": window.station_id,
            "variable": window.variable,
            "from": iso_z(window.start),
            "to": iso_z(window.end),
        }
        if name == "stuck":
            value = self.plan.stuck_value()
            record["value"] = None if value is None else round(value, 1)
        else:
            record["ratePerHour"] = window.rate_per_hour
        self._fault(ts, record)

    def _enrich(self, tower: Tower, tray: Tray, ts: datetime, values: Json) -> Json:
        cycle = tray.cycle
        day = cycle.day_of_cycle(ts) if cycle is not None else None
        site, stale = site_join(self._site, ts)
        return {
            "growId": (cycle.grow_id or None) if cycle is not None else None,
            "growIdMinted": cycle is not None and not cycle.grow_id,
            "tagStatus": "tagged" if cycle is not None else "untracked",
            "cycle": self._cycle_key(cycle) if cycle is not None else None,
            "dayOfCycle": day,
            "site": site,
            "siteStale": stale,
            "automation": self.automation.state_at(tower.tower_id, ts),
            "deviations": deviations(DEFAULT_RECIPE, day, values),
        }

    # ------------------------------------------------------------------ site and seeding

    def _site_reading(self, ts: datetime) -> None:
        power = self.weather.power_kw(ts, self.towers)
        weather = self.weather.read(ts, power)
        missing = tuple(self.weather.nan() for _ in weather)
        if self.plan.site_gap(ts):
            if "site_gap" not in self._reported:
                self._reported.add("site_gap")
                gap = {"fault": "site_gap", "siteId": self.settings.site_id}
                end = self.plan.site_gap_from + timedelta(hours=3)
                self._fault(ts, gap | {"from": iso_z(self.plan.site_gap_from), "to": iso_z(end)})
            return
        text, values = site_cells(
            ts,
            site_id=self.settings.site_id,
            weather=weather,
            missing=missing,
            energy_kwh=self.weather.energy_kwh,
            power_kw=power,
        )
        truth = truth_row("site", ts)
        truth["values"] = values
        self.files.add(("site", self.settings.site_id), "site", ts, text, truth)
        self._site.add(ts, {"ts": truth["ts"], "file": truth["file"], "line": truth["line"]})

    def _seeding_station(self, tower: Tower, now: datetime) -> None:
        index = tower.tray_index_at_seeding()
        tray = tower.trays[index]
        cycle = tray.cycle
        harvest_at = now + HARVEST_OFFSET
        if cycle is not None and cycle.age_days(harvest_at) >= cycle.target_days:
            cycle.harvested_at = harvest_at
            self._seeding_row(tower, cycle, "harvested", harvest_at)
            self._ops.append(
                FileOp(harvest_at, "truth", truth=((CYCLES, self._cycle_record(cycle)),))
            )
            tray.cycle = None
            until = self.plan.leave_empty(tower.tower_id, now)
            if until is not None:
                tray.empty_until = until
                record = {"fault": "no_cycle", "towerId": tower.tower_id, "trayId": tray.tray_id}
                self._fault(harvest_at, record | {"from": iso_z(harvest_at), "to": iso_z(until)})
        if tray.cycle is None and (tray.empty_until is None or now >= tray.empty_until):
            tray.empty_until = None
            seeded_at = now + SEED_OFFSET
            tray.cycle = self.cycle_factory.start(tower.tower_id, tray.tray_id, seeded_at)
            self._seeding_row(tower, tray.cycle, "seeded", seeded_at)

    def _seeding_row(self, tower: Tower, cycle: Cycle, event: str, at: datetime) -> None:
        text, values = seeding_cells(at, cycle, event)
        truth = truth_row("seeding", at)
        truth["values"] = values
        truth["growIdMinted"] = not cycle.grow_id
        truth["cycle"] = self._cycle_key(cycle)
        self.files.add(("seeding", tower.tower_id), "seeding", at, text, truth)
        if event == "seeded":
            cycle.seeded_file, cycle.seeded_line = truth["file"], truth["line"]

    @staticmethod
    def _cycle_key(cycle: Cycle) -> Json:
        return {
            "towerId": cycle.tower_id,
            "trayId": cycle.tray_id,
            "seededAt": iso_z(cycle.seeded_at),
        }

    def _cycle_record(self, cycle: Cycle) -> Json:
        return {
            "towerId": cycle.tower_id,
            "trayId": cycle.tray_id,
            "growId": cycle.grow_id or None,
            "growIdMinted": not cycle.grow_id,
            "seededAt": iso_z(cycle.seeded_at),
            "harvestedAt": iso_z(cycle.harvested_at) if cycle.harvested_at is not None else None,
            "targetDays": cycle.target_days,
            "seedKg": cycle.seed_kg,
            "seedLot": cycle.seed_lot,
            "seededFile": cycle.seeded_file,
            "seededLine": cycle.seeded_line,
        }
