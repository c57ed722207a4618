"""A quality-lab report exported from Excel as "Unicode Text": UTF-16LE with BOM, tabs, CRLF.

``factory/excel/QC_Report_YYYYMMDD_HHMM.csv`` (local time of the export): every two hours the
lab exports the samples taken since the last export. Excel saves to a temporary file and
renames it. German locale: decimal comma, ``dd.mm.yyyy HH:MM`` in Europe/Berlin. Comments may
hold quotes, tabs and line breaks (quoted, RFC 4180 style), so a row can span several lines.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Final

from simulators.clock import BERLIN
from simulators.factory.common import FILES, ROWS, BadRows, FactorySettings, file_truth, row_truth
from simulators.ops import FileOp, Json, Steps

HEADER: Final = (
    "Sample ID",
    "Taken at",
    "Line",
    "Batch",
    "Weight (g)",
    "Moisture (%)",
    "Operator",
    "Comment",
)
EXPORT_EVERY: Final = timedelta(hours=2)
RENAME_AFTER: Final = timedelta(seconds=2)
DATASET: Final = "excel_unicode"
ENCODING: Final = "utf-16"
KINDS: Final = ("bad_value", "field_count", "bad_timestamp")
OPERATORS: Final = ("Müller", "Jörg Weiß", "Ana Souza", "Łukasz")
COMMENTS: Final = (
    "",
    "",
    "",
    "",
    "ok",
    'Deckel "B" locker',
    "nachgewogen\nWaage 2",
    "Probe\tfeucht",
    'Kunde: "Eilauftrag"\nbitte prüfen',
)


def excel_field(text: str) -> str:
    """A cell as Excel writes it: quoted (quotes doubled) if it holds a tab, quote or newline."""
    if any(ch in text for ch in '\t"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


class ExcelExport:
    """The QC lab's Excel sheet, exported periodically."""

    name: Final = "excel"

    def __init__(self, settings: FactorySettings) -> None:
        self.settings = settings
        self._rng = random.Random(f"{settings.seed}:factory:excel")
        self._bad = BadRows(settings.seed, "excel", settings.bad_rate, KINDS)
        self._sample = self._rng.randrange(1000, 5000)

    def _sample_row(self, at: datetime) -> tuple[list[str], Json]:
        self._sample += 1
        weight = self._rng.gauss(500.0, 2.5)
        moisture = self._rng.gauss(12.5, 0.4)
        comment = self._rng.choice(COMMENTS)
        line_id = self._rng.choice(("L1", "L2"))
        batch = f"B-{at:%y%m}-{self._rng.randint(1, 40):02d}"
        operator = self._rng.choice(OPERATORS)
        cells = [
            f"QC-{self._sample:06d}",
            at.astimezone(BERLIN).strftime("%d.%m.%Y %H:%M"),
            line_id,
            batch,
            f"{weight:.1f}".replace(".", ","),
            f"{moisture:.2f}".replace(".", ","),
            operator,
            comment,
        ]
        values: Json = {
            "sample_id": cells[0],
            "production_line": line_id,
            "batch": batch,
            "weight_g": float(cells[4].replace(",", ".")),
            "moisture_pct": float(cells[5].replace(",", ".")),
            "operator": operator,
            "comment": comment or None,
        }
        return cells, values

    def steps(self) -> Steps:
        """Samples every 8-25 minutes; an export every two hours."""
        start, end = self.settings.start, self.settings.end
        export_at = start + EXPORT_EVERY
        at = start + timedelta(minutes=self._rng.randint(3, 20))
        pending: list[tuple[datetime, list[str], Json, str | None]] = []
        while end is None or export_at <= end:
            while at < export_at:
                at = at.replace(second=0)
                cells, values = self._sample_row(at)
                pending.append((at, cells, values, self._bad.pick()))
                at += timedelta(minutes=self._rng.randint(8, 25))
            yield export_at, self._export(export_at, pending)
            pending = []
            export_at += EXPORT_EVERY

    def _export(
        self, at: datetime, samples: list[tuple[datetime, list[str], Json, str | None]]
    ) -> list[FileOp]:
        path = f"factory/excel/QC_Report_{at.astimezone(BERLIN):%Y%m%d_%H%M}.csv"
        lines = ["\t".join(HEADER)]
        physical = 1
        truths: list[tuple[str, Json]] = []
        for taken, cells, values, bad in samples:
            shown = list(cells)
            if bad == "bad_value":
                shown[4] = "#WERT!"
            elif bad == "field_count":
                shown = shown[:-1]
            elif bad == "bad_timestamp":
                shown[1] = "31.02.2026 10:00"
            text = "\t".join(excel_field(c) for c in shown)
            truth = row_truth(
                file=path,
                line=physical + 1,
                dataset=DATASET,
                ts=taken,
                values=values,
                bad=bad,
                zone=BERLIN,
            )
            truths.append((ROWS, truth))
            lines.append(text)
            physical += 1 + text.count("\n")
        data = "\ufeff" + "\r\n".join(lines) + "\r\n"
        record = file_truth(
            file=path,
            dataset=DATASET,
            version=1,
            behaviour="temp_and_rename",
            created=at,
            closed=at + RENAME_AFTER,
            rows=len(samples),
            encoding=ENCODING,
        )
        truths.append((FILES, record))
        temp = path + ".tmp"
        return [
            FileOp(at, "write", temp, data.encode("utf-16-le")),
            FileOp(at + RENAME_AFTER, "rename", temp, target=path, truth=tuple(truths)),
        ]
