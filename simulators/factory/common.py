"""What the factory machines share: settings, bad rows, local time, truth records."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol
from zoneinfo import ZoneInfo

from simulators.clock import is_ambiguous, iso_z
from simulators.ops import Json, Steps

ROWS: Final = "factory-rows"
FILES: Final = "factory-files"
MACHINES: Final = ("wincc", "toa5", "plc", "excel", "hmi")
DATASETS: Final = {
    "wincc": "wincc",
    "toa5": "toa5",
    "plc": "plc",
    "excel": "excel_unicode",
    "hmi": "cp1252_hmi",
}


class Machine(Protocol):
    """One piece of equipment: a stream of file operations (see :mod:`simulators.ops`)."""

    def steps(self) -> Steps:
        """Its step stream."""
        ...


@dataclass(frozen=True)
class FactorySettings:
    """What to simulate (the ``edge-sim factory`` options)."""

    start: datetime
    end: datetime | None
    seed: int = 1
    bad_rate: float = 0.005
    machines: tuple[str, ...] = MACHINES


class BadRows:
    """Decides which data rows a machine garbles, at ``rate``, with its own generator."""

    def __init__(self, seed: int, machine: str, rate: float, kinds: tuple[str, ...]) -> None:
        self._rng = random.Random(f"{seed}:bad:{machine}")
        self._rate = rate
        self._kinds = kinds

    def pick(self) -> str | None:
        """None for a good row, else how it is garbled (``bad_value``, ``field_count``, ...)."""
        if self._rate <= 0 or self._rng.random() >= self._rate:
            return None
        return self._rng.choice(self._kinds)


def row_truth(
    *,
    file: str,
    line: int,
    dataset: str,
    ts: datetime | None,
    values: Json | None,
    version: int = 1,
    bad: str | None = None,
    zone: ZoneInfo | None = None,
) -> Json:
    """The truth record of one factory row: published, or quarantined when ``bad``."""
    record: Json = {
        "file": file,
        "version": version,
        "line": line,
        "dataset": dataset,
        "outcome": "quarantine" if bad else "publish",
        "reason": bad,
        "ts": iso_z(ts) if ts is not None else None,
        "values": None if bad else values,
        "faults": ["bad_rows"] if bad else [],
    }
    if zone is not None and ts is not None and is_ambiguous(ts, zone):
        # The wall-clock time happens twice (DST fall-back): the file alone cannot say which.
        record["ambiguousLocalTime"] = True
    return record


def file_truth(
    *,
    file: str,
    dataset: str,
    version: int,
    behaviour: str,
    created: datetime,
    closed: datetime | None,
    rows: int | None,
    encoding: str,
) -> Json:
    """The truth record of one file version."""
    return {
        "file": file,
        "dataset": dataset,
        "version": version,
        "behaviour": behaviour,
        "encoding": encoding,
        "createdAt": iso_z(created),
        "closedAt": iso_z(closed) if closed is not None else None,
        "rows": rows,
    }
