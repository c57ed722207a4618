"""Timestamps as equipment writes them, to UTC ISO 8601 with Z."""

from __future__ import annotations

import pytest

from edge_agent.csvread.timestamps import TimestampError, TimestampParser, is_canonical
from tests.csvread import build, dataset, records_of


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
        ("2026-11-27T01:05:00.123456Z", "2026-11-27T01:05:00.123Z"),
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


def test_spring_gap_is_moved_forward_by_the_gap() -> None:
    # Europe/Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:00-02:59 do not exist.
    # A time in the gap is read with the offset before it (+01:00): 02:30 -> 01:30Z, the
    # instant a clock that missed the change means (03:30 CEST).
    assert parse_all(
        "iso",
        "Europe/Berlin",
        [
            "2026-03-29T01:59:00",
            "2026-03-29T02:00:00",
            "2026-03-29T02:30:00",
            "2026-03-29T03:00:00",
            "2026-03-29T03:30:00",
        ],
    ) == [
        "2026-03-29T00:59:00Z",
        "2026-03-29T01:00:00Z",
        "2026-03-29T01:30:00Z",
        "2026-03-29T01:00:00Z",
        "2026-03-29T01:30:00Z",
    ]


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


def test_autumn_repeat_in_order_is_monotonic() -> None:
    utc = parse_all("%d.%m.%y %H:%M:%S", "Europe/Berlin", AUTUMN)
    assert utc == AUTUMN_UTC
    assert utc == sorted(utc)


def test_autumn_repeat_through_the_builder() -> None:
    data = "Zeit;Wert\n" + "".join(f"{t};{i}\n" for i, t in enumerate(AUTUMN))
    ds = dataset(
        timestampColumn="Zeit", timestampFormat="%d.%m.%y %H:%M:%S", timezone="Europe/Berlin"
    )
    _, _, rows = build(data.encode(), ds)
    assert [r["ts"] for r in records_of(rows)] == AUTUMN_UTC


def test_a_repeated_hour_alone_takes_the_first_reading() -> None:
    # Without an earlier row to go by (a file, or a resumed pass, starting in the repeat).
    assert parse_all("iso", "Europe/Berlin", ["2026-10-25T02:30:00"]) == ["2026-10-25T00:30:00Z"]


def test_timestamp_columns_resolve_their_own_repeats() -> None:
    # A second timestamp column running behind must not disturb the first one's DST reading.
    data = "ts,t2\n" + "".join(
        f"{a},{b}\n"
        for a, b in [
            ("2026-10-25T02:50:00", "2026-10-25T01:00:00"),
            ("2026-10-25T02:10:00", "2026-10-25T01:10:00"),
        ]
    )
    ds = dataset({"t2": {"type": "timestamp"}}, timezone="Europe/Berlin")
    _, _, rows = build(data.encode(), ds)
    assert records_of(rows) == [
        {"ts": "2026-10-25T00:50:00Z", "line": 2, "t2": "2026-10-24T23:00:00Z"},
        {"ts": "2026-10-25T01:10:00Z", "line": 3, "t2": "2026-10-24T23:10:00Z"},
    ]
