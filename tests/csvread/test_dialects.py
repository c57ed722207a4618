"""The CSV dialects legacy equipment writes (notes/csv-dialects.md), read and typed end to end.

Every file is built here as bytes. ``build``/``read`` also check the accounting property:
records follow each other without gaps, each record's bytes are its lines, and a complete
file is read to its last byte.
"""

from __future__ import annotations

import io

import pytest

from edge_agent.config.datasets import CsvConfig, DatasetConfig
from edge_agent.csvread.reader import FileFormatError, iter_records, read_layout, sniff_delimiter
from edge_agent.datasets.generic import RecordBuilder
from tests.csvread import build, check_accounting, dataset, read, records_of

# --------------------------------------------------------------------------- encodings

TOWER = "timestamp,tray_id,height_mm,air_temp_c\n2026-11-27T01:05:00Z,T-01,123,21.5\n"
TOWER_RECORD = {
    "ts": "2026-11-27T01:05:00Z",
    "line": 2,
    "tray_id": "T-01",
    "height_mm": 123,
    "air_temp_c": 21.5,
}


def test_utf8_without_and_with_bom_read_alike() -> None:
    plain = TOWER.encode()
    layout, _, rows = build(plain, dataset())
    assert layout.encoding.codec == "utf-8"
    assert layout.encoding.bom_length == 0
    assert records_of(rows) == [TOWER_RECORD]

    layout, _, rows = build(b"\xef\xbb\xbf" + plain, dataset())
    assert layout.encoding.bom_length == 3
    assert layout.header is not None
    assert layout.header[0] == "timestamp"  # no BOM glued to the first column name
    assert layout.data_offset == 3 + len(plain.split(b"\n")[0]) + 1
    assert records_of(rows) == [TOWER_RECORD]


def test_excel_unicode_text_utf16le_bom_tab_separated() -> None:
    text = "Zeit\tTemperatur (°C)\tDurchfluss (µl/min)\r\n2026-11-27 01:05:00\t21,5\t300\r\n"
    text += "2026-11-27 01:10:00\t22,0\t310\r\n"
    data = b"\xff\xfe" + text.encode("utf-16-le")
    ds = dataset(decimal=",", timestampColumn="Zeit", timezone="Europe/Berlin")
    layout, _, rows = build(data, ds)
    assert layout.encoding.codec == "utf-16-le"
    assert layout.encoding.bom_length == 2
    assert layout.delimiter == "\t"
    assert layout.header == ("Zeit", "Temperatur (°C)", "Durchfluss (µl/min)")
    assert records_of(rows) == [
        {
            "ts": "2026-11-27T00:05:00Z",
            "line": 2,
            "Temperatur (°C)": 21.5,
            "Durchfluss (µl/min)": 300,
        },
        {
            "ts": "2026-11-27T00:10:00Z",
            "line": 3,
            "Temperatur (°C)": 22.0,
            "Durchfluss (µl/min)": 310,
        },
    ]
    assert rows[-1].raw.end_offset == len(data)


@pytest.mark.parametrize(
    ("codec", "name"), [("utf-16-le", "utf-16-le"), ("utf-16-be", "utf-16-be")]
)
def test_utf16_without_bom_is_detected(codec: str, name: str) -> None:
    data = TOWER.encode(codec)
    layout, _, rows = build(data, dataset())
    assert layout.encoding.codec == name
    assert layout.encoding.bom_length == 0
    assert records_of(rows) == [TOWER_RECORD]


def test_utf16_line_numbers_and_offsets_with_a_newline_like_code_unit() -> None:
    # U+0A0A is the bytes 0A 0A in UTF-16: a newline byte that is not a newline.
    text = "a,b\n\u0a0a,1\nx,2\n"
    data = b"\xff\xfe" + text.encode("utf-16-le")
    _, records = read(data)
    assert [(r.line, r.fields) for r in records] == [(2, ["\u0a0a", "1"]), (3, ["x", "2"])]
    assert records[0].end_offset == 2 + len("a,b\n\u0a0a,1\n".encode("utf-16-le"))


