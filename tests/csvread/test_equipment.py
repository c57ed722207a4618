"""What real equipment writes (issue 13), on small files made here: one test per capability.

Time bases in the preamble, compound times, zones stated by the file, numbers as equipment
writes them, ragged and structured files, and what must be loud instead of silently wrong.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.config.datasets import DatasetConfig
from edge_agent.config.load import parse_config
from edge_agent.csvread.reader import FileFormatError
from edge_agent.datasets.generic import RecordBuilder
from edge_agent.errors import ConfigError
from tests.csvread import build, dataset, read, records_of


def resumed_everywhere(data: bytes, ds: DatasetConfig) -> list[Any]:
    """What a whole pass gives; asserts a pass resumed at every record gives the same."""
    _, _, rows = build(data, ds)
    whole = [r.record if r.record is not None else r.error for r in rows if r.skipped is None]
    for k in range(1, len(rows)):
        start = (rows[k - 1].raw.end_offset, rows[k - 1].raw.next_line)
        layout, records = read(data, ds, start=start)
        builder = RecordBuilder(ds, layout)
        again = []
        for raw in records:
            if builder.skip_reason(raw) is not None:
                continue
            try:
                again.append(builder.build(raw))
            except ValueError as e:
                again.append(str(e))
        expected = [r.record if r.record is not None else r.error for r in rows[k:]]
        assert again == [e for e, r in zip(expected, rows[k:], strict=True) if r.skipped is None]
    return whole


# --------------------------------------------------------------------------- 1. time base


def test_year_and_month_from_a_preamble_line_with_day_and_time_in_the_rows() -> None:
    data = b"Unit: Hydro-X,,,\n2024-12,,,\n,,,\nDay,H:M,Temp(C),CO2\n"
    data += b"1,0:00,21.1,783\n9,23:59,20.5,790\n"
    ds = dataset(
        headerRow=4,
        timestampColumn=["Day", "H:M"],
        timestampFormat="%Y-%m %d %H:%M",
        timeBase={"pattern": r"^(?P<base>\d{4}-\d{2}),"},
        timezone="America/Los_Angeles",
    )
    records = resumed_everywhere(data, ds)
    assert [r["ts"] for r in records] == ["2024-12-01T08:00:00Z", "2024-12-10T07:59:00Z"]
    assert records[0]["Temp(C)"] == 21.1


def test_offsets_from_a_start_time_in_the_preamble() -> None:
    data = (
        b"Start;2026-03-01 10:00:00.000\n\nt_ms;v\n0;1\n250,5;2\n1000;3\n",
        b"Starttime\t132959733843760000\n\nt\tv\n0\t1\n0,2\t2\n",
    )
    ds = dataset(
        headerRow=3,
        delimiter=";",
        decimal=",",
        timestampColumn="t_ms",
        timestampFormat="offset_ms",
        timeBase={"pattern": r"^Start;(.+)$", "format": "%Y-%m-%d %H:%M:%S.%f"},
        timezone="Europe/Berlin",
    )
    assert [r["ts"] for r in resumed_everywhere(data[0], ds)] == [
        "2026-03-01T09:00:00Z",
        "2026-03-01T09:00:00.250500Z",
        "2026-03-01T09:00:01Z",
    ]
    # A Windows FILETIME start (TwinCAT Scope): UTC whatever the zone.
    ds = dataset(
        headerRow=3,
        delimiter="\\t",
        decimal=",",
        timestampColumn="t",
        timestampFormat="offset_ms",
        timeBase={"pattern": r"^Starttime\t(\d+)", "format": "filetime"},
    )
    assert [r["ts"] for r in records_of(build(data[1], ds)[2])] == [
        "2022-05-02T13:56:24.376Z",
        "2022-05-02T13:56:24.376200Z",
    ]


def test_a_time_base_the_file_does_not_have_refuses_the_file() -> None:
    ds = dataset(
        timestampColumn="t",
        timestampFormat="offset_s",
        timeBase={"pattern": r"^Start: (.+)$", "format": "iso"},
    )
    with pytest.raises(FileFormatError, match=r"timeBase\.pattern"):
        build(b"t,v\n0,1\n", ds)


def test_relative_formats_need_a_time_base() -> None:
    with pytest.raises(ValueError, match="timeBase"):
        dataset(timestampFormat="offset_ms")


# --------------------------------------------------------------------------- 2. compound times


def test_year_day_of_year_and_hhmm_integers_with_2400() -> None:
    data = b"101,2024,258,2330,1.5\n101,2024,258,2400,1.6\n101,2024,259,30,1.7\n"
    ds = dataset(headerRow=None, timestampColumn=["2", "3", "4"], timestampFormat="%Y %j %H%M")
    assert [r["ts"] for r in resumed_everywhere(data, ds)] == [
        "2024-09-14T23:30:00Z",
        "2024-09-15T00:00:00Z",  # 2400 of day 258 is midnight at its end
        "2024-09-15T00:30:00Z",
    ]
    _, _, rows = build(b"101,2024,258,2460,1\n101,2024,367,100,1\n", ds)
    assert all(r.error is not None for r in rows)


@pytest.mark.parametrize(
    ("fmt", "value", "expected"),
    [
        ("%m/%d/%y %I:%M%p", "8/20/17 12:05a", "2017-08-20T00:05:00Z"),
        ("%m/%d/%y %I:%M%p", "8/20/17 12:05p", "2017-08-20T12:05:00Z"),
        ("%m/%d/%y %I:%M%p", "8/21/17 11:50p", "2017-08-21T23:50:00Z"),
        ("%m/%d/%Y %I.%M %p", "07/26/2024 12.15 AM", "2024-07-26T00:15:00Z"),
        ("%m/%d/%Y %I.%M %p", "07/26/2024 01.00 PM", "2024-07-26T13:00:00Z"),
        ("%d.%m.%Y %I:%M:%S %p", "01.04.2026 11:02:52 p.m.", "2026-04-01T23:02:52Z"),
        ("%d.%m.%Y %H:%M:%S.%f", "08.07.2018 03:18:14.971526", "2018-07-08T03:18:14.971526Z"),
        ("%d.%m.%Y %H:%M", "08.07.2018 24:00", "2018-07-09T00:00:00Z"),
    ],
)
def test_twelve_hour_clocks_dots_and_microseconds(fmt: str, value: str, expected: str) -> None:
    ds = dataset(timestampColumn="t", timestampFormat=fmt)
    _, _, rows = build(
        f"t;v\n{value};1\n".encode(),
        dataset(
            delimiter=";",
            **ds.csv.model_dump(by_alias=True, include={"timestamp_column", "timestamp_format"}),
        ),
    )
    assert records_of(rows)[0]["ts"] == expected


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2068, 12, 31)))
def test_compound_times_read_back_what_was_written(when: datetime) -> None:
    from edge_agent.csvread.timeformats import compile_format  # noqa: PLC0415

    when = when.replace(second=0, microsecond=0)
    day = when.timetuple().tm_yday
    hhmm = when.hour * 100 + when.minute
    assert compile_format("%Y %j %H%M")(f"{when.year} {day} {hhmm}") == when
    if hhmm == 0 and day > 1:  # the same instant written as 2400 of the day before
        assert compile_format("%Y %j %H%M")(f"{when.year} {day - 1} 2400") == when
    half = "a" if when.hour < 12 else "p"
    twelve = when.strftime("%m/%d/%y ") + f"{(when.hour + 11) % 12 + 1}:{when.minute:02d}{half}"
    assert compile_format("%m/%d/%y %I:%M%p")(twelve) == when
    with_micro = when.replace(microsecond=when.year * 97 % 1_000_000)
    text = with_micro.strftime("%d.%m.%Y %H:%M:%S.%f")
    assert compile_format("%d.%m.%Y %H:%M:%S.%f")(text) == with_micro


# --------------------------------------------------------------------------- 3. zones


def test_zone_from_the_time_columns_name() -> None:
    data = b'"#","Date Time, GMT-05:00","Temp"\n1,24/07/20 21:00:00,11.5\n'
    ds = dataset(
        timestampColumn="Date Time, GMT-05:00",
        timestampFormat="%y/%m/%d %H:%M:%S",
        timezonePattern=r"(?P<zone>GMT[+-]\d\d:\d\d)",
    )
    assert records_of(build(data, ds)[2])[0]["ts"] == "2024-07-21T02:00:00Z"
    with pytest.raises(FileFormatError, match="timezonePattern"):
        build(
            data.replace(b", GMT-05:00", b""),
            dataset(
                **{
                    **ds.csv.model_dump(by_alias=True, exclude_defaults=True),
                    "timestampColumn": "Date Time",
                }
            ),
        )


def test_zone_from_a_metadata_line() -> None:
    data = b'"Time zone";"Europe/Berlin"\n"Time";"P [W]"\n"07/26/2024 12.15 AM";"1,137"\n'
    ds = dataset(
        headerRow=2,
        timestampColumn="Time",
        timestampFormat="%m/%d/%Y %I.%M %p",
        thousands=",",
        timezonePattern=r'^"Time zone";"(?P<zone>[^"]+)"',
    )
    assert records_of(build(data, ds)[2]) == [
        {"ts": "2024-07-25T22:15:00Z", "line": 3, "P [W]": 1137}
    ]


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("UTC-05:00", "2026-01-01T05:00:00Z"),
        ("+01:00", "2025-12-31T23:00:00Z"),
        ("GMT+00:00", "2026-01-01T00:00:00Z"),
        ("UTC+05:30", "2025-12-31T18:30:00Z"),
        ("Etc/GMT+5", "2026-01-01T05:00:00Z"),  # POSIX sign: five hours behind
    ],
)
def test_fixed_offsets_in_the_configuration(zone: str, expected: str) -> None:
    ds = dataset(timezone=zone)
    assert records_of(build(b"ts,v\n2026-01-01 00:00:00,1\n", ds)[2])[0]["ts"] == expected


@pytest.mark.parametrize("zone", ["PST", "CEST", "UTC+25:00", "Mars/Olympus"])
def test_zones_not_accepted_say_what_is(zone: str) -> None:
    with pytest.raises(ValueError, match=r"fixed offset such as UTC-05:00|out of range"):
        dataset(timezone=zone)


# --------------------------------------------------------------------------- 4. numbers


def test_scale_and_offset_are_exact() -> None:
    ds = dataset(
        {"VarValue": {"name": "temp_c", "scale": 0.1, "unit": "°C"}, "raw": {"offset": -273.15}},
        delimiter=";",
    )
    data = b"VarValue;raw\n-294;300\n12;273.15\n"
    records = records_of(build(data, ds)[2])
    assert [r["temp_c"] for r in records] == [-29.4, 1.2]
    assert [r["raw"] for r in records] == [26.85, 0.0]


def test_a_packed_cell_is_split_into_named_fields() -> None:
    ds = dataset(
        {
            "probes": {
                "type": "int",
                "unit": "mV",
                "packed": {"names": {"0": "soil_1", "1": "soil_2", "2": "soil_3"}},
            }
        },
        timestampColumn="t",
    )
    data = b't,probes\n2026-01-01T00:00:00Z,"0:681 1:679 "\n2026-01-01T00:05:00Z,"1:5"\n'
    _, builder, rows = build(data, ds)
    assert records_of(rows) == [
        {"ts": "2026-01-01T00:00:00Z", "line": 2, "soil_1": 681, "soil_2": 679, "soil_3": None},
        {"ts": "2026-01-01T00:05:00Z", "line": 3, "soil_1": None, "soil_2": 5, "soil_3": None},
    ]
    assert builder.units == {"soil_1": "mV", "soil_2": "mV", "soil_3": "mV"}
    _, _, rows = build(b't,probes\n2026-01-01T00:00:00Z,"7:1"\n', ds)
    assert rows[0].error is not None
    assert "key '7' is not in packed.names" in rows[0].error


@settings(max_examples=200, deadline=None)
@given(
    st.decimals(min_value=-(10**9), max_value=10**9, places=3, allow_nan=False),
    st.sampled_from([(".", ","), (",", "."), (",", " "), (".", "'")]),
)
def test_grouped_numbers_read_back(value: Any, style: tuple[str, str]) -> None:
    decimal, thousands = style
    whole, _, fraction = f"{abs(value):.3f}".partition(".")
    groups = f"{int(whole):,}".replace(",", thousands)
    text = ("-" if value < 0 else "") + groups + decimal + fraction
    ds = dataset({"v": {"type": "float"}}, delimiter=";", decimal=decimal, thousands=thousands)
    records = records_of(build(f'v;x\n"{text}";1\n'.encode(), ds)[2])
    assert records[0]["v"] == float(value)


# --------------------------------------------------------------------------- 5. ragged, structured


def test_short_rows_padded_long_rows_quarantined_cut_last_line_quarantined() -> None:
    data = b"a,b,c\n1,2,3\n4,5\n6\n7,8,9,10\n11,12"
    _, _, rows = build(data, dataset(shortRows="pad"))
    assert [r.record for r in rows[:3]] == [
        {"line": 2, "a": 1, "b": 2, "c": 3},
        {"line": 3, "a": 4, "b": 5, "c": None},
        {"line": 4, "a": 6, "b": None, "c": None},
    ]
    assert rows[3].error == "4 fields but the header has 3 columns"
    assert rows[4].error is not None
    assert "cut off while being written" in rows[4].error
    _, _, rows = build(data, dataset())
    assert rows[1].error == "2 fields but the header has 3 columns"


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 99).map(str), min_size=1, max_size=6), min_size=1, max_size=15)
)
def test_ragged_rows_property(rows: list[list[str]]) -> None:
    data = ("a,b,c,d\n" + "".join(",".join(r) + "\n" for r in rows)).encode()
    _, _, built = build(data, dataset({k: {"type": "int"} for k in "abcd"}, shortRows="pad"))
    for row, result in zip(rows, built, strict=True):
        if len(row) > 4:
            assert result.error is not None
        else:
            assert result.record is not None
            assert [result.record[k] for k in "abcd"] == [int(v) for v in row] + [None] * (
                4 - len(row)
            )


WEATHERLINK = (
    "                  Temp     Hi   Wind\r\n"
    "  Date    Time     Out   Temp    Dir\r\n"
    "------------------------------------\r\n"
    " 8/20/17 12:05a   69.5   69.7    WSW\r\n"
    " 8/20/17  1:10p  102.6   69.9    ---\r\n"
)


def test_fixed_width_with_a_two_line_header_and_a_dashed_rule() -> None:
    ds = dataset(
        delimiter="fixed",
        headerRows=2,
        firstDataRow=4,
        nullValues=["", "---"],
        timestampColumn=["Date", "Time"],
        timestampFormat="%m/%d/%y %I:%M%p",
        timezone="America/Denver",
    )
    layout, _, rows = build(WEATHERLINK.encode(), ds)
    assert layout.header == ("Date", "Time", "Temp Out", "Hi Temp", "Wind Dir")
    assert records_of(rows)[:2] == [
        {
            "ts": "2017-08-20T06:05:00Z",
            "line": 4,
            "Temp Out": 69.5,
            "Hi Temp": 69.7,
            "Wind Dir": "WSW",
        },
        {
            "ts": "2017-08-20T19:10:00Z",
            "line": 5,
            "Temp Out": 102.6,
            "Hi Temp": 69.9,
            "Wind Dir": None,
        },
    ]
    # A value wider than its column (and than the file's first rows) is not cut in two:
    # quarantined.
    wide = WEATHERLINK + " 8/20/17  1:10p  102.6   69.9    ---\r\n" * 20
    wide += " 8/20/17  1:15p   70.1 1069.9    WSW\r\n"
    _, _, rows = build(wide.encode(), ds)
    assert rows[-1].error is not None
    assert "crosses the column boundary" in rows[-1].error


def test_record_types_told_apart_by_a_discriminator() -> None:
    data = b"101,2024,258,30,13.6,4.4\n102,2024,258,30,1\n101,2024,258,100,13.7,4.5\n103,1\n"
    ds = DatasetConfig.model_validate(
        {
            "csv": {
                "headerRow": None,
                "timestampColumn": ["2", "3", "4"],
                "timestampFormat": "%Y %j %H%M",
            },
            "recordTypes": {
                "column": "1",
                "types": {
                    "101": {
                        "name": "weather",
                        "columns": {"5": {"name": "batt_v"}, "6": {"name": "air_c", "unit": "°C"}},
                    },
                    "102": {"name": "status", "columns": {"5": {"name": "door", "type": "int"}}},
                },
            },
        }
    )
    _, builder, rows = build(data, ds)
    assert [r.record for r in rows[:3]] == [
        {
            "ts": "2024-09-14T00:30:00Z",
            "line": 1,
            "col1": 101,
            "batt_v": 13.6,
            "air_c": 4.4,
            "recordType": "weather",
        },
        {"ts": "2024-09-14T00:30:00Z", "line": 2, "col1": 102, "door": 1, "recordType": "status"},
        {
            "ts": "2024-09-14T01:00:00Z",
            "line": 3,
            "col1": 101,
            "batt_v": 13.7,
            "air_c": 4.5,
            "recordType": "weather",
        },
    ]
    assert rows[3].error is not None
    assert "record type '103'" in rows[3].error
    assert builder.units == {"air_c": "°C"}


def test_a_time_line_followed_by_its_value_lines() -> None:
    data = b"2026-01-01 00:00:00\n0.0,21.5\n1.0,21.7\n2026-01-01 00:05:00\n0.0,21.6\n1.0,21.8\n"
    ds = dataset(headerRow=None, recordStartPattern=r"^\d{4}-\d\d-\d\d ", timestampColumn="1")
    records = resumed_everywhere(data, ds)
    assert records == [
        {
            "ts": "2026-01-01T00:00:00Z",
            "line": 1,
            "col2": 0.0,
            "col3": 21.5,
            "col4": 1.0,
            "col5": 21.7,
        },
        {
            "ts": "2026-01-01T00:05:00Z",
            "line": 4,
            "col2": 0.0,
            "col3": 21.6,
            "col4": 1.0,
            "col5": 21.8,
        },
    ]
    # A growing file: the last reading may get more value lines; it is read on a later pass.
    _, records_growing = read(data, ds, final=False)
    assert [r.line for r in records_growing] == [1]
    # Value lines before any time line cannot be given a time: quarantined.
    _, _, rows = build(b"5,6\n" + data, ds)
    assert rows[0].error is not None
    assert "before any line that matches csv.recordStartPattern" in rows[0].error


# --------------------------------------------------------------------------- 7. loud, not wrong


def _config(csv: dict[str, Any], columns: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "thingName": "t",
        "stateDir": "/tmp/x",
        "sources": [{"name": "s", "path": "/tmp", "dataset": "d"}],
        "datasets": {"d": {"csv": csv, "columns": columns or {}}},
    }


@pytest.mark.parametrize("fmt", ["%d.%m. %H:%M", "%H:%M:%S", "%m/%d %I:%M %p", "%j %H%M"])
def test_a_timestamp_format_without_a_year_is_refused(fmt: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_config({"timestampFormat": fmt}))
    [problem] = caught.value.problems
    assert problem.path == "datasets.d.csv.timestampFormat"
    assert "no year" in str(problem)


def test_a_mapped_column_the_file_does_not_have_is_a_warning() -> None:
    ds = dataset({"Temp (°C)": {"name": "temp_c"}, "Humidity": {"name": "rh"}})
    _, builder, rows = build(b"ts,Temp (C)\n2026-01-01T00:00:00Z,1\n", ds)
    assert records_of(rows)
    assert len(builder.warnings) == 2
    assert builder.warnings[0].startswith("column 'Temp (°C)' is mapped in the dataset's columns")
    assert "its columns: ts, Temp (C)" in builder.warnings[0]


def test_the_configuration_docs_describe_every_field() -> None:
    from edge_agent.config import datasets  # noqa: PLC0415

    models = [
        datasets.CsvConfig,
        datasets.ColumnConfig,
        datasets.DatasetConfig,
        datasets.PackedConfig,
        datasets.TimeBaseConfig,
        datasets.RecordTypeConfig,
        datasets.RecordTypesConfig,
    ]
    for model in models:
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"


def test_when_written_is_now_utc() -> None:
    # The formatter keeps what a timestamp has: seconds, milliseconds or microseconds.
    from edge_agent.csvread.timestamps import format_utc  # noqa: PLC0415

    base = datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)
    assert format_utc(base) == "2026-01-01T00:00:00Z"
    assert format_utc(base + timedelta(milliseconds=5)) == "2026-01-01T00:00:00.005Z"
    assert format_utc(base + timedelta(microseconds=5)) == "2026-01-01T00:00:00.000005Z"
