"""RecordBuilder: column map, type inference, typed columns, quarantine reasons."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.batcher import encode
from edge_agent.csvread.reader import FileFormatError, Layout
from edge_agent.datasets.generic import RecordBuilder, RowError
from tests.csvread import build, dataset, read, records_of


def column_values(data: str, **csv: Any) -> list[Any]:
    """The values of column ``v`` of a one-column file, typed with the dataset's settings."""
    _, _, rows = build(data.encode(), dataset(**csv))
    return [r["v"] for r in records_of(rows)]


def infer_one(value: str, **csv: Any) -> Any:
    """How an unlisted column types ``value`` on its own (first and only row)."""
    csv.setdefault("delimiter", ";")
    return column_values(f"v;pad\n{value};x\n", **csv)[0]


# --------------------------------------------------------------------------- inference


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0),
        ("42", 42),
        ("-42", -42),
        ("+42", 42),
        (" 42 ", 42),
        ("-0", 0),
        # Beyond 64 bits no JSON consumer reads it as a number: kept as written.
        ("12345678901234567890123", "12345678901234567890123"),
        ("-12345678901234567890123", "-12345678901234567890123"),
        ("007", "007"),  # identifiers keep their leading zeros
        ("-007", "-007"),
        ("1_000", "1_000"),
        ("1_000.5", "1_000.5"),
        ("1" * 5000, "1" * 5000),  # more digits than int() converts: text, not an error
        ("1.5", 1.5),
        ("1.", 1.0),
        (".5", 0.5),
        ("-1.5", -1.5),
        ("12.0", 12.0),
        ("1e3", 1000.0),
        ("1.5E-3", 0.0015),
        ("NaN", None),  # a null marker
        (" NaN", None),
        ("-  ", None),
        ("\t", None),
        ("nan", "nan"),
        ("inf", "inf"),
        ("-inf", "-inf"),
        ("1e999", "1e999"),
        ("true", True),
        ("FALSE", False),
        (" True ", True),
        ("yes", "yes"),
        ("running", "running"),
        ("T-01", "T-01"),
        ("0x1F", "0x1F"),
        ("²", "²"),
        ("٣", 3),  # a decimal digit in another script is a digit
        ("1.2.3", "1.2.3"),
        ("2026-11-27", "2026-11-27"),
        ("°C", "°C"),
    ],
)
def test_inference(value: str, expected: Any) -> None:
    got = infer_one(value)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("66,00", 66.0), ("60.00", 60.0), ("1,5e3", 1500.0), ("-0,5", -0.5)],
)
def test_inference_with_decimal_comma(value: str, expected: Any) -> None:
    got = infer_one(value, decimal=",")
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    ("value", "csv", "hint"),
    [
        ("1,5", {}, "set csv.decimal: ','"),
        ("21,25", {}, "set csv.decimal: ','"),
        ("1,137", {}, "set csv.thousands: ','"),
        ("1.137,5", {"decimal": ","}, "set csv.thousands: '.'"),
        ("1,234,5", {"decimal": ","}, ""),
    ],
)
def test_numbers_in_another_convention_are_quarantined_with_a_hint(
    value: str, csv: dict[str, Any], hint: str
) -> None:
    _, _, rows = build(f"v;pad\n{value};x\n".encode(), dataset(delimiter=";", **csv))
    error = rows[0].error
    assert error is not None, rows[0].record
    assert error.startswith(f"column 'v': {value!r} is not a number")
    assert hint in error


def test_thousands_separators_read_when_configured() -> None:
    assert column_values("v;pad\n1,137;x\n42;x\n", delimiter=";", thousands=",") == [1137, 42]
    assert column_values(
        "v;pad\n1.137,5;x\n60,25;x\n", delimiter=";", decimal=",", thousands="."
    ) == [1137.5, 60.25]
    # Only between groups of three: a WinCC "60.00" is not 6000.
    _, _, rows = build(
        b"v;pad\n1.137,5;x\n60.00;x\n", dataset(delimiter=";", decimal=",", thousands=".")
    )
    assert rows[0].record is not None
    assert rows[1].error is not None


