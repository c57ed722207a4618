"""The factory simulator: the chosen machines, each an independent stream of file operations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final

from simulators.clock import iso_z
from simulators.factory.common import (
    DATASETS,
    FILES,
    MACHINES,
    ROWS,
    FactorySettings,
    Machine,
)
from simulators.factory.excel import ExcelExport
from simulators.factory.hmi import OvenHmi
from simulators.factory.plc import PlcLogger
from simulators.factory.toa5 import Toa5Logger
from simulators.factory.wincc import WinccPanel
from simulators.ops import Json, Steps

TRUTH_STREAMS: Final = (ROWS, FILES)


def parse_machines(text: str) -> tuple[str, ...]:
    """``a,b`` or ``all`` as machine names; ValueError names what is wrong."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return MACHINES
    unknown = sorted(set(names) - set(MACHINES))
    if unknown or not names:
        raise ValueError(
            f"unknown machine(s) {', '.join(unknown)}; choose from {', '.join(MACHINES)} or all"
        )
    return tuple(m for m in MACHINES if m in names)


class FactorySimulation:
    """Legacy machines of one plant, writing under ``factory/<machine>/``."""

    name: Final = "factory"
    truth_streams: Final = TRUTH_STREAMS

    def __init__(self, settings: FactorySettings) -> None:
        if not 0 <= settings.bad_rate <= 1:
            raise ValueError("--bad-rate is a fraction between 0 and 1")
        self.settings = settings
        makers: dict[str, Callable[[FactorySettings], Machine]] = {
            "wincc": WinccPanel,
            "toa5": Toa5Logger,
            "plc": PlcLogger,
            "excel": ExcelExport,
            "hmi": OvenHmi,
        }
        self.machines = [makers[name](settings) for name in settings.machines]

    @property
    def start(self) -> datetime:
        """First simulated time of the period."""
        return self.settings.start

    def run_record(self) -> Json:
        """The run's parameters, written to ``_truth/factory-run.json``."""
        s = self.settings
        return {
            "generator": "factory",
            "truthVersion": 1,
            "seed": s.seed,
            "start": iso_z(s.start),
            "end": iso_z(s.end) if s.end is not None else None,
            "badRate": s.bad_rate,
            "machines": list(s.machines),
            "datasets": {m: DATASETS[m] for m in s.machines},
        }

    def streams(self) -> list[Steps]:
        """One step stream per machine."""
        return [machine.steps() for machine in self.machines]
