"""Timestamps as equipment writes them, to UTC ISO 8601 with Z."""

from __future__ import annotations

import pytest

from edge_agent.csvread.timestamps import (
    AmbiguousTimeError,
    TimestampError,
    TimestampParser,
    format_utc,
    is_canonical,
)
from edge_agent.datasets.generic import RecordBuilder
from tests.csvread import build, dataset, read, records_of


def parse_all(fmt: str, zone: str, values: list[str]) -> list[str]:
    parser = TimestampParser(fmt, zone)
    return [parser(v) for v in values]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-27T01:05:00Z", "2026-11-27T01:05:00Z"),
        (" 2026-11-27T01:05:00Z ", "2026-11-27T01:05:00Z"),
        ("2026-11-27T01:05:00", "2026-11-27T01:05:00Z"),
        ("2026-11-27 01:05:00", "2026-11-27T01:05:00Z"),
        ("2026-11-27T01:05", "2026-11-27T01:05:00Z"),
        ("2026-11-27T01:05:00.250Z", "2026-11-27T01:05:00.250Z"),
        # Sub-millisecond digits are kept (power-quality recorders sample every 200 us).
        ("2026-11-27T01:05:00.123456Z", "2026-11-27T01:05:00.123456Z"),
        ("2026-11-27T01:05:00.123400Z", "2026-11-27T01:05:00.123400Z"),
        ("2026-11-27T01:05:00+01:00", "2026-11-27T00:05:00Z"),
        ("2026-11-27T01:05:00-05:30", "2026-11-27T06:35:00Z"),
        ("2026-11-27T00:30:00+02:00", "2026-11-26T22:30:00Z"),
        ("2026-11-27T01:05:00+00:00", "2026-11-27T01:05:00Z"),
        ("20261127T010500Z", "2026-11-27T01:05:00Z"),
        ("2026-11-27", "2026-11-27T00:00:00Z"),
        # The canonical shortcut must not pass other 20-character forms through as written.
        ("2026-W48-5T01:05:00Z", "2026-11-27T01:05:00Z"),
    ],
)
def test_iso(value: str, expected: str) -> None:
    assert TimestampParser("iso", "UTC")(value) == expected


def test_iso_without_offset_is_in_the_configured_zone() -> None:
    assert parse_all("iso", "Europe/Berlin", ["2026-11-27T01:05:00", "2026-07-01"]) == [
        "2026-11-27T00:05:00Z",  # CET, UTC+1
        "2026-06-30T22:00:00Z",  # CEST, UTC+2
    ]
    # An offset in the value wins over the zone.
    assert parse_all("iso", "Europe/Berlin", ["2026-07-01T12:00:00Z"]) == ["2026-07-01T12:00:00Z"]


@pytest.mark.parametrize(
    ("fmt", "value", "expected"),
    [
        ("epoch_s", "1795741500", "2026-11-27T01:05:00Z"),
        ("epoch_s", "1795741500.25", "2026-11-27T01:05:00.250Z"),
        ("epoch_s", "1795741500,5", "2026-11-27T01:05:00.500Z"),
        ("epoch_s", "0", "1970-01-01T00:00:00Z"),
        ("epoch_s", "-1", "1969-12-31T23:59:59Z"),
        ("epoch_ms", "1795741500123", "2026-11-27T01:05:00.123Z"),
        ("epoch_ms", "1795741500000", "2026-11-27T01:05:00Z"),
    ],
)
def test_epoch(fmt: str, value: str, expected: str) -> None:
    # Epoch values are UTC whatever the zone.
    assert TimestampParser(fmt, "Europe/Berlin")(value) == expected


def test_strptime_formats() -> None:
    assert parse_all("%d.%m.%y %H:%M:%S", "Europe/Berlin", ["01.04.26 11:02:52"]) == [
        "2026-04-01T09:02:52Z"
    ]
    assert parse_all("%d.%m.%Y %I:%M:%S %p", "UTC", ["01.04.2026 11:02:52 PM"]) == [
        "2026-04-01T23:02:52Z"
    ]
    assert parse_all("%Y/%m/%d %H:%M:%S%z", "Europe/Berlin", ["2026/04/01 11:02:52+0000"]) == [
        "2026-04-01T11:02:52Z"
    ]


