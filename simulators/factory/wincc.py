"""A Siemens WinCC-like panel data log: long layout, ``;``, decimal comma, segmented and circular.

``factory/wincc/Press01_<n>.csv`` (n = 0, 1, 2): the runtime appends one line per tag every 30 s
to the current segment (CRLF); every hour it moves to the next segment, and the oldest one is
rewritten from scratch (rotation: a new version of the same file). Times are panel local time
(Europe/Berlin) ``dd.mm.yy HH:MM:SS``; ``Time_ms`` is the OLE day count x 1e6 with a decimal
comma. Temperature and pressure are written with a decimal comma, the speed tag with a dot (one
file, both styles). Once per run the runtime stops for ten minutes: a ``$RT_OFF$`` marker line,
then a ``$RT_COUNT$`` line when it starts again (both to be skipped).
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Final

from simulators.clock import BERLIN, ole_days
from simulators.factory.common import FILES, ROWS, BadRows, FactorySettings, file_truth, row_truth
from simulators.ops import FileOp, Json, Steps

HEADER: Final = '"VarName";"TimeString";"VarValue";"Validity";"Time_ms"'
EVERY: Final = timedelta(seconds=30)
SEGMENT: Final = timedelta(hours=1)
SEGMENTS: Final = 3
DATASET: Final = "wincc"
ENCODING: Final = "cp1252"
KINDS: Final = ("bad_value", "field_count", "bad_timestamp")


def time_string(at: datetime) -> str:
    """``dd.mm.yy HH:MM:SS`` in panel local time."""
    return at.astimezone(BERLIN).strftime("%d.%m.%y %H:%M:%S")


def time_ms(at: datetime) -> tuple[str, float]:
    """``Time_ms`` as written (``46043621875,0000``) and as a number."""
    days = Fraction(round(ole_days(at.astimezone(BERLIN)) * 86_400), 86_400)
    scaled = round(days * 10**10)
    whole, fraction = divmod(scaled, 10**4)
    return f"{whole},{fraction:04d}", float(f"{whole}.{fraction:04d}")


class WinccPanel:
    """The Press01 panel's tag logging."""

    name: Final = "wincc"

    def __init__(self, settings: FactorySettings) -> None:
        self.settings = settings
        self._rng = random.Random(f"{settings.seed}:factory:wincc")
        self._bad = BadRows(settings.seed, "wincc", settings.bad_rate, KINDS)
        span = (settings.end - settings.start) if settings.end else timedelta(hours=24)
        self._off_from = settings.start + span * 0.4
        self._off_from -= timedelta(seconds=self._off_from.second % 30)
        self._off_to = self._off_from + timedelta(minutes=10)
        self._versions: dict[str, int] = {}

    def _values(self, at: datetime) -> list[tuple[str, str, float]]:
        minutes = at.timestamp() / 60
        temp = 65 + 3 * math.sin(2 * math.pi * minutes / 47) + self._rng.gauss(0, 0.2)
        pressure = 180 + 8 * math.sin(2 * math.pi * minutes / 13) + self._rng.gauss(0, 0.5)
        speed = self._rng.choice((1440, 1450, 1450, 1460))
        shown = [
            ("Press01_Temp", f"{temp:.2f}".replace(".", ",")),
            ("Press01_Pressure", f"{pressure:.1f}".replace(".", ",")),
            ("Press01_Speed", f"{speed:.2f}"),
        ]
        return [(tag, text, float(text.replace(",", "."))) for tag, text in shown]

    def steps(self) -> Steps:
        """Segments of one hour, appended every 30 s, rotated circularly."""
        start, end = self.settings.start, self.settings.end
        segment_index = 0
        at = start
        while end is None or at < end:
            path = f"factory/wincc/Press01_{segment_index % SEGMENTS}.csv"
            version = self._versions[path] = self._versions.get(path, 0) + 1
            segment_start = at
            segment_end = at + SEGMENT if end is None else min(at + SEGMENT, end)
            lines = 1
            rows = 0
            ops: list[FileOp] = [FileOp(at, "write", path, (HEADER + "\r\n").encode(ENCODING))]
            while at < segment_end:
                chunk: list[str] = []
                truths: list[tuple[str, Json]] = []
                for text, truth in self._lines(at, path, version, lines + 1):
                    chunk.append(text)
                    truths.append((ROWS, truth))
                    lines += 1
                    rows += truth["outcome"] != "skip"
                if chunk:
                    data = ("\r\n".join(chunk) + "\r\n").encode(ENCODING)
                    ops.append(FileOp(at, "append", path, data, truth=tuple(truths)))
                at += EVERY
                yield at, ops
                ops = []
            record = file_truth(
                file=path,
                dataset=DATASET,
                version=version,
                behaviour="append+rotation",
                created=segment_start,
                closed=segment_end,
                rows=rows,
                encoding=ENCODING,
            )
            yield at, [FileOp(segment_end, "close", path, truth=((FILES, record),))]
            segment_index += 1

    def _lines(self, at: datetime, path: str, version: int, first: int) -> list[tuple[str, Json]]:
        """The lines the runtime writes at ``at`` (tag values or markers)."""
        stamp = time_string(at)
        ms_text, ms_value = time_ms(at)
        if self._off_from <= at < self._off_to:
            if at != self._off_from:
                return []
            text = f'"$RT_OFF$";"{stamp}";0;2;{ms_text}'
            return [(text, self._marker(path, version, first, at))]
        out: list[tuple[str, Json]] = []
        line = first
        if at == self._off_to:
            text = f'"$RT_COUNT$";"{stamp}";1;1;{ms_text}'
            out.append((text, self._marker(path, version, line, at)))
            line += 1
        for tag, shown, value in self._values(at):
            bad = self._bad.pick()
            cells = [f'"{tag}"', f'"{stamp}"', shown, "1", ms_text]
            if bad == "bad_value":
                cells[2] = "#####"
            elif bad == "field_count":
                cells = cells[:4]
            elif bad == "bad_timestamp":
                cells[1] = '"32.13.26 25:61:00"'
            values: Json = {"var_name": tag, "value": value, "validity": 1, "time_ms": ms_value}
            truth = row_truth(
                file=path,
                line=line,
                dataset=DATASET,
                ts=at,
                values=values,
                version=version,
                bad=bad,
                zone=BERLIN,
            )
            out.append((";".join(cells), truth))
            line += 1
        return out

    @staticmethod
    def _marker(path: str, version: int, line: int, at: datetime) -> Json:
        record = row_truth(
            file=path, line=line, dataset=DATASET, ts=at, values=None, version=version
        )
        record["outcome"], record["reason"] = "skip", "marker"
        return record