def test_an_unlisted_column_has_one_type_per_file() -> None:
    # Numbers in the first rows: a number column; text later is quarantined, not published.
    data = "v;pad\n5;x\n1.5;x\n" + "7;x\n" * 20 + "n.a.;x\n"
    _, _, rows = build(data.encode(), dataset(delimiter=";"))
    assert [r.record["v"] for r in rows[:3] if r.record] == [5, 1.5, 7]
    assert rows[-1].error is not None
    assert "'n.a.' is not a number (as in this file's first rows" in rows[-1].error
    # Text in the first rows: text for the whole file, as written.
    assert column_values("v;pad\n5;x\nrunning;x\n7;x\n", delimiter=";") == ["5", "running", "7"]
    assert column_values("v;pad\n007;x\n12;x\n", delimiter=";") == ["007", "12"]
    assert column_values("v;pad\ntrue;x\nFALSE;x\n", delimiter=";") == [True, False]
    # A column empty in the first rows is typed value by value.
    data = "v;w\n" + "".join(f"{i};\n" for i in range(20)) + "20;x\n21;5\n"
    _, _, rows = build(data.encode(), dataset(delimiter=";"))
    assert [r.record["w"] for r in rows[-2:] if r.record] == ["x", 5]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(["1.5", "5", "abc", "true", "", "NaN", "007", "-3", "1e3", " 7 "]),
            st.integers(-(10**20), 10**20).map(str),
        ),
        min_size=1,
        max_size=30,
    ),
    st.data(),
)
def test_one_type_per_file_whatever_pass_reads_a_row(
    values: list[str], data: st.DataObject
) -> None:
    # The type comes from the file's first rows, so a pass resumed anywhere types (or
    # quarantines) every row exactly as a whole pass, and all values of a column that are
    # published have one JSON type.
    text = ("v;pad\n" + "".join(f'"{v}";x\n' for v in values)).encode()
    ds = dataset(delimiter=";")
    _, _, rows = build(text, ds)
    kinds = {type(r.record["v"]) for r in rows if r.record and r.record["v"] is not None}
    assert kinds <= {int, float} or len(kinds) <= 1
    k = data.draw(st.integers(0, len(rows) - 1))
    start = (rows[k - 1].raw.end_offset, rows[k - 1].raw.next_line) if k else None
    layout, records = read(text, ds, start=start)
    builder = RecordBuilder(ds, layout)
    resumed = []
    for raw in records:
        try:
            resumed.append(builder.build(raw))
        except RowError as e:
            resumed.append(str(e))
    assert resumed == [r.record if r.record is not None else r.error for r in rows[k:]]


def test_the_row_function_is_compiled_once_per_file(monkeypatch: pytest.MonkeyPatch) -> None:
    import edge_agent.datasets.generic as generic  # noqa: PLC0415

    compiled = []
    original = generic.compile_row

    def counting(*args: Any) -> Any:
        compiled.append(1)
        return original(*args)

    monkeypatch.setattr(generic, "compile_row", counting)
    data = "ts,v,empty,late\n" + "".join(
        f"2026-11-27T01:05:{i:02d}Z,{i},,{i if i >= 10 else ''}\n" for i in range(50)
    )
    _, _, rows = build(data.encode(), dataset())
    assert len(records_of(rows)) == 50
    assert len(compiled) == 1


# --------------------------------------------------------------------------- typed columns


def typed(kind: str, values: list[str], **csv: Any) -> list[Any]:
    data = "v;pad\n" + "".join(f"{v};x\n" for v in values)
    ds = dataset({"v": {"type": kind}}, delimiter=";", **csv)
    _, _, rows = build(data.encode(), ds)
    return [r.record["v"] if r.record is not None else r.error for r in rows]


def test_typed_float() -> None:
    assert typed(
        "float", ["1.5", "7", " 2.5 ", "1e3", "NaN", "nan", "inf", "-", " - ", "x", "1_0.5"]
    ) == [
        1.5,
        7.0,
        2.5,
        1000.0,
        None,
        None,  # not a null marker, but not a reading either
        None,
        None,
        None,
        "column 'v': 'x' is not a number",
        "column 'v': '1_0.5' is not a number",
    ]
    assert typed("float", ["66,00", "60.00"], decimal=",") == [66.0, 60.0]


def test_typed_int() -> None:
    assert typed("int", ["7", " -7 ", "12.0", "1e3", "007", "1.5", "1_000", "NaN "]) == [
        7,
        -7,
        12,
        1000,
        7,  # typed int: the configuration says it is a number
        "column 'v': '1.5' is not an integer",
        "column 'v': '1_000' is not an integer",
        None,
    ]
    assert typed("int", ["66,00", "3"], decimal=",") == [66, 3]


