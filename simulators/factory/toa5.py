"""A Campbell Scientific TOA5-like data logger table, collected into one file per hour.

``factory/toa5/CR1000_Boiler_Table1_YYYY_MM_DD_HHMM.csv`` (logger time in the name): four header
lines (station info, names, units, processing), then one line a minute, CRLF, written and closed
30 s after the hour. Logger time is standard time without DST (UTC+1, ``Etc/GMT-1``); missing
values are ``"NAN"``; ``RECORD`` counts on across files.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from simulators.factory.common import FILES, ROWS, BadRows, FactorySettings, file_truth, row_truth
from simulators.ops import FileOp, Json, Steps

LOGGER_TIME: Final = ZoneInfo("Etc/GMT-1")
HEADER: Final = (
    '"TOA5","CR1000_Boiler","CR1000","12345","CR1000.Std.32","CPU:boiler.CR1","4321","Table1"',
    '"TIMESTAMP","RECORD","BattV_Min","PTemp_C_Avg","Flow_Lpm_Avg","Pressure_bar","Burner_On"',
    '"TS","RN","Volts","Deg C","L/min","bar",""',
    '"","","Min","Avg","Avg","Smp","Smp"',
)
EVERY: Final = timedelta(minutes=1)
HOUR: Final = timedelta(hours=1)
COLLECT_DELAY: Final = timedelta(seconds=30)
DATASET: Final = "toa5"
ENCODING: Final = "ascii"
KINDS: Final = ("bad_value", "field_count")


class Toa5Logger:
    """The boiler room logger."""

    name: Final = "toa5"

    def __init__(self, settings: FactorySettings) -> None:
        self.settings = settings
        self._rng = random.Random(f"{settings.seed}:factory:toa5")
        self._bad = BadRows(settings.seed, "toa5", settings.bad_rate, KINDS)
        self._record = 0
        self._burner = 1

    def _row(self, at: datetime) -> tuple[list[str], Json]:
        minutes = at.timestamp() / 60
        battery = 12.6 + 0.1 * math.sin(2 * math.pi * minutes / 1440) + self._rng.gauss(0, 0.01)
        panel = 24 + 4 * math.sin(2 * math.pi * (minutes / 1440 - 0.375)) + self._rng.gauss(0, 0.1)
        if self._rng.random() < 0.05:
            self._burner = 1 - self._burner
        flow = 12 + 3 * self._burner + self._rng.gauss(0, 0.3)
        pressure = 2.4 + 0.2 * self._burner + self._rng.gauss(0, 0.02)
        flow_text = '"NAN"' if self._rng.random() < 0.01 else f"{flow:.2f}"
        stamp = at.astimezone(LOGGER_TIME).strftime("%Y-%m-%d %H:%M:%S")
        cells = [
            f'"{stamp}"',
            str(self._record),
            f"{battery:.2f}",
            f"{panel:.2f}",
            flow_text,
            f"{pressure:.3f}",
            str(self._burner),
        ]
        values: Json = {
            "record": self._record,
            "batt_v_min": float(cells[2]),
            "panel_temp_c": float(cells[3]),
            "flow_l_min": None if flow_text == '"NAN"' else float(flow_text),
            "pressure_bar": float(cells[5]),
            "burner_on": self._burner,
        }
        self._record += 1
        return cells, values

    def steps(self) -> Steps:
        """One file per logger hour, written when the hour has been collected."""
        start, end = self.settings.start, self.settings.end
        at = start
        while end is None or at < end:
            hour_start = at
            hour_end = at - timedelta(minutes=at.minute, seconds=at.second) + HOUR
            if end is not None:
                hour_end = min(hour_end, end)
            name = hour_start.astimezone(LOGGER_TIME).strftime("%Y_%m_%d_%H%M")
            path = f"factory/toa5/CR1000_Boiler_Table1_{name}.csv"
            lines = list(HEADER)
            truths: list[tuple[str, Json]] = []
            while at < hour_end:
                cells, values = self._row(at)
                bad = self._bad.pick()
                if bad == "bad_value":
                    cells[5] = "ERR"
                elif bad == "field_count":
                    cells = cells[:-1]
                lines.append(",".join(cells))
                truth = row_truth(
                    file=path, line=len(lines), dataset=DATASET, ts=at, values=values, bad=bad
                )
                truths.append((ROWS, truth))
                at += EVERY
                yield at, []
            record = file_truth(
                file=path,
                dataset=DATASET,
                version=1,
                behaviour="write_and_close",
                created=hour_end + COLLECT_DELAY,
                closed=hour_end + COLLECT_DELAY,
                rows=len(truths),
                encoding=ENCODING,
            )
            data = ("\r\n".join(lines) + "\r\n").encode(ENCODING)
            truths.append((FILES, record))
            yield at, [FileOp(hour_end + COLLECT_DELAY, "write", path, data, truth=tuple(truths))]
