"""How tower data is laid out in files, and how finished files are delivered.

Two layouts (see ``edge-sim tower --help``):

* interval files (default): one file per station per UTC hour, written and closed when the hour
  is over, a few seconds after it (``tower/<tower>/<station>/YYYYMMDDTHH.csv``,
  ``seeding/<tower>/...``, ``automation/<tower>/...``, ``site/<site>/...``); a seeding file
  exists only for hours with events, a site file only for hours with site data;
* growing logs (``--append``): one file per station, appended row by row as readings happen
  (``tower/<tower>/<station>.csv``, ``seeding/<tower>.csv``, ``automation/<tower>.csv``,
  ``site/<site>.csv``).

Delivery faults (late, out of order, duplicated copy, half-written) are applied here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from simulators.clock import iso_z
from simulators.ops import FileOp, Json
from simulators.tower.farm import STEP
from simulators.tower.faults import HALF_WRITTEN_COMPLETION, FaultPlan, StreamKey

HEADERS: Final = {
    "tower": "timestamp,tower_id,station_id,tray_id,height_mm,weight_kg,evenness_pct,"
    "water_level_mm,water_ph,water_temp_c,air_temp_c,humidity_pct,co2_ppm",
    "seeding": "timestamp,tower_id,tray_id,event,grow_id,seed_kg,seed_lot",
    "automation": "timestamp,tower_id,state,conveyor_position,pump_on,lights_on,"
    "irrigation_ml,fault_code",
    "site": "timestamp,site_id,outdoor_temp_c,outdoor_humidity_pct,solar_w_m2,wind_m_s,"
    "energy_kwh_total,power_kw",
}
ROWS: Final = "tower-rows"
FILES: Final = "tower-files"
FAULTS: Final = "tower-faults"
ENRICHMENT_KEYS: Final = (
    "growId",
    "growIdMinted",
    "tagStatus",
    "cycle",
    "dayOfCycle",
    "site",
    "siteStale",
    "automation",
    "deviations",
)
HOUR = timedelta(hours=1)
COPY_DELAY = timedelta(minutes=20)
REORDER_GAP = timedelta(seconds=5)


def interval_path(key: StreamKey, hour: datetime) -> str:
    """Relative path of the interval file of ``key`` for ``hour``."""
    return "/".join((*key, f"{hour:%Y%m%dT%H}.csv"))


def growing_path(key: StreamKey) -> str:
    """Relative path of the growing log of ``key``."""
    return "/".join(key) + ".csv"


def delivery_offset(key: StreamKey) -> timedelta:
    """How long after the end of its hour each kind of writer closes its file."""
    if key[0] == "tower":
        return timedelta(seconds=5 + 3 * (int(key[2].rsplit("-", 1)[-1]) % 10))
    return timedelta(seconds={"automation": 2, "site": 40, "seeding": 20}[key[0]])


def cut_line(text: str) -> str:
    """The first part of a line, cut inside its seventh field (so fields are missing)."""
    commas = [i for i, ch in enumerate(text) if ch == ","]
    position = commas[5] + 3 if len(commas) > 5 else len(text) // 2
    return text[: min(position, len(text) - 1)]


def strip_enrichment(record: Json, *, keep_values: bool = False) -> None:
    """A row that is not published carries no joins (and no values if it cannot be typed)."""
    if not keep_values:
        record["values"] = None
    for name in ENRICHMENT_KEYS:
        record.pop(name, None)


@dataclass
class Row:
    """One data line and its ground truth."""

    ts: datetime
    text: str
    truth: Json


@dataclass
class OpenFile:
    """An interval file being filled, or a growing log."""

    key: StreamKey
    dataset: str
    path: str
    hour: datetime | None
    rows: list[Row] = field(default_factory=list)
    lines: int = 1


@dataclass
class _Held:
    file: OpenFile
    natural: datetime
    index: int


class TowerFiles:
    """Collects rows into files and turns finished files into file operations."""

    def __init__(self, plan: FaultPlan, *, append: bool, realtime: bool) -> None:
        self._plan = plan
        self._append = append
        self._realtime = realtime
        self._open: dict[StreamKey, OpenFile] = {}
        self._ops: list[FileOp] = []
        self._held: list[_Held] = []
        self.finalized: list[Row] = []

    # ------------------------------------------------------------------ adding rows

    def add(self, key: StreamKey, dataset: str, ts: datetime, text: str, truth: Json) -> Row:
        """Add a row; fills ``file`` and ``line`` of its truth record."""
        if self._append:
            return self._add_growing(key, dataset, ts, text, truth)
        hour = ts.replace(minute=0, second=0, microsecond=0)
        current = self._open.get(key)
        if current is None or current.hour != hour:
            if current is not None:
                self._ops.extend(self._close(current))
            current = self._open[key] = OpenFile(key, dataset, interval_path(key, hour), hour)
        return self._place(current, ts, text, truth)

    def _place(self, file: OpenFile, ts: datetime, text: str, truth: Json) -> Row:
        file.lines += 1
        truth["file"] = file.path
        truth["line"] = file.lines
        row = Row(ts, text, truth)
        file.rows.append(row)
        return row

    def _add_growing(
        self, key: StreamKey, dataset: str, ts: datetime, text: str, truth: Json
    ) -> Row:
        file = self._open.get(key)
        prefix = ""
        if file is None:
            file = self._open[key] = OpenFile(key, dataset, growing_path(key), None)
            prefix = HEADERS[dataset] + "\n"
            record: Json = {
                "file": file.path,
                "dataset": dataset,
                "version": 1,
                "growing": True,
                "createdAt": iso_z(ts),
                "faults": [],
                "duplicateOf": None,
            }
            self._ops.append(FileOp(ts, "truth", truth=((FILES, record),)))
        row = self._place(file, ts, text, truth)
        file.rows = [row]  # a growing log keeps only its last row (for the half-written tail)
        if self._realtime and dataset == "tower" and self._plan.half_written_row(key, ts):
            head = cut_line(text)
            truth["faults"].append("half_written")
            fault: Json = {
                "fault": "half_written",
                "file": file.path,
                "line": truth["line"],
                "completed": True,
                "completedAt": iso_z(ts + timedelta(minutes=1)),
            }
            self._ops.append(FileOp(ts, "append", file.path, (prefix + head).encode()))
            rest = (text[len(head) :] + "\n").encode()
            self._ops.append(
                FileOp(
                    ts + timedelta(minutes=1),
                    "append",
                    file.path,
                    rest,
                    truth=((ROWS, truth), (FAULTS, fault)),
                )
            )
        else:
            data = (prefix + text + "\n").encode()
            self._ops.append(FileOp(ts, "append", file.path, data, truth=((ROWS, truth),)))
        if dataset == "tower" and truth["outcome"] == "publish":
            self.finalized.append(row)
        return row

    def drain(self) -> list[FileOp]:
        """Operations decided since the last call."""
        ops, self._ops = self._ops, []
        return ops

    # ------------------------------------------------------------------ closing files

    def roll(self, now: datetime) -> list[FileOp]:
        """Close every interval file whose hour is over at ``now``; all operations since last."""
        for key in [
            k for k, f in self._open.items() if f.hour is not None and f.hour + HOUR <= now
        ]:
            self._ops.extend(self._close(self._open.pop(key)))
        return self.drain()

    def finish(self, end: datetime) -> list[FileOp]:
        """Close everything at the end of the period (growing logs stay as they are)."""
        for key in list(self._open):
            file = self._open.pop(key)
            if file.hour is not None:
                self._ops.extend(self._close(file))
            elif (
                not self._realtime
                and file.dataset == "tower"
                and key == self._plan.half_written_key
                and self._plan.on("half_written")
            ):
                self._ops.append(self._cut_tail(file, end))
            else:
                self._ops.append(FileOp(end, "close", file.path))
        for held in self._held:
            self._ops.extend(self._deliver(held.file, held.natural, held.natural, []))
        self._held.clear()
        return self.drain()

    def _cut_tail(self, file: OpenFile, end: datetime) -> FileOp:
        """Batch growing log: the writer was cut off mid-line when the period ended."""
        last = file.rows[-1]
        ts = last.ts + STEP
        text = cut_line(iso_z(ts) + last.text[len(iso_z(last.ts)) :])
        record: Json = {
            "file": file.path,
            "version": 1,
            "line": file.lines + 1,
            "dataset": file.dataset,
            "outcome": "skip",
            "reason": "incomplete_line",
            "ts": iso_z(ts),
            "values": None,
            "faults": ["half_written"],
        }
        fault: Json = {
            "fault": "half_written",
            "file": file.path,
            "line": file.lines + 1,
            "completed": False,
            "completedAt": None,
        }
        return FileOp(
            end, "append", file.path, text.encode(), truth=((ROWS, record), (FAULTS, fault))
        )

    def _close(self, file: OpenFile) -> list[FileOp]:
        assert file.hour is not None
        end = file.hour + HOUR
        natural = end + delivery_offset(file.key)
        cut = self._plan.half_written(file.key, file.hour) and bool(file.rows)
        if cut and not self._realtime:
            last = file.rows[-1].truth
            last["outcome"], last["reason"] = "quarantine", "truncated"
            last["faults"].append("half_written")
            strip_enrichment(last)
        elif cut:
            file.rows[-1].truth["faults"].append("half_written")
        self.finalized.extend(
            r for r in file.rows if file.dataset == "tower" and r.truth["outcome"] == "publish"
        )
        position = self._plan.reorder_position(file.key, file.hour)
        if position is not None:
            index, last_hour = position
            self._held.append(_Held(file, natural, index))
            if file.hour != last_hour:
                return []
            held = sorted(self._held, key=lambda h: -h.index)
            self._held.clear()
            ops: list[FileOp] = []
            for n, item in enumerate(held):
                ops.extend(
                    self._deliver(item.file, item.natural, natural + n * REORDER_GAP, ["reorder"])
                )
            order: Json = {"fault": "reorder", "files": [h.file.path for h in held]}
            ops.append(FileOp(natural + len(held) * REORDER_GAP, "truth", truth=((FAULTS, order),)))
            return ops
        delay = self._plan.late_delay(file.key, file.hour)
        if delay is not None:
            return self._deliver(file, natural, natural + delay, ["late"])
        return self._deliver(file, natural, natural, [])

    def _deliver(
        self, file: OpenFile, natural: datetime, at: datetime, faults: list[str]
    ) -> list[FileOp]:
        assert file.hour is not None
        header = HEADERS[file.dataset]
        texts = [r.text for r in file.rows]
        full = "\n".join([header, *texts]) + "\n"
        cut = self._plan.half_written(file.key, file.hour) and bool(file.rows)
        record: Json = {
            "file": file.path,
            "dataset": file.dataset,
            "version": 1,
            "rows": len(file.rows),
            "firstLine": 2,
            "lastLine": 1 + len(file.rows),
            "from": iso_z(file.hour),
            "to": iso_z(file.hour + HOUR),
            "naturalDeliveryAt": iso_z(natural),
            "deliveredAt": iso_z(at),
            "faults": faults + (["half_written"] if cut else []),
            "duplicateOf": None,
            "growing": False,
            "complete": not cut or self._realtime,
        }
        rows = tuple((ROWS, r.truth) for r in file.rows)
        extras: tuple[tuple[str, Json], ...] = ()
        if "late" in faults:
            late: Json = {
                "fault": "late",
                "file": file.path,
                "naturalDeliveryAt": iso_z(natural),
                "deliveredAt": iso_z(at),
            }
            extras = ((FAULTS, late),)
        ops: list[FileOp] = []
        if cut:
            head = cut_line(texts[-1])
            partial = "\n".join([header, *texts[:-1], head])
            fault: Json = {"fault": "half_written", "file": file.path, "line": 1 + len(texts)}
            if self._realtime:
                done = at + HALF_WRITTEN_COMPLETION
                fault |= {"completed": True, "completedAt": iso_z(done)}
                record["completedAt"] = iso_z(done)
                first = (*rows[:-1], *extras)
                ops.append(FileOp(at, "write", file.path, partial.encode(), truth=first))
                rest = (texts[-1][len(head) :] + "\n").encode()
                tail = (rows[-1], (FILES, record), (FAULTS, fault))
                ops.append(FileOp(done, "append", file.path, rest, truth=tail))
                ops.append(FileOp(done, "close", file.path))
            else:
                fault |= {"completed": False, "completedAt": None}
                truth = (*rows, *extras, (FILES, record), (FAULTS, fault))
                ops.append(FileOp(at, "write", file.path, partial.encode(), truth=truth))
            return ops
        rows += extras
        ops.append(FileOp(at, "write", file.path, full.encode(), truth=(*rows, (FILES, record))))
        if self._plan.duplicate(file.key, file.hour):
            ops.extend(self._copy(file, full, record, at))
        return ops

    def _copy(self, file: OpenFile, content: str, original: Json, at: datetime) -> list[FileOp]:
        """Someone copies the file next to itself; the copy keeps the original's mtime."""
        copy_path = file.path.removesuffix(".csv") + " - Copy.csv"
        truths: list[tuple[str, Json]] = []
        for row in file.rows:
            record = copy.deepcopy(row.truth)
            record["file"] = copy_path
            record["outcome"], record["reason"] = "skip", "duplicate_file"
            record["duplicateOf"] = file.path
            record["faults"] = [*record["faults"], "duplicate"]
            strip_enrichment(record, keep_values=True)
            truths.append((ROWS, record))
        copied = dict(original, file=copy_path, duplicateOf=file.path, faults=["duplicate"])
        copied["deliveredAt"] = iso_z(at + COPY_DELAY)
        fault: Json = {"fault": "duplicate", "file": file.path, "copy": copy_path}
        truths += [(FILES, copied), (FAULTS, fault)]
        return [
            FileOp(at + COPY_DELAY, "write", copy_path, content.encode(), truth=tuple(truths)),
            FileOp(at + COPY_DELAY, "mtime", copy_path, when=at),
        ]
