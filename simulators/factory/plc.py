"""A Panasonic-style PLC data logger: seven header lines, date and time in two columns.

``factory/plc/PLC01_YYYYMMDD_HHMM.csv`` (PLC clock time of the file's first sample): a new file
every quarter hour (:00, :15, :30, :45), appended every 10 s while it is current (slow append),
closed at the split. The PLC clock runs on standard time without DST (UTC+1, ``Etc/GMT-1``),
so file names never repeat. CRLF; invalid readings are written as ``-`` or ``NaN``; ``No.``
restarts at 1 in every file.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from simulators.clock import floor_time
from simulators.factory.common import FILES, ROWS, BadRows, FactorySettings, file_truth, row_truth
from simulators.ops import FileOp, Json, Steps

PLC_TIME: Final = ZoneInfo("Etc/GMT-1")
HEADER: Final = (
    "LOGGER,PLC01,FP-X0,V2.10",
    "No.,Date,Time,Temperature,Pressure,Speed,Counter,Alarm",
    "Port,,,CH0,CH1,CH2,CH3,R10",
    "Register,,,DT100,DT102,DT104,DT106,R10",
    "Type,,,REAL,REAL,INT,DINT,BOOL",
    "Format,,,0.0,0.00,0,0,0",
    "Unit,,,degC,bar,rpm,pcs,",
)
EVERY: Final = timedelta(seconds=10)
SPLIT: Final = timedelta(minutes=15)
DATASET: Final = "plc"
ENCODING: Final = "ascii"
KINDS: Final = ("bad_value", "field_count", "bad_timestamp")
INVALID: Final = ("-", "NaN")


class PlcLogger:
    """The PLC01 logger of the extrusion line."""

    name: Final = "plc"

    def __init__(self, settings: FactorySettings) -> None:
        self.settings = settings
        self._rng = random.Random(f"{settings.seed}:factory:plc")
        self._bad = BadRows(settings.seed, "plc", settings.bad_rate, KINDS)
        self._counter = self._rng.randrange(10_000, 90_000)

    def _reading(self, index: int, at: datetime) -> tuple[list[str], Json]:
        wall = at.astimezone(PLC_TIME)
        minutes = at.timestamp() / 60
        temperature = 210 + 5 * math.sin(2 * math.pi * minutes / 90) + self._rng.gauss(0, 0.3)
        pressure = 1.2 + 0.1 * math.sin(2 * math.pi * minutes / 30) + self._rng.gauss(0, 0.01)
        speed = round(1450 + self._rng.gauss(0, 8))
        self._counter += self._rng.randint(0, 3)
        alarm = 1 if temperature > 214.6 else 0
        shown = [f"{temperature:.1f}", f"{pressure:.2f}", str(speed)]
        for i in range(len(shown)):
            if self._rng.random() < 0.02:
                shown[i] = self._rng.choice(INVALID)
        cells = [
            str(index),
            wall.strftime("%Y/%m/%d"),
            wall.strftime("%H:%M:%S"),
            *shown,
            str(self._counter),
            str(alarm),
        ]

        def number(text: str) -> float | None:
            return None if text in INVALID else float(text)

        speed_value = number(shown[2])
        values: Json = {
            "index": index,
            "temperature_c": number(shown[0]),
            "pressure_bar": number(shown[1]),
            "speed_rpm": None if speed_value is None else int(speed_value),
            "counter": self._counter,
            "alarm": alarm,
        }
        return cells, values

    def steps(self) -> Steps:
        """A file per 15 minutes, growing every 10 s, closed at the split."""
        start, end = self.settings.start, self.settings.end
        at = start
        while end is None or at < end:
            file_start = at
            split_end = floor_time(at, SPLIT) + SPLIT
            if end is not None:
                split_end = min(split_end, end)
            name = at.astimezone(PLC_TIME).strftime("%Y%m%d_%H%M")
            path = f"factory/plc/PLC01_{name}.csv"
            header = ("\r\n".join(HEADER) + "\r\n").encode(ENCODING)
            ops: list[FileOp] = [FileOp(at, "append", path, header)]
            index = 0
            while at < split_end:
                index += 1
                cells, values = self._reading(index, at)
                bad = self._bad.pick()
                if bad == "bad_value":
                    cells[3] = "#ERR"
                elif bad == "field_count":
                    cells = cells[:-1]
                elif bad == "bad_timestamp":
                    cells[2] = "25:61:00"
                truth = row_truth(
                    file=path,
                    line=len(HEADER) + index,
                    dataset=DATASET,
                    ts=at,
                    values=values,
                    bad=bad,
                )
                data = (",".join(cells) + "\r\n").encode(ENCODING)
                ops.append(FileOp(at, "append", path, data, truth=((ROWS, truth),)))
                at += EVERY
                yield at, ops
                ops = []
            record = file_truth(
                file=path,
                dataset=DATASET,
                version=1,
                behaviour="append+split",
                created=file_start,
                closed=split_end,
                rows=index,
                encoding=ENCODING,
            )
            yield at, [FileOp(split_end, "close", path, truth=((FILES, record),))]
