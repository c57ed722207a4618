"""The towers' automation software: machine state, conveyor, irrigation and conveyor faults.

A row at every step (+0 s) with the state after the conveyor moved (or did not, on a fault),
and a row when irrigation starts or stops in the middle of a step (+150 s). A state holds until
the next row, so the state as of a reading is the latest row at or before it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from simulators.ops import Json
from simulators.tower.farm import Tower
from simulators.tower.files import TowerFiles
from simulators.tower.join import AsOf, automation_join
from simulators.tower.rows import automation_cells, truth_row
from simulators.tower.sensors import lights_on

IRRIGATION_EVERY_STEPS: Final = 36
IRRIGATION: Final = timedelta(minutes=10)
IRRIGATION_START: Final = timedelta(seconds=150)
IRRIGATION_ML_PER_S: Final = 250 / 60
FAULT_PER_STEP: Final = 0.002
FAULT_CODES: Final = ("E-CONV-12", "E-CONV-31", "E-LIFT-07")


class AutomationLog:
    """Runs each tower's machine and logs its state."""

    def __init__(self, seed: int, towers: Sequence[Tower], files: TowerFiles) -> None:
        self._files = files
        self._rngs = {t.tower_id: random.Random(f"{seed}:auto:{t.tower_id}") for t in towers}
        self._history = {t.tower_id: AsOf() for t in towers}

    def heartbeat(self, tower: Tower, now: datetime, step_index: int) -> None:
        """The step's row: a fault may stop the conveyor, else it moves one slot."""
        rng = self._rngs[tower.tower_id]
        if tower.fault_steps_left == 0 and rng.random() < FAULT_PER_STEP:
            tower.fault_steps_left = rng.randint(2, 4)
            tower.fault_code = rng.choice(FAULT_CODES)
        if (step_index + 7 * tower.number) % IRRIGATION_EVERY_STEPS == 0:
            begin = now + IRRIGATION_START
            tower.irrigation = (begin, begin + IRRIGATION)
        if tower.fault_steps_left > 0:
            tower.fault_steps_left -= 1
            state = "fault"
        else:
            tower.position = (tower.position + 1) % len(tower.trays)
            tower.fault_code = ""
            state = "irrigating" if tower.irrigating(now) else "running"
        self._row(tower, now, state)

    def irrigation_change(self, tower: Tower, at: datetime) -> None:
        """A row when irrigation starts or stops at ``at``."""
        if tower.irrigation is None:
            return
        begin, stop = tower.irrigation
        if at == begin:
            self._row(tower, at, "irrigating")
        elif at == stop:
            self._row(tower, at, "fault" if tower.fault_code else "running")
            tower.irrigation = None

    def state_at(self, tower_id: str, ts: datetime) -> Json | None:
        """The row in force at ``ts`` (for the truth of a reading)."""
        return automation_join(self._history[tower_id], ts)

    def _row(self, tower: Tower, at: datetime, state: str) -> None:
        millilitres = 0
        if tower.irrigation is not None and tower.last_automation_at is not None:
            begin, stop = tower.irrigation
            overlap = min(at, stop) - max(tower.last_automation_at, begin)
            millilitres = max(0, round(overlap.total_seconds() * IRRIGATION_ML_PER_S))
        tower.last_automation_at = at
        text, values = automation_cells(
            at,
            tower_id=tower.tower_id,
            state=state,
            position=tower.position,
            pump_on=tower.irrigating(at),
            lights=lights_on(at),
            irrigation_ml=millilitres,
            fault_code=tower.fault_code,
        )
        truth = truth_row("automation", at)
        truth["values"] = values
        self._files.add(("automation", tower.tower_id), "automation", at, text, truth)
        record = {"ts": truth["ts"], "state": state, "file": truth["file"], "line": truth["line"]}
        self._history[tower.tower_id].add(at, record)