CP1252 = "Zeit;Temp (°C);Durchfluss (µl)\r\n01.04.26 11:02:52;21,5;300\r\n".encode("cp1252")


def test_cp1252_header_with_degree_and_micro_signs() -> None:
    assert b"\xb0" in CP1252
    assert b"\xb5" in CP1252
    ds = dataset(
        {"Temp (°C)": {"name": "temp_c", "type": "float", "unit": "°C"}},
        encoding="cp1252",
        decimal=",",
        timestampColumn="Zeit",
        timestampFormat="%d.%m.%y %H:%M:%S",
        timezone="Europe/Berlin",
    )
    layout, builder, rows = build(CP1252, ds)
    assert layout.header == ("Zeit", "Temp (°C)", "Durchfluss (µl)")
    assert layout.delimiter == ";"
    assert builder.units == {"temp_c": "°C"}
    assert records_of(rows) == [
        {"ts": "2026-04-01T09:02:52Z", "line": 2, "temp_c": 21.5, "Durchfluss (µl)": 300}
    ]


@pytest.mark.parametrize("encoding", ["auto", "utf-8"])
def test_cp1252_read_as_utf8_rejects_the_whole_file_with_a_helpful_message(
    encoding: str,
) -> None:
    with pytest.raises(FileFormatError) as caught:
        read_layout(io.BytesIO(CP1252), CsvConfig(encoding=encoding))
    message = str(caught.value)
    assert "line 1" in message
    assert "utf-8" in message
    assert "csv.encoding" in message  # the key to change
    assert "cp1252" in message  # and the likely value
    assert f"csv.encoding is {encoding}" in message


def test_bad_bytes_in_a_data_line_are_that_rows_problem_only() -> None:
    data = b"a,b\n1,x\n2,caf\xe9\n3,z\n"
    layout, _, rows = build(data, dataset())
    assert [r.raw.line for r in rows] == [2, 3, 4]
    assert rows[0].record == {"line": 2, "a": 1, "b": "x"}
    assert rows[2].record == {"line": 4, "a": 3, "b": "z"}
    bad = rows[1]
    assert bad.raw.fields is None
    assert bad.error is not None
    assert "line 3" in bad.error
    assert "utf-8" in bad.error
    assert "csv.encoding" in bad.error
    assert bad.raw.raw == "2,caf\ufffd"
    assert layout.encoding.codec == "utf-8"


# --------------------------------------------------------------------------- delimiters


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(delimiter: str) -> None:
    # Quoted names hold the other candidates, which must not count.
    others = "".join(d for d in ",;\t|" if d != delimiter)
    header = delimiter.join(["ts", f'"a{others}b"', "c"])
    row = delimiter.join(["2026-11-27T01:05:00Z", "1", "x"])
    layout, _, rows = build(f"{header}\n{row}\n".encode(), dataset())
    assert layout.delimiter == delimiter
    assert records_of(rows) == [
        {"ts": "2026-11-27T01:05:00Z", "line": 2, f"a{others}b": 1, "c": "x"}
    ]


# A tab is configured as "\\t": CsvConfig strips whitespace, so a literal tab does not survive
# (config/models.py, reported).
@pytest.mark.parametrize("delimiter", [",", ";", "|", "\\t"])
def test_configured_delimiter_wins_over_sniffing(delimiter: str) -> None:
    actual = "\t" if delimiter == "\\t" else delimiter
    # The header alone would sniff as ',' (two commas); the configuration says otherwise.
    header = actual.join(["ts", "a,b,c"]) if actual != "," else "ts,a"
    data = f"{header}\n2026-11-27T01:05:00Z{actual}1\n".encode()
    layout, _ = read(data, CsvConfig(delimiter=delimiter))
    assert layout.delimiter == actual
    assert layout.header is not None
    assert len(layout.header) == 2