def test_typed_bool_and_str() -> None:
    assert typed("bool", ["true", "0", "Yes", " off ", "-", "maybe"]) == [
        True,
        False,
        True,
        False,
        None,
        "column 'v': 'maybe' is not a boolean (true/false, 1/0, yes/no)",
    ]
    assert typed("str", ["007", " x ", "1.5", "-", " - ", "NaN  "]) == [
        "007",
        " x ",
        "1.5",
        None,
        None,
        None,
    ]


def test_records_are_json_without_nan() -> None:
    ds = dataset({"f": {"type": "float"}}, nullValues=[""])
    data = b"f,g\nNaN,NaN\ninf,-inf\n1e999,1e999\n"
    _, _, rows = build(data, ds)
    for record in records_of(rows):
        json.loads(encode(record))
    assert [(r["f"], r["g"]) for r in records_of(rows)] == [
        (None, "NaN"),
        (None, "-inf"),
        (None, "1e999"),
    ]


# --------------------------------------------------------------------------- the column map


def test_names_are_unique_and_never_ts_or_line() -> None:
    data = b"ts,a,a,line,,ts_,col5,a\n2026-11-27T01:05:00Z,1,2,3,4,5,6,7\n"
    _, _, rows = build(data, dataset(timestampColumn="ts"))
    assert records_of(rows) == [
        {
            "ts": "2026-11-27T01:05:00Z",
            "line": 2,
            "a": 1,
            "a_2": 2,
            "line_": 3,
            "col5": 4,
            "ts_": 5,
            "col5_2": 6,
            "a_3": 7,
        }
    ]


def test_columns_renamed_skipped_and_units() -> None:
    ds = dataset(
        {
            "Temp (°C)": {"name": "temp_c", "type": "float"},
            "Secret": {"skip": True},
            "Flow": {"unit": "l/min"},
        },
        headerRow=1,
        unitsRow=2,
    )
    data = "Zeit,Temp (°C),Secret,Flow\n,degC,,m3/h\n2026-11-27T01:05:00Z,21.5,pw,3\n"
    _, builder, rows = build(data.encode(), ds)
    # A configured unit wins over the units row; the timestamp column has none.
    assert builder.units == {"temp_c": "degC", "Flow": "l/min"}
    assert records_of(rows) == [
        {"line": 3, "Zeit": "2026-11-27T01:05:00Z", "temp_c": 21.5, "Flow": 3}
    ]


def test_timestamp_column_is_found_by_name() -> None:
    for name in ["ts", "Timestamp", "TIME", "DateTime", "date_time", "TimeString"]:
        _, _, rows = build(f"{name},v\n2026-11-27T01:05:00Z,1\n".encode(), dataset())
        assert records_of(rows) == [{"ts": "2026-11-27T01:05:00Z", "line": 2, "v": 1}]
    _, _, rows = build(b"when,v\n2026-11-27T01:05:00Z,1\n", dataset())
    assert records_of(rows) == [{"line": 2, "when": "2026-11-27T01:05:00Z", "v": 1}]


def test_timestamp_column_by_configured_name_or_position() -> None:
    data = b"when,v\n2026-11-27T01:05:00Z,1\n"
    for column in ["when", "2026", "1"][::2]:
        _, _, rows = build(data, dataset(timestampColumn=column))
        assert records_of(rows) == [{"ts": "2026-11-27T01:05:00Z", "line": 2, "v": 1}]
    _, _, rows = build(data, dataset({"when": {"name": "at"}}, timestampColumn="at"))
    assert records_of(rows) == [{"ts": "2026-11-27T01:05:00Z", "line": 2, "v": 1}]
    with pytest.raises(FileFormatError, match="timestamp column 'stamp' is not in the header"):
        build(data, dataset(timestampColumn="stamp"))


def test_timestamp_problems_are_row_errors() -> None:
    data = b"ts,v\n-,1\n NaN ,2\nlater,3\n2026-11-27T01:05:00Z\n"
    _, _, rows = build(data, dataset())
    assert [r.error for r in rows] == [
        "no timestamp: column 'ts' is empty",
        "no timestamp: column 'ts' is empty",
        "column 'ts': 'later' is not a timestamp in format iso: Invalid isoformat string: 'later'",
        "1 fields but the header has 2 columns",
    ]
    data = b"d,t,v\n2026-11-27,01:05:00,1\n2026-11-27,,2\n"
    _, _, rows = build(data, dataset(timestampColumn=["d", "t"]))
    assert rows[0].record == {"ts": "2026-11-27T01:05:00Z", "line": 2, "v": 1}
    assert rows[1].error == "no timestamp: column 't' is empty"  # not midnight
    _, _, rows = build(b"d,t,v\n2026-11-27,25:00,1\n", dataset(timestampColumn=["d", "t"]))
    assert rows[0].error is not None
    assert rows[0].error.startswith("column 'd' + 't': '2026-11-27 25:00' is not a timestamp")