@pytest.mark.parametrize(
    ("fmt", "value"),
    [
        ("iso", "yesterday"),
        ("iso", "2026-11-27T25:00:00Z"),
        ("iso", "2026-11-27T01:05:0xZ"),
        ("iso", "2026-02-30"),
        ("iso", ""),
        ("iso", "   "),
        ("epoch_s", "soon"),
        ("epoch_s", "nan"),
        ("epoch_s", "inf"),
        ("epoch_s", "1e30"),
        ("epoch_ms", "1" * 400),
        ("%d.%m.%y %H:%M:%S", "2026-04-01 11:02:52"),
        # Valid as written but outside what UTC can represent.
        ("iso", "0001-01-01T00:30:00+01:00"),
        ("iso", "9999-12-31T23:30:00-01:00"),
    ],
)
def test_errors_are_timestamp_errors(fmt: str, value: str) -> None:
    with pytest.raises(TimestampError):
        TimestampParser(fmt, "UTC")(value)


def test_year_one_in_a_zone_east_of_utc_is_an_error_not_a_crash() -> None:
    with pytest.raises(TimestampError):
        TimestampParser("iso", "Asia/Tokyo")("0001-01-01T00:00:00")


def test_is_canonical() -> None:
    assert is_canonical("2026-11-27T01:05:00Z")
    assert not is_canonical("2026-11-27T01:05:00+00:00")
    assert not is_canonical("2026-11-27 01:05:00Z")
    assert not is_canonical("2026-W48-5T01:05:00Z")
    assert not is_canonical("2026-11-27T01:05:00.1Z")


# --------------------------------------------------------------------------- DST


def test_spring_gap_is_not_guessed() -> None:
    # Europe/Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:00-02:59 do not exist.
    parser = TimestampParser("iso", "Europe/Berlin")
    assert parser("2026-03-29T01:59:00") == "2026-03-29T00:59:00Z"
    assert parser("2026-03-29T03:00:00") == "2026-03-29T01:00:00Z"
    with pytest.raises(AmbiguousTimeError) as caught:
        parser("2026-03-29T02:30:00")
    assert caught.value.gap
    assert [format_utc(r) for r in caught.value.readings] == [
        "2026-03-29T01:30:00Z",  # with the offset before the change (a clock that missed it)
        "2026-03-29T00:30:00Z",
    ]


def test_spring_gap_through_the_builder_is_flagged() -> None:
    data = "ts,v\n2026-03-29T01:59:00,1\n2026-03-29T02:30:00,2\n2026-03-29T03:00:00,3\n"
    ds = dataset(timezone="Europe/Berlin")
    _, _, rows = build(data.encode(), ds)
    records = records_of(rows)
    assert records[1] == {
        "ts": "2026-03-29T01:30:00Z",
        "line": 3,
        "v": 2,
        "uncertain": {"ts": ["2026-03-29T01:30:00Z", "2026-03-29T00:30:00Z"]},
    }
    assert "uncertain" not in records[0]
    assert "uncertain" not in records[2]
    _, _, rows = build(
        data.encode(), dataset(timezone="Europe/Berlin", uncertainTimes="quarantine")
    )
    assert rows[1].error is not None
    assert "does not exist in Europe/Berlin" in rows[1].error


AUTUMN = [
    "25.10.26 01:30:00",
    "25.10.26 02:00:00",  # first pass, CEST
    "25.10.26 02:30:00",
    "25.10.26 02:59:59",
    "25.10.26 02:00:00",  # the clock went back: second pass, CET
    "25.10.26 02:30:00",
    "25.10.26 02:30:00",  # the same reading twice stays in the second pass
    "25.10.26 03:00:00",
    "25.10.26 03:30:00",
]
AUTUMN_UTC = [
    "2026-10-24T23:30:00Z",
    "2026-10-25T00:00:00Z",
    "2026-10-25T00:30:00Z",
    "2026-10-25T00:59:59Z",
    "2026-10-25T01:00:00Z",
    "2026-10-25T01:30:00Z",
    "2026-10-25T01:30:00Z",
    "2026-10-25T02:00:00Z",
    "2026-10-25T02:30:00Z",
]