def test_sniffing_with_names_holding_other_candidates() -> None:
    assert sniff_delimiter("Temp, C;Druck") == ","  # a tie, no other evidence: ','
    assert sniff_delimiter("Temp, C;Druck", data="21;1013") == ";"  # the data row agrees
    assert sniff_delimiter("a|b,c|d", data="1,2|3,4|5") == "|"
    assert sniff_delimiter("single") == ","
    # A decimal comma file is not comma separated when anything else separates its header.
    assert sniff_delimiter("Temp, C;Druck, bar", decimal=",") == ";"
    assert sniff_delimiter("Temp, C;Druck, bar") == ","
    assert sniff_delimiter("a,b", decimal=",") == ","
    layout, _ = read("Temp, °C;Druck, bar\n21,5;1013,2\n".encode(), CsvConfig(decimal=","))
    assert layout.delimiter == ";"
    assert layout.header == ("Temp, °C", "Druck, bar")


# --------------------------------------------------------------------------- decimal comma


WINCC = (
    '"VarName";"TimeString";"VarValue";"Validity";"Time_ms"\r\n'
    '"Temp_1";"01.04.26 11:02:52";66,00;1;46113459027,7778\r\n'
    '"$RT_OFF$";"01.04.26 11:03:00";0;1;46113459722,2222\r\n'
    '"Temp_1";"01.04.26 11:05:00";60.00;1;46113460416,6667\r\n'
    '"$RT_COUNT$";"01.04.26 11:05:00";2;1;46113460416,6667\r\n'
    '"Druck";"01.04.26 11:05:00";1013,25;1;46113460416,6667\r\n'
)


def wincc_dataset(**columns: dict[str, object]) -> DatasetConfig:
    return dataset(
        {"VarValue": {"type": "float"}, **columns},
        decimal=",",
        timestampColumn="TimeString",
        timestampFormat="%d.%m.%y %H:%M:%S",
        timezone="Europe/Berlin",
        skipPatterns=[r"^\"?\$RT_(OFF|COUNT)\$"],
    )


def test_wincc_long_layout_with_marker_rows_and_mixed_decimal_separators() -> None:
    layout, _, rows = build(WINCC.encode("cp1252"), wincc_dataset())
    assert layout.delimiter == ";"
    assert [r.skipped for r in rows] == [
        None,
        "matches skipPatterns '^\\\\\"?\\\\$RT_(OFF|COUNT)\\\\$'",
        None,
        "matches skipPatterns '^\\\\\"?\\\\$RT_(OFF|COUNT)\\\\$'",
        None,
    ]
    assert records_of(rows) == [
        {
            "ts": "2026-04-01T09:02:52Z",  # CEST, UTC+2
            "line": 2,
            "VarName": "Temp_1",
            "VarValue": 66.0,
            "Validity": 1,
            "Time_ms": 46113459027.7778,
        },
        {
            "ts": "2026-04-01T09:05:00Z",
            "line": 4,
            "VarName": "Temp_1",
            "VarValue": 60.0,
            "Validity": 1,
            "Time_ms": 46113460416.6667,
        },
        {
            "ts": "2026-04-01T09:05:00Z",
            "line": 6,
            "VarName": "Druck",
            "VarValue": 1013.25,
            "Validity": 1,
            "Time_ms": 46113460416.6667,
        },
    ]


def test_inferred_column_mixing_decimal_comma_and_point() -> None:
    data = b"ts;v\n2026-11-27T01:05:00Z;66,00\n2026-11-27T01:06:00Z;60.00\n2026-11-27T01:07:00Z;7\n"
    _, _, rows = build(data, dataset(decimal=","))
    assert [r["v"] for r in records_of(rows)] == [66.0, 60.0, 7]
    assert [type(r["v"]) for r in records_of(rows)] == [float, float, int]


# --------------------------------------------------------------------------- header rows