def test_skip_patterns_see_the_raw_line() -> None:
    ds = dataset(skipPatterns=["^#", "CALIBRATION"])
    data = b"ts,v\n# comment\n2026-11-27T01:05:00Z,1\n2026-11-27T01:06:00Z,CALIBRATION\n"
    _, _, rows = build(data, ds)
    assert [r.skipped for r in rows] == [
        "matches skipPatterns '^#'",
        None,
        "matches skipPatterns 'CALIBRATION'",
    ]


def test_problem_records_raise_their_problem() -> None:
    layout, records = read(b"a\n\xff\n")
    builder = RecordBuilder(dataset(), layout)
    with pytest.raises(RowError, match="not valid utf-8"):
        builder.build(records[0])
    assert builder.skip_reason(records[0]) is None


def test_file_without_readable_rows_at_layout_time_names_columns_by_position() -> None:
    # The first 64 lines of this headerless file have nothing to count columns with: each row
    # is typed by its own width (not by the first row read, which a resumed pass has not seen).
    data = b"\n" * 70 + b"2026-11-27T01:05:00Z,1,x\n2026-11-27T01:06:00Z,2,y,z\n"
    ds = dataset(headerRow=None, timestampColumn="1")
    layout, _, rows = build(data, ds)
    assert layout.header is None
    assert rows[70].record == {"ts": "2026-11-27T01:05:00Z", "line": 71, "col2": 1, "col3": "x"}
    assert rows[71].record == {
        "ts": "2026-11-27T01:06:00Z",
        "line": 72,
        "col2": 2,
        "col3": "y",
        "col4": "z",
    }
    with pytest.raises(FileFormatError, match="timestamp column 'ts'"):
        RecordBuilder(dataset(headerRow=None, timestampColumn="ts"), layout)
    # A configured required column beyond a row's width is that row's problem.
    required = dataset({"4": {"required": True}}, headerRow=None, timestampColumn="1")
    builder = RecordBuilder(required, layout)
    _, records = read(data, required)
    with pytest.raises(RowError, match="required column\\(s\\) '4' not in the header"):
        builder.build(records[70])
    assert builder.build(records[71])["col4"] == "z"


def test_builder_takes_any_layout() -> None:
    # A layout made by hand (as ingest could after a restart) works the same.
    layout, records = read(b"ts,v\n2026-11-27T01:05:00Z,1\n")
    copy = Layout(
        encoding=layout.encoding,
        delimiter=layout.delimiter,
        quotechar=layout.quotechar,
        header=layout.header,
        units=None,
        data_offset=layout.data_offset,
        data_line=layout.data_line,
    )
    assert RecordBuilder(dataset(), copy).build(records[0]) == {
        "ts": "2026-11-27T01:05:00Z",
        "line": 2,
        "v": 1,
    }


def test_integers_beyond_64_bits_are_never_left_unpublishable() -> None:
    # JSON consumers (and orjson) stop at 64 bits: an unlisted column keeps the digits as text,
    # a typed int column makes the row a quarantine entry with a reason, and every record that
    # comes out can be encoded.
    huge = "123456789012345678901234567890"
    assert infer_one(huge) == huge
    assert infer_one("-" + huge) == "-" + huge
    # In a number column (numbers in the first rows), it is a quarantine entry.
    data = "v;pad\n" + "12;x\n" * 20 + f"{huge};x\n"
    _, _, rows = build(data.encode(), dataset(delimiter=";"))
    assert rows[0].record is not None
    assert rows[0].record["v"] == 12
    assert rows[-1].error is not None
    assert infer_one("18446744073709551615") == 2**64 - 1
    results = typed("int", ["5", huge, "-9223372036854775808"])
    assert results[0] == 5 and results[2] == -(2**63)
    assert isinstance(results[1], str)
    assert "not an integer" in results[1]


def test_encode_refuses_what_json_cannot_carry() -> None:
    from edge_agent.batcher import EncodeError  # noqa: PLC0415

    with pytest.raises(EncodeError, match="JSON"):
        encode({"v": 2**70})