def test_autumn_repeat_alone_is_not_guessed() -> None:
    with pytest.raises(AmbiguousTimeError) as caught:
        TimestampParser("%d.%m.%y %H:%M:%S", "Europe/Berlin")("25.10.26 02:30:00")
    assert not caught.value.gap
    assert [format_utc(r) for r in caught.value.readings] == [
        "2026-10-25T00:30:00Z",
        "2026-10-25T01:30:00Z",
    ]


AUTUMN_DATASET = {
    "timestampColumn": "Zeit",
    "timestampFormat": "%d.%m.%y %H:%M:%S",
    "timezone": "Europe/Berlin",
}


def test_autumn_repeat_through_the_builder() -> None:
    data = "Zeit;Wert\n" + "".join(f"{t};{i}\n" for i, t in enumerate(AUTUMN))
    _, _, rows = build(data.encode(), dataset(**AUTUMN_DATASET))
    utc = [r["ts"] for r in records_of(rows)]
    assert utc == AUTUMN_UTC
    assert utc == sorted(utc)
    assert not any("uncertain" in r for r in records_of(rows))


def test_autumn_repeat_newest_first_is_detected_and_read() -> None:
    data = "Zeit;Wert\n" + "".join(f"{t};{i}\n" for i, t in enumerate(reversed(AUTUMN)))
    _, _, rows = build(data.encode(), dataset(**AUTUMN_DATASET))
    assert [r["ts"] for r in records_of(rows)] == list(reversed(AUTUMN_UTC))
    declared = dataset(**AUTUMN_DATASET, rowOrder="descending")
    _, _, rows = build(data.encode(), declared)
    assert [r["ts"] for r in records_of(rows)] == list(reversed(AUTUMN_UTC))


def test_autumn_repeat_resumed_inside_the_repeat_reads_the_same() -> None:
    data = ("Zeit;Wert\n" + "".join(f"{t};{i}\n" for i, t in enumerate(AUTUMN))).encode()
    ds = dataset(**AUTUMN_DATASET)
    layout, whole = read(data, ds)
    for k in range(1, len(whole)):
        start = (whole[k - 1].end_offset, whole[k - 1].next_line)
        layout, records = read(data, ds, start=start)
        builder = RecordBuilder(ds, layout)
        assert [builder.build(r)["ts"] for r in records] == AUTUMN_UTC[k:]


def test_a_repeat_written_once_is_flagged_not_guessed() -> None:
    # The hour is written once (an hourly export that merged it): 01:00 EDT or EST?
    data = "ts,v\n2013-11-03 00:00:00,1\n2013-11-03 01:00:00,2\n2013-11-03 02:00:00,3\n"
    _, _, rows = build(data.encode(), dataset(timezone="America/New_York"))
    records = records_of(rows)
    assert records[1]["uncertain"] == {"ts": ["2013-11-03T05:00:00Z", "2013-11-03T06:00:00Z"]}
    assert records[1]["ts"] == "2013-11-03T05:00:00Z"
    assert [r["ts"] for r in (records[0], records[2])] == [
        "2013-11-03T04:00:00Z",
        "2013-11-03T07:00:00Z",
    ]


def test_timestamp_columns_resolve_their_own_repeats() -> None:
    # A second timestamp column running behind must not disturb the first one's DST reading.
    data = "ts,t2\n" + "".join(
        f"{a},{b}\n"
        for a, b in [
            ("2026-10-25T02:50:00", "2026-10-25T01:00:00"),
            ("2026-10-25T02:10:00", "2026-10-25T01:10:00"),
        ]
    )
    # (Two rows going back in time would look newest-first: the order is declared.)
    ds = dataset({"t2": {"type": "timestamp"}}, timezone="Europe/Berlin", rowOrder="ascending")
    _, _, rows = build(data.encode(), ds)
    assert records_of(rows) == [
        {"ts": "2026-10-25T00:50:00Z", "line": 2, "t2": "2026-10-24T23:00:00Z"},
        {"ts": "2026-10-25T01:10:00Z", "line": 3, "t2": "2026-10-24T23:10:00Z"},
    ]