TOA5 = (
    '"TOA5","CR1000_Tower","CR1000","12345","CR1000.Std.32","CPU:tower.CR1","4711","Table5"\r\n'
    '"TIMESTAMP","RECORD","Batt_Volt","PTemp_C"\r\n'
    '"TS","RN","Volts","C"\r\n'
    '"","","Min","Smp"\r\n'
    '"2026-11-27 01:05:00",0,12.51,21.3\r\n'
    '"2026-11-27 01:10:00",1,12.49,"NAN"\r\n'
)


def test_toa5_four_header_rows_with_units() -> None:
    ds = dataset(headerRow=2, unitsRow=3, firstDataRow=5, nullValues=["", "NAN"])
    layout, builder, rows = build(TOA5.encode(), ds)
    assert layout.header == ("TIMESTAMP", "RECORD", "Batt_Volt", "PTemp_C")
    assert layout.units == ("TS", "RN", "Volts", "C")
    assert layout.data_line == 5
    assert builder.units == {"RECORD": "RN", "Batt_Volt": "Volts", "PTemp_C": "C"}
    assert records_of(rows) == [
        {"ts": "2026-11-27T01:05:00Z", "line": 5, "RECORD": 0, "Batt_Volt": 12.51, "PTemp_C": 21.3},
        {"ts": "2026-11-27T01:10:00Z", "line": 6, "RECORD": 1, "Batt_Volt": 12.49, "PTemp_C": None},
    ]


PLC = (
    "#,1,2,3,4,5\r\n"
    "Date,Time,Flow,Pressure,Temp\r\n"
    "port,-,1,1,2\r\n"
    "register,-,DT100,DT102,DT104\r\n"
    "type,-,REAL,REAL,INT\r\n"
    "unit,-,l/min,bar,degC\r\n"
    "2020/01/21,14:55:30,12.5,-,NaN\r\n"
    "2020/01/21,14:55:35,12.75,3.2,21\r\n"
)


def test_plc_logger_date_and_time_columns_crlf_and_null_markers() -> None:
    ds = dataset(
        {"Temp": {"type": "int"}},
        headerRow=2,
        unitsRow=6,
        firstDataRow=7,
        timestampColumn=["Date", "Time"],
        timestampFormat="%Y/%m/%d %H:%M:%S",
        timezone="Asia/Tokyo",
    )
    layout, builder, rows = build(PLC.encode(), ds)
    assert layout.data_line == 7
    assert builder.units == {"Flow": "l/min", "Pressure": "bar", "Temp": "degC"}
    assert records_of(rows) == [
        {"ts": "2020-01-21T05:55:30Z", "line": 7, "Flow": 12.5, "Pressure": None, "Temp": None},
        {"ts": "2020-01-21T05:55:35Z", "line": 8, "Flow": 12.75, "Pressure": 3.2, "Temp": 21},
    ]
    assert rows[0].raw.raw == "2020/01/21,14:55:30,12.5,-,NaN"  # no CR left over
    assert rows[1].raw.end_offset == len(PLC)


def test_header_rows_must_be_there() -> None:
    with pytest.raises(FileFormatError, match="ends before its header row 2"):
        read(b'"TOA5","x"\r\n', CsvConfig(header_row=2))
    with pytest.raises(FileFormatError, match="empty file"):
        read(b"")
    with pytest.raises(FileFormatError, match="empty file"):
        read(b"\xef\xbb\xbf")
    with pytest.raises(FileFormatError, match="header row 1 is empty"):
        read(b"\n1,2\n")


def test_header_only_file_has_no_records() -> None:
    for data in (b"ts,a,b\n", b"ts,a,b", b"ts,a,b\r\n"):
        layout, records = read(data)
        assert records == []
        assert layout.header == ("ts", "a", "b")
        assert layout.data_offset == len(data)
        assert layout.data_line == 2
    assert read_layout(io.BytesIO(b"ts,a,b\n"), CsvConfig()).header_complete
    assert not read_layout(io.BytesIO(b"ts,a,b"), CsvConfig()).header_complete


