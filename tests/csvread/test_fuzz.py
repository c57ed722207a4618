"""Random dialects and damaged files: the reader and the builder only fail as documented.

Documented failures: FileFormatError from read_layout or RecordBuilder (the whole file is
quarantined), RowError from build (one row is quarantined). Whatever the bytes, every physical
line after the header is in exactly one record, byte offsets are contiguous, a growing file
read in passes gives the records of the complete file, and records are JSON without NaN.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from edge_agent.batcher import encode
from edge_agent.config.datasets import DatasetConfig
from edge_agent.csvread.reader import FileFormatError, Layout, RawRecord, iter_records, read_layout
from edge_agent.csvread.timeformats import _pattern, compile_format
from edge_agent.csvread.timestamps import (
    AmbiguousTimeError,
    TimestampError,
    TimestampParser,
    format_utc,
)
from edge_agent.datasets.generic import RecordBuilder, RowError
from tests.csvread import check_accounting, count_lines
from tests.fuzz import fuzz_settings

FUZZ = fuzz_settings(150)

PIECES = [
    *"abcxyz019.,;|\t\"' -+eE_",
    "\r",
    "\n",
    "\r\n",
    "\x00",
    "°",
    "µ",
    "é",
    "€",
    "\u0a0a",
    "\U0001f600",
    "NaN",
    "true",
    "-",
    "66,00",
    "60.00",
    "007",
    "2026-11-27T01:05:00Z",
    "2026-10-25 02:30:00",
    "$RT_OFF$",
]
field = st.lists(st.sampled_from(PIECES), max_size=5).map("".join)


@dataclass
class Case:
    data: bytes
    dataset: DatasetConfig
    final: bool


def quote(value: str, delimiter: str, style: str) -> str:
    if style == "none":
        return value
    special = any(c in value for c in (delimiter, '"', "\r", "\n"))
    if style == "all" or special:
        return '"' + value.replace('"', '""') + '"'
    return value


@st.composite
def csv_files(draw: st.DrawFn) -> Case:
    codec = draw(
        st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp1252"])
    )
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    style = draw(st.sampled_from(["minimal", "all", "none"]))
    has_header = draw(st.booleans())
    width = draw(st.integers(1, 5))
    names = ["ts", *(f"c{i}" for i in range(1, width))] if draw(st.booleans()) else None
    header = names or draw(st.lists(field, min_size=width, max_size=width))
    rows = draw(st.lists(st.lists(field, max_size=width + 1), max_size=10))
    # Lines before the header (a TOA5 title, a logger banner) and a units row under it.
    preamble = draw(st.lists(st.lists(field, max_size=3), max_size=2))
    units = draw(st.lists(field, min_size=width, max_size=width)) if draw(st.booleans()) else None
    lines = [*preamble, *([header, *([units] if units else [])] if has_header else []), *rows]
    text = "".join(delimiter.join(quote(v, delimiter, style) for v in line) + eol for line in lines)
    if not draw(st.booleans()):
        text = text[: -len(eol)] if text else text  # no newline after the last line
    data = text.encode(codec, errors="replace")
    for _ in range(draw(st.integers(0, 3))):
        # Damage: random bytes somewhere (bad UTF-8, NUL blocks, half code units).
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=6)) + data[at:]
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]  # cut off, as by a writer mid-write
    csv: dict[str, Any] = {
        "encoding": draw(st.sampled_from(["auto", codec])),
        "delimiter": draw(st.sampled_from(["auto", delimiter.replace("\t", "\\t")])),
        "decimal": draw(st.sampled_from([".", ","])),
        "headerRow": len(preamble) + 1 if has_header else None,
        "unitsRow": len(preamble) + 2 if has_header and units else None,
        "firstDataRow": len(preamble) + 1 if preamble and not has_header else None,
        "maxLineBytes": draw(st.sampled_from([256, 300, 1024, 1_048_576])),
        "skipPatterns": draw(st.sampled_from([[], [r"\$RT_OFF\$"]])),
        "timezone": draw(st.sampled_from(["UTC", "Europe/Berlin"])),
    }
    if names and has_header and draw(st.booleans()):
        csv["timestampColumn"] = "ts"
    columns: dict[str, Any] = {}
    if names:
        for name in names[1:]:
            kind = draw(st.sampled_from([None, "float", "int", "bool", "str", "timestamp"]))
            columns[name] = {"type": kind, "required": draw(st.booleans())}
    ds = DatasetConfig.model_validate({"csv": csv, "columns": columns})
    return Case(data, ds, draw(st.booleans()))


def read_records(
    data: bytes, layout: Layout, ds: DatasetConfig, *, final: bool, start: tuple[int, int]
) -> list[RawRecord]:
    return list(
        iter_records(
            io.BytesIO(data),
            layout,
            ds.csv,
            start_offset=start[0],
            start_line=start[1],
            final=final,
        )
    )


def shape(records: list[RawRecord]) -> list[tuple[Any, ...]]:
    return [(r.line, r.next_line, r.end_offset, r.fields, r.problem, r.raw) for r in records]


def type_all(builder: RecordBuilder | None, records: list[RawRecord]) -> list[Any]:
    """What ingest does with each record; only the documented outcomes are allowed."""
    outcomes: list[Any] = []
    for raw in records:
        if raw.fields is None:
            assert raw.problem
            outcomes.append(("problem", raw.problem))
            continue
        if builder is None:
            continue
        reason = builder.skip_reason(raw)
        if reason is not None:
            outcomes.append(("skip", reason))
            continue
        try:
            record = builder.build(raw)
        except RowError as e:
            outcomes.append(("error", str(e)))
        else:
            assert record["line"] == raw.line
            json.loads(encode(record))  # no NaN, nothing that is not JSON
            outcomes.append(record)
    return outcomes


@FUZZ
@given(csv_files())
def test_random_dialects_read_and_type_as_documented(case: Case) -> None:
    data, ds = case.data, case.dataset
    problems = []
    try:
        layout = read_layout(io.BytesIO(data), ds.csv)
    except FileFormatError as e:
        problems.append(str(e))
    if problems:
        assert all(problems), "a whole-file problem has a reason"
        return
    builder: RecordBuilder | None = None
    try:
        builder = RecordBuilder(ds, layout)
    except FileFormatError as e:
        problems.append(str(e))
    assert all(problems)
    start = (layout.data_offset, layout.data_line)
    records = read_records(data, layout, ds, final=case.final, start=start)
    check_accounting(data, layout, records, final=case.final)
    if case.final:
        lines = count_lines(data[layout.data_offset :], layout.encoding.codec)
        assert sum(r.next_line - r.line for r in records) == lines
    outcomes = type_all(builder, records)
    assert all(o[1] for o in outcomes if isinstance(o, tuple)), "every quarantine has a reason"

    # A growing file is the complete one read in passes: the first records, then the rest.
    complete = read_records(data, layout, ds, final=True, start=start)
    assert shape(records) == shape(complete)[: len(records)]
    if records:
        middle = records[len(records) // 2]
        rest = read_records(
            data, layout, ds, final=True, start=(middle.end_offset, middle.next_line)
        )
        assert shape(rest) == shape(complete)[records.index(middle) + 1 :]
        if builder is not None:
            # Typing depends on the row only, not on where reading started (a restart).
            resumed = type_all(RecordBuilder(ds, layout), rest)
            whole = type_all(RecordBuilder(ds, layout), complete)
            # (The autumn DST repeat is resolved with the previous row, which a resumed pass
            # has not seen: see timestamps.py.)
            repeat = "2026-10-25".encode(layout.encoding.codec)
            assert resumed == whole[len(whole) - len(resumed) :] or repeat in data


@FUZZ
@given(csv_files(), st.data())
def test_a_growing_file_read_in_passes_gives_the_complete_files_records(
    case: Case, data: st.DataObject
) -> None:
    try:
        layout = read_layout(io.BytesIO(case.data), case.dataset.csv)
    except FileFormatError:
        return
    ds = case.dataset
    complete = read_records(
        case.data, layout, ds, final=True, start=(layout.data_offset, layout.data_line)
    )
    cuts = sorted(data.draw(st.lists(st.integers(layout.data_offset, len(case.data)), max_size=4)))
    offset, line, seen = layout.data_offset, layout.data_line, []
    for cut in [*cuts, len(case.data)]:
        stream = io.BytesIO(case.data)
        for record in iter_records(
            stream, layout, ds.csv, start_offset=offset, start_line=line, final=False, end=cut
        ):
            assert record.end_offset <= cut
            seen.append(record)
            offset, line = record.end_offset, record.next_line
    # What the last pass held back (an unfinished line or quote) is read when the file settles.
    seen.extend(read_records(case.data, layout, ds, final=True, start=(offset, line)))
    assert shape(seen) == shape(complete)


@fuzz_settings(200)
@given(st.binary(max_size=600), st.booleans(), st.sampled_from([256, 1_048_576]))
def test_random_bytes(data: bytes, final: bool, max_line_bytes: int) -> None:
    ds = DatasetConfig.model_validate({"csv": {"maxLineBytes": max_line_bytes}})
    try:
        layout = read_layout(io.BytesIO(data), ds.csv)
        builder = RecordBuilder(ds, layout)
    except FileFormatError:
        return
    records = read_records(
        data, layout, ds, final=final, start=(layout.data_offset, layout.data_line)
    )
    check_accounting(data, layout, records, final=final)
    type_all(builder, records)


@fuzz_settings(300)
@given(
    st.sampled_from(["iso", "epoch_s", "epoch_ms", "%d.%m.%y %H:%M:%S", "%Y-%m-%d %H:%M:%S%z"]),
    st.sampled_from(
        ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Lord_Howe"]
    ),
    st.lists(
        st.one_of(
            st.text(max_size=30),
            st.datetimes().map(lambda d: d.isoformat(sep=" ")),
            st.datetimes().map(lambda d: d.strftime("%d.%m.%y %H:%M:%S")),
            st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
            st.floats().map(str),
            st.integers().map(str),
        ),
        max_size=5,
    ),
)
def test_timestamps_fail_only_with_timestamp_error(fmt: str, zone: str, values: list[str]) -> None:
    parser = TimestampParser(fmt, zone)
    for value in values:
        try:
            result = parser(value)
        except TimestampError:
            continue
        assert result.endswith("Z")
        assert TimestampParser("iso", "UTC")(result) == result  # canonical and readable


NUMERIC_FORMATS = [
    "%d.%m.%y %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%d%m%Y%H%M%S",
    "%m/%d/%Y  %H:%M",
    "%Y-%m-%d",
    "%y%m%d_%H%M%%",
]


@fuzz_settings(300)
@given(
    st.sampled_from(NUMERIC_FORMATS),
    st.one_of(
        st.tuples(st.datetimes(), st.sampled_from(NUMERIC_FORMATS)).map(
            lambda t: t[0].strftime(t[1])
        ),
        st.lists(
            st.sampled_from([*"0123456789./:-_ T\t%", "\u0663", "12", "31", "2026"]), max_size=14
        ).map("".join),
    ),
)
def test_numeric_strptime_is_datetime_strptime(fmt: str, value: str) -> None:
    assert _pattern(fmt) is not None
    parse = compile_format(fmt)
    try:
        expected = datetime.strptime(value, fmt)
    except ValueError:
        try:
            got = parse(value)
        except ValueError:
            return
        # The one extension on these formats: hour 24 is midnight at the end of the day.
        assert got.hour == 0
        assert got.minute == got.second == got.microsecond == 0
    else:
        assert parse(value) == expected


def test_other_strptime_formats_are_left_to_strptime() -> None:
    for fmt in [
        "%d %b %Y",
        "%Y-%m-%d %H:%M:%S%z",
        "%d.%m.%y %d",
        "%I:%M",  # %I without %p: strptime's own reading (AM)
    ]:
        assert _pattern(fmt) is None


@fuzz_settings(300)
@given(
    st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2100, 1, 1)),
    st.sampled_from(
        [
            "Europe/Berlin",
            "America/New_York",
            "Australia/Lord_Howe",
            "America/St_Johns",
            "Asia/Kathmandu",
        ]
    ),
)
def test_local_times_are_read_as_zoneinfo_reads_them(local: datetime, zone: str) -> None:
    # What an aware datetime gives (PEP 495); in a DST gap or repeat the parser does not guess
    # but names both readings, fold=0 first.
    local = local.replace(fold=0)  # the text of a time has no fold (hypothesis draws both)
    expected = local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC).replace(tzinfo=None)
    other = local.replace(fold=1, tzinfo=ZoneInfo(zone)).astimezone(UTC).replace(tzinfo=None)
    try:
        got = TimestampParser("iso", zone)(local.isoformat())
    except AmbiguousTimeError as e:
        readings = e.readings
    else:
        assert expected == other
        assert got == format_utc(expected)
        return
    assert expected != other
    assert readings == (expected, other)
