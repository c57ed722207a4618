"""A European oven HMI writing a daily log in Windows-1252 (``°C`` = 0xB0, ``µ`` = 0xB5).

``factory/hmi/Ofen2_YYYYMMDD.csv`` (local date, Europe/Berlin): one line a minute appended to
the day's log (slow append), ``;`` separated, decimal comma, CRLF, German column names and
status words (``Abkühlen``); a new file at local midnight.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Final

from simulators.clock import BERLIN
from simulators.factory.common import FILES, ROWS, BadRows, FactorySettings, file_truth, row_truth
from simulators.ops import FileOp, Json, Steps

HEADER: Final = "Zeitstempel;Ofentemperatur (°C);Druck (mbar);Schichtdicke (µm);Status"
EVERY: Final = timedelta(minutes=1)
DATASET: Final = "cp1252_hmi"
ENCODING: Final = "cp1252"
KINDS: Final = ("bad_value", "field_count")
PROGRAM_MINUTES: Final = 90


class OvenHmi:
    """Oven 2's panel: heat, hold and cool in a 90-minute program."""

    name: Final = "hmi"

    def __init__(self, settings: FactorySettings) -> None:
        self.settings = settings
        self._rng = random.Random(f"{settings.seed}:factory:hmi")
        self._bad = BadRows(settings.seed, "hmi", settings.bad_rate, KINDS)

    def _row(self, at: datetime) -> tuple[list[str], Json]:
        minute = int(at.timestamp() // 60) % PROGRAM_MINUTES
        if minute < 30:
            status, temp = "Heizen", 40 + 150 * minute / 30
        elif minute < 60:
            status, temp = "Halten", 190 + 2 * math.sin(minute)
        else:
            status, temp = "Abkühlen", 190 - 150 * (minute - 60) / 30
        temp += self._rng.gauss(0, 0.4)
        pressure = 1013 + self._rng.gauss(0, 1.5)
        coating = 45 + 0.05 * minute + self._rng.gauss(0, 0.3)
        cells = [
            at.astimezone(BERLIN).strftime("%d.%m.%Y %H:%M:%S"),
            f"{temp:.1f}".replace(".", ","),
            f"{pressure:.1f}".replace(".", ","),
            f"{coating:.2f}".replace(".", ","),
            status,
        ]
        values: Json = {
            "oven_temp_c": float(cells[1].replace(",", ".")),
            "pressure_mbar": float(cells[2].replace(",", ".")),
            "coating_um": float(cells[3].replace(",", ".")),
            "status": status,
        }
        return cells, values

    def steps(self) -> Steps:
        """One growing log per local day."""
        start, end = self.settings.start, self.settings.end
        at = start
        path = ""
        created = start
        lines = 0
        while end is None or at < end:
            day = at.astimezone(BERLIN).strftime("%Y%m%d")
            ops: list[FileOp] = []
            if not path.endswith(f"_{day}.csv"):
                if path:
                    ops.append(self._close(path, created, at, lines))
                path = f"factory/hmi/Ofen2_{day}.csv"
                created, lines = at, 1
                ops.append(FileOp(at, "append", path, (HEADER + "\r\n").encode(ENCODING)))
            cells, values = self._row(at)
            bad = self._bad.pick()
            if bad == "bad_value":
                cells[1] = "####"
            elif bad == "field_count":
                cells = cells[:-1]
            lines += 1
            truth = row_truth(
                file=path, line=lines, dataset=DATASET, ts=at, values=values, bad=bad, zone=BERLIN
            )
            data = (";".join(cells) + "\r\n").encode(ENCODING)
            ops.append(FileOp(at, "append", path, data, truth=((ROWS, truth),)))
            at += EVERY
            yield at, ops
        if path:
            yield at, [self._close(path, created, at, lines)]

    @staticmethod
    def _close(path: str, created: datetime, at: datetime, lines: int) -> FileOp:
        record = file_truth(
            file=path,
            dataset=DATASET,
            version=1,
            behaviour="append",
            created=created,
            closed=at,
            rows=lines - 1,
            encoding=ENCODING,
        )
        return FileOp(at, "close", path, truth=((FILES, record),))