def test_a_header_still_being_written_says_so_when_it_lacks_a_column() -> None:
    ds = dataset(timestampColumn="timestamp")
    layout, _ = read(b"times", ds)
    with pytest.raises(FileFormatError, match="ends before its header is complete"):
        RecordBuilder(ds, layout)
    layout, _ = read(b"timestamp,v\n", ds)
    RecordBuilder(ds, layout)  # complete now


def test_file_without_header_names_columns_by_position() -> None:
    data = (
        b"\n"
        b"$RT_OFF$\n"
        b"2026-11-27T01:05:00Z;1;x\n"
        b"2026-11-27T01:06:00Z;2\n"
        b"2026-11-27T01:07:00Z;3;y;z\n"
    )
    ds = dataset({"2": {"name": "count"}}, headerRow=None, timestampColumn="1")
    layout, _, rows = build(data, ds)
    assert layout.numbered
    assert layout.data_line == 1
    # The widest of the first rows fixes the columns, not the marker row (one field).
    assert layout.delimiter == ";"
    assert layout.header == ("1", "2", "3", "4")
    assert rows[0].skipped == "blank line"
    assert rows[1].error == (
        "column '1': '$RT_OFF$' is not a timestamp in format iso: "
        "Invalid isoformat string: '$RT_OFF$'"
    )
    assert [r.record for r in rows[2:]] == [
        {"ts": "2026-11-27T01:05:00Z", "line": 3, "count": 1, "col3": "x", "col4": None},
        {"ts": "2026-11-27T01:06:00Z", "line": 4, "count": 2, "col3": None, "col4": None},
        {"ts": "2026-11-27T01:07:00Z", "line": 5, "count": 3, "col3": "y", "col4": "z"},
    ]


def test_file_without_header_rows_wider_than_the_first_ones_are_quarantined() -> None:
    lines = [f"2026-11-27T01:{i:02d}:00Z,{i}\n" for i in range(20)]
    data = "".join([*lines, "2026-11-27T01:20:00Z,20,extra\n"]).encode()
    ds = dataset(headerRow=None, timestampColumn="1")
    layout, _, rows = build(data, ds)
    assert layout.header == ("1", "2")
    assert len(records_of(rows[:20])) == 20
    assert rows[20].error == (
        "3 fields but the file's first rows have at most 2 (a file without header: its first "
        "rows fix the columns)"
    )
    # Trailing delimiters are not more columns.
    _, _, rows = build(data.replace(b",extra", b",,"), ds)
    assert rows[20].record == {"ts": "2026-11-27T01:20:00Z", "line": 21, "col2": 20}


# --------------------------------------------------------------------------- quoting


def test_rfc4180_quoting() -> None:
    data = (
        b"ts,name,note\r\n"
        b'2026-11-27T01:05:00Z,"Tank, north","said ""hi"""\r\n'
        b'2026-11-27T01:06:00Z,"two\r\nlines","and\nthree\nlines"\r\n'
        b"2026-11-27T01:07:00Z,plain,x\r\n"
    )
    _, _, rows = build(data, dataset())
    assert [(r.raw.line, r.raw.next_line) for r in rows] == [(2, 3), (3, 7), (7, 8)]
    assert records_of(rows) == [
        {"ts": "2026-11-27T01:05:00Z", "line": 2, "name": "Tank, north", "note": 'said "hi"'},
        {
            "ts": "2026-11-27T01:06:00Z",
            "line": 3,
            "name": "two\r\nlines",
            "note": "and\nthree\nlines",
        },
        {"ts": "2026-11-27T01:07:00Z", "line": 7, "name": "plain", "note": "x"},
    ]
    assert rows[1].raw.raw == '2026-11-27T01:06:00Z,"two\r\nlines","and\nthree\nlines"'


def test_quote_inside_an_unquoted_field_is_text() -> None:
    _, _, rows = build(b'a,b\n1,5" pipe\n2,x\n', dataset())
    assert records_of(rows) == [
        {"line": 2, "a": 1, "b": '5" pipe'},
        {"line": 3, "a": 2, "b": "x"},
    ]
    # Also in a growing log: the odd quote does not hold the row back.
    _, records = read(b'a,b\n1,5" pipe\n', final=False)
    assert [r.fields for r in records] == [["1", '5" pipe']]


def test_carriage_return_inside_an_unquoted_field_is_that_rows_problem() -> None:
    _, _, rows = build(b"a,b\n1,x\ry\n2,z\n", dataset())
    assert rows[0].error == "malformed CSV: a carriage return (CR) inside an unquoted field"
    assert rows[1].record == {"line": 3, "a": 2, "b": "z"}


# --------------------------------------------------------------------------- line structure


def test_blank_lines_are_skipped_and_counted() -> None:
    data = b"a,b\n\n1,2\r\n\r\n   \n,\n3,4\n\n"
    _, _, rows = build(data, dataset())
    assert [(r.raw.line, r.skipped) for r in rows] == [
        (2, "blank line"),
        (3, None),
        (4, "blank line"),
        (5, "blank line"),
        (6, "blank line"),
        (7, None),
        (8, "blank line"),
    ]
    assert records_of(rows) == [{"line": 3, "a": 1, "b": 2}, {"line": 7, "a": 3, "b": 4}]


def test_last_line_without_newline() -> None:
    data = b"a,b\n1,2\n3,4"
    _, records = read(data, final=True)
    assert [(r.line, r.fields, r.end_offset) for r in records] == [
        (2, ["1", "2"], 8),
        (3, ["3", "4"], len(data)),
    ]
    # A growing log: the writer may still be writing it.
    _, records = read(data, final=False)
    assert [(r.line, r.fields, r.end_offset) for r in records] == [(2, ["1", "2"], 8)]
    check_accounting(data, read(data)[0], records, final=False)


def test_unterminated_quote_at_end_of_file() -> None:
    data = b'a,b\n1,x\n2,"still being\nwritten'
    _, records = read(data, final=False)
    assert [r.line for r in records] == [2]
    assert records[-1].end_offset == 8
    data += b"\n"  # a newline inside the quoted field changes nothing
    _, records = read(data, final=False)
    assert [r.line for r in records] == [2]
    _, records = read(data, final=True)
    assert [(r.line, r.next_line, r.fields, r.problem) for r in records] == [
        (2, 3, ["1", "x"], None),
        (3, 5, None, "quoted field not closed at end of file"),
    ]
    assert records[-1].end_offset == len(data)


def test_unterminated_quote_after_a_quote_in_an_unquoted_field() -> None:
    # Two quotes in the record, but the second one opens a field that never closes.
    data = b'a,b\nx"y,"z\n'
    _, records = read(data, final=False)
    assert records == []
    _, records = read(data, final=True)
    assert [(r.line, r.problem) for r in records] == [(2, "quoted field not closed at end of file")]


def test_line_longer_than_max_line_bytes() -> None:
    options = CsvConfig(max_line_bytes=256)
    data = b"a,b\n1,2\n" + b"3," + b"x" * 1000 + b"\n4,5\n"
    _, records = read(data, options)
    assert [(r.line, r.fields, r.problem) for r in records] == [
        (2, ["1", "2"], None),
        (3, None, "line 3 is longer than maxLineBytes (256)"),
        (4, ["4", "5"], None),
    ]
    assert len(records[1].raw) <= 256
    assert records[1].end_offset == len(data) - 4
    check_accounting(data, read(data, options)[0], records, final=True)
    # A line of exactly maxLineBytes with its newline is fine.
    exact = b"a,b\n1," + b"y" * 253 + b"\n"
    _, records = read(exact, options)
    assert records[0].fields == ["1", "y" * 253]


def test_overlong_last_line_of_a_growing_log_waits() -> None:
    options = CsvConfig(max_line_bytes=256)
    data = b"a,b\n1,2\n" + b"3," + b"x" * 1000
    _, records = read(data, options, final=False)
    assert [r.line for r in records] == [2]
    _, records = read(data, options, final=True)
    assert [(r.line, r.problem) for r in records] == [
        (2, None),
        (3, "line 3 is longer than maxLineBytes (256)"),
    ]
    assert records[-1].end_offset == len(data)


def test_runaway_quote_is_cut_at_max_line_bytes_and_the_next_lines_are_read() -> None:
    options = CsvConfig(max_line_bytes=256)
    lines = [b"a,b\n", b'1,"opened and never closed\n'] + [
        b"%d,v%d\n" % (i, i) for i in range(2, 80)
    ]
    data = b"".join(lines)
    _, records = read(data, options)
    assert records[0].line == 2
    assert records[0].next_line == 3
    assert records[0].fields is None
    assert records[0].problem is not None
    assert "quoted field not closed within maxLineBytes (256)" in records[0].problem
    assert records[0].raw == '1,"opened and never closed'
    assert records[0].end_offset == len(lines[0]) + len(lines[1])
    assert [(r.line, r.fields) for r in records[1:]] == [
        (i + 1, [str(i), f"v{i}"]) for i in range(2, 80)
    ]
    check_accounting(data, read(data, options)[0], records, final=True)


def test_runaway_quote_in_a_growing_log_waits_until_it_is_too_long() -> None:
    options = CsvConfig(max_line_bytes=256)
    data = b'a,b\n1,"opened\n2,x\n3,y\n'
    _, records = read(data, options, final=False)
    assert records == []  # may still close
    _, records = read(data, options, final=True)
    assert [(r.line, r.next_line, r.problem) for r in records] == [
        (2, 5, "quoted field not closed at end of file")
    ]


def test_nul_bytes() -> None:
    data = b"a,b\n1,\x002\n\x00\x00\x00\x00\n3,4\n\x00\x00\x00\x00"
    _, _, rows = build(data, dataset())
    assert [(r.raw.line, r.error) for r in rows] == [
        (2, "line 2 contains NUL bytes"),
        (3, "line 3 contains NUL bytes"),
        (4, None),
        (5, "line 5 contains NUL bytes"),
    ]
    assert rows[2].record == {"line": 4, "a": 3, "b": 4}


def test_rows_with_too_few_or_too_many_fields() -> None:
    data = b"a,b,c\n1,2\n1,2,3,4\n1,2,3,,\n1,2,3\n"
    _, _, rows = build(data, dataset())
    assert [r.error for r in rows] == [
        "2 fields but the header has 3 columns",
        "4 fields but the header has 3 columns",
        None,  # trailing delimiters only
        None,
    ]


def test_typed_column_errors_name_the_column_and_the_value() -> None:
    ds = dataset(
        {
            "temp": {"type": "float"},
            "count": {"type": "int"},
            "on": {"type": "bool"},
            "ts": {"type": "timestamp"},
        }
    )
    data = (
        b"ts,temp,count,on\n"
        b"2026-11-27T01:05:00Z,warm,1,true\n"
        b"2026-11-27T01:05:00Z,1.5,1.5,true\n"
        b"2026-11-27T01:05:00Z,1.5,2,maybe\n"
        b"yesterday,1.5,2,on\n"
        b",1.5,2,on\n"
    )
    _, _, rows = build(data, ds)
    assert [r.error for r in rows] == [
        "column 'temp': 'warm' is not a number",
        "column 'count': '1.5' is not an integer",
        "column 'on': 'maybe' is not a boolean (true/false, 1/0, yes/no)",
        "column 'ts': 'yesterday' is not a timestamp in format iso: "
        "Invalid isoformat string: 'yesterday'",
        "no timestamp: column 'ts' is empty",
    ]


def test_required_columns() -> None:
    ds = dataset({"tray_id": {"required": True}, "weight": {"required": True}})
    with pytest.raises(FileFormatError, match="required column\\(s\\) 'weight' not in the header"):
        build(b"ts,tray_id\n2026-11-27T01:05:00Z,T1\n", ds)
    data = b"ts,tray_id,weight\n2026-11-27T01:05:00Z,T1,2.5\n2026-11-27T01:05:00Z,,2.5\n"
    _, _, rows = build(data, ds)
    assert rows[0].record is not None
    assert rows[1].error == "column 'tray_id' is required but empty"


# --------------------------------------------------------------------------- resuming


RESUMABLE = (
    b"\xef\xbb\xbfts,note,v\r\n"
    b"2026-11-27T01:05:00Z,a,1\r\n"
    b'2026-11-27T01:06:00Z,"multi\r\nline",2\r\n'
    b"\r\n"
    b"2026-11-27T01:07:00Z,caf\xc3\xa9,3.5\r\n"
    b"2026-11-27T01:08:00Z,bad \xff,4\r\n"
    b'2026-11-27T01:09:00Z,"x ""q""",5\r\n'
    b"2026-11-27T01:10:00Z,last,6"
)


@pytest.mark.parametrize("codec", ["utf-8", "utf-16"])
def test_resuming_mid_file_gives_the_remaining_records_with_the_same_line_numbers(
    codec: str,
) -> None:
    data = RESUMABLE
    if codec == "utf-16":
        data = data[3:].decode("utf-8", errors="replace").encode("utf-16")
    ds = dataset()
    layout, full = read(data, ds)
    builder = RecordBuilder(ds, layout)
    typed = [builder.build(r) if r.fields and not r.blank else None for r in full]
    assert [r.line for r in full] == [2, 3, 5, 6, 7, 8, 9]
    for i, resume_after in enumerate(full):
        start = (resume_after.end_offset, resume_after.next_line)
        _, rest = read(data, ds, start=start)
        assert [(r.line, r.next_line, r.end_offset, r.fields, r.problem) for r in rest] == [
            (r.line, r.next_line, r.end_offset, r.fields, r.problem) for r in full[i + 1 :]
        ]
        check_accounting(data, layout, rest, final=True, start=start)
        # A fresh builder (as after a restart) types the remaining rows the same way.
        resumed = RecordBuilder(ds, layout)
        assert [resumed.build(r) if r.fields and not r.blank else None for r in rest] == typed[
            i + 1 :
        ]


def test_reading_stops_at_end() -> None:
    data = b"a,b\n1,2\n3,4\n5,6\n"
    _, records = read(data, end=12)
    assert [r.fields for r in records] == [["1", "2"], ["3", "4"]]
    _, records = read(data, end=10, final=False)
    assert [r.fields for r in records] == [["1", "2"]]
    _, records = read(data, end=10, final=True)  # end cuts the line: a complete file ends there
    assert [r.fields for r in records] == [["1", "2"], ["3", ""]]


def test_records_can_be_read_in_several_passes_of_a_growing_file() -> None:
    data = b'ts,v\n2026-11-27T01:05:00Z,1\n2026-11-27T01:06:00Z,"a\nb"\n2026-11-27T01:07:00Z,3\n'
    ds = dataset()
    layout, whole = read(data, ds)
    offset, line, seen = layout.data_offset, layout.data_line, []
    for size in range(layout.data_offset, len(data) + 1):
        stream = io.BytesIO(data[:size])
        for record in iter_records(
            stream, layout, ds.csv, start_offset=offset, start_line=line, final=False
        ):
            seen.append(record)
            offset, line = record.end_offset, record.next_line
    assert [(r.line, r.fields, r.end_offset) for r in seen] == [
        (r.line, r.fields, r.end_offset) for r in whole
    ]
