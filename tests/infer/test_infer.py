"""``edge-agent infer`` on files shaped like each family of equipment, made here with known truth.

For each: the YAML ``infer`` prints, pasted under ``datasets:`` of an agent configuration,
passes ``edge-agent check``, and the real reading pass publishes exactly the records the file
holds (tests/fuzz/harness.Pipeline).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from edge_agent.cli import main
from edge_agent.config.datasets import DatasetConfig
from edge_agent.infer import infer_yaml
from edge_agent.infer.snapshot import preamble_time
from tests.fuzz.harness import Pipeline


def z(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def infer_and_read(
    tmp_path: Path, name: str, data: bytes, zone: str | None, capsys: pytest.CaptureFixture[str]
) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    """The YAML infer prints, and the records and quarantine entries of the real pass."""
    path = tmp_path / name
    path.write_bytes(data)
    args = ["infer", str(path), "--name", "d", *(["--timezone", zone] if zone else [])]
    assert main(args) == 0
    text = capsys.readouterr().out
    # Pasted under datasets: of a configuration, it passes check.
    config = tmp_path / "agent.yaml"
    (tmp_path / "in").mkdir()
    config.write_text(
        "thingName: t\n"
        f"stateDir: {tmp_path / 'state'}\n"
        f"sources: [{{name: s, path: {tmp_path / 'in'}, dataset: d}}]\n" + text,
        encoding="utf-8",
    )
    assert main(["check", "--config", str(config)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    dataset = DatasetConfig.model_validate(yaml.safe_load(text)["datasets"]["d"])
    run = tmp_path / "run"
    run.mkdir()
    pipeline = Pipeline(run, dataset, max_payload_bytes=131_072)
    try:
        pipeline.write(data)
        pipeline.run()
        out = pipeline.published()
    finally:
        pipeline.close()
    assert not out.whole_file, out.whole_file
    return text, out.records, out.quarantined


def test_egauge_newest_first_across_the_autumn_repeat(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    la = ZoneInfo("America/Los_Angeles")
    start = datetime(2019, 11, 2, 20, tzinfo=UTC)
    rows = []
    for i in range(30):
        t = (start + timedelta(hours=i)).astimezone(la)
        rows.append((t, f"{t:%Y-%m-%d %H:%M:%S},{1.25 + i / 100:.6f},{i / 2:.6f}\n"))
    rows.reverse()
    data = (
        '"Date & Time","Usage [kWh]","Generation [kWh]"\n' + "".join(r for _, r in rows)
    ).encode()
    text, records, quarantined = infer_and_read(
        tmp_path, "egauge.csv", data, "America/Los_Angeles", capsys
    )
    assert "rowOrder: descending" in text
    assert not quarantined
    assert [r["ts"] for r in records] == [z(t) for t, _ in rows]  # the 01:00 twice, both right
    assert not any("uncertain" in r for r in records)
    assert records[-1] == {
        "ts": "2019-11-02T20:00:00Z",
        "line": 31,
        "usage": 1.25,
        "generation": 0.0,
    }


def test_priva_cp1252_decimal_comma_date_and_time_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ams = ZoneInfo("Europe/Amsterdam")
    start = datetime(2024, 10, 26, 23, tzinfo=UTC)
    lines, times = ["Datum;Tijd;Temp kas 1 [°C];RV [%];CO2 [ppm]"], []
    for i in range(16):
        t = (start + timedelta(minutes=30 * i)).astimezone(ams)
        times.append(t)
        lines.append(
            f"{t:%d-%m-%Y};{t:%H:%M};{18 + i / 8:.3f};{70 + i};{1000 + 10 * i}".replace(".", ",")
        )
    data = ("\r\n".join(lines) + "\r\n").encode("cp1252")
    text, records, quarantined = infer_and_read(
        tmp_path, "priva.csv", data, "Europe/Amsterdam", capsys
    )
    assert "encoding: cp1252" in text
    assert not quarantined
    assert [r["ts"] for r in records] == [z(t) for t in times]
    assert records[1] == {
        "ts": z(times[1]),
        "line": 3,
        "temp_kas_1": 18.125,
        "rv": 71,
        "co2": 1010,
    }


def test_ted_quoted_thousands_and_a_twelve_hour_clock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ['"MTU","Date","Power (W)","Voltage (V)"']
    for i in range(20):
        t = datetime(2019, 12, 31, 11, 50) + timedelta(minutes=i)
        lines.append(
            f'"MTU1","{t:%m/%d/%Y %I:%M:%S %p}","{1000 + i * 37:,}","{120.1 + i / 10:.1f}"'
        )
    data = ("\r\n".join(lines) + "\r\n").encode()
    text, records, _ = infer_and_read(tmp_path, "ted.csv", data, "America/Chicago", capsys)
    assert "thousands: ','" in text
    assert records[0] == {
        "ts": "2019-12-31T17:50:00Z",
        "line": 2,
        "mtu": "MTU1",
        "power": 1000,
        "voltage": 120.1,
    }
    assert records[19]["ts"] == "2019-12-31T18:09:00Z"  # 12:09 PM
    assert records[19]["power"] == 1703


def test_dts_time_lines_followed_by_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = []
    for i in range(6):
        lines.append(f"2021-06-01 12:{5 * i:02d}:00")
        lines.append(",".join(f"{20 + k / 10 + i / 100:.2f}" for k in range(8)))
    data = ("\n".join(lines) + "\n").encode()
    text, records, quarantined = infer_and_read(tmp_path, "dts.csv", data, "UTC", capsys)
    assert "recordStartPattern" in text
    assert not quarantined
    assert [r["line"] for r in records] == [1, 3, 5, 7, 9, 11]
    assert records[1]["ts"] == "2021-06-01T12:05:00Z"
    assert [records[1][f"col{k}"] for k in range(2, 10)] == [
        float(f"{20 + k / 10 + 0.01:.2f}") for k in range(8)
    ]


def test_a_packed_cell_and_a_zone_in_the_column_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ['"Date Time, GMT-05:00","Battery (V)","Soil"']
    for i in range(10):  # one a day: 24/03/01 is year first (day first runs a year a row)
        lines.append(f'24/03/{i + 1:02d} 00:{i:02d}:00,12.{i},"0:68{i} 1:67{i} "')
    data = ("\n".join(lines) + "\n").encode()
    text, records, _ = infer_and_read(tmp_path, "hobo_like.csv", data, None, capsys)
    assert "timezonePattern" in text
    assert records[3] == {
        "ts": "2024-03-04T05:03:00Z",
        "line": 5,
        "battery": 12.3,
        "soil_0": 683,
        "soil_1": 673,
    }


def test_infer_says_why_it_cannot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("just some prose\nwithout any table in it\n", encoding="utf-8")
    assert main(["infer", str(path)]) == 2
    assert "found no rows of values" in capsys.readouterr().err
    assert main(["infer", str(tmp_path / "missing.csv")]) == 2
    assert main(["infer", str(path), "--timezone", "PST"]) == 2
    assert "abbreviations are ambiguous" in capsys.readouterr().err


def test_unsure_guesses_carry_a_comment(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("time,v\n2026-01-01 00:00:00,1\n2026-01-01 00:01:00,2\n", encoding="utf-8")
    text = infer_yaml(path)
    assert "timezone: UTC  # unsure: the file does not say its zone" in text


def test_campbell_mixed_arrays_become_record_types(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = []
    for i in range(6):
        hhmm = 1800 + 30 * (i % 2) + 100 * (i // 2)
        lines.append(f"101,2024,258,{hhmm},13.{i},.{i}2")
        lines.append(f"102,2024,258,{hhmm},{i % 2}")
    data = ("\n".join(lines) + "\n").encode()
    text, records, quarantined = infer_and_read(tmp_path, "mixed.dat", data, "UTC-07:00", capsys)
    assert "recordTypes:" in text
    assert not quarantined
    assert records[0] == {
        "ts": "2024-09-15T01:00:00Z",
        "line": 1,
        "col1": 101,
        "col5": 13.0,
        "col6": 0.02,
        "recordType": "101",
    }
    assert records[1] == {
        "ts": "2024-09-15T01:00:00Z",
        "line": 2,
        "col1": 102,
        "col5": 0,
        "recordType": "102",
    }


def test_wincc_decimal_comma_and_runtime_markers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = ['"Tunnel";"20.11.2025 14:02:11";-29,4;1', '"Fan";"20.11.2025 14:02:12";1450,5;1']
    rows += ['"$RT_OFF$";"20.11.2025 14:02:20";0;2']
    rows += [f'"Tunnel";"20.11.2025 14:03:{i:02d}";-29,{i};1' for i in range(6)]
    data = ("VarName;TimeString;VarValue;Validity\r\n" + "\r\n".join(rows) + "\r\n").encode()
    text, records, _ = infer_and_read(tmp_path, "Data_log0.csv", data, "Europe/Berlin", capsys)
    assert "skipPatterns" in text
    assert [r["varname"] for r in records[:3]] == ["Tunnel", "Fan", "Tunnel"]
    assert records[1] == {
        "ts": "2025-11-20T13:02:12Z",
        "line": 3,
        "varname": "Fan",
        "varvalue": 1450.5,
        "validity": 1,
    }


def test_dts_labelled_time_lines_after_a_title(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ["DTS export, fibre 1"]
    for i in range(4):
        lines += [f"Time: 2021-06-01 12:{10 * i:02d}:00", f"0.0,18.{i}5,18.{i}1", "1.0,19.5,19.6"]
    data = ("\n".join(lines) + "\n").encode()
    _text, records, quarantined = infer_and_read(tmp_path, "dts2.txt", data, "UTC", capsys)
    assert not quarantined
    assert [r["line"] for r in records] == [2, 5, 8, 11]
    assert records[2] == {
        "ts": "2021-06-01T12:20:00Z",
        "line": 8,
        "col2": 0.0,
        "col3": 18.25,
        "col4": 18.21,
        "col5": 1.0,
        "col6": 19.5,
        "col7": 19.6,
    }


def test_egauge_epoch_seconds_newest_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [f"{1_700_000_000 - 60 * i},{0.5 + i / 100:.2f}" for i in range(12)]
    data = ('"Date & Time","Usage [kWh]"\n' + "\n".join(rows) + "\n").encode()
    text, records, _ = infer_and_read(tmp_path, "egauge_epoch.csv", data, None, capsys)
    assert "timestampFormat: epoch_s" in text
    assert "rowOrder: descending" in text
    assert records[0] == {"ts": "2023-11-14T22:13:20Z", "line": 2, "usage": 0.5}


def test_ted_month_first_told_from_day_first_by_its_largest_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 11/2 and 11/3 read both ways; only month first runs an hour a row (day first jumps a
    # month between 11/3 and 11/2). Newest first, across Chicago's autumn repeat.
    chicago = ZoneInfo("America/Chicago")
    start = datetime(2019, 11, 3, 1, tzinfo=UTC)
    rows = []
    for i in range(14):
        t = (start + timedelta(hours=i)).astimezone(chicago)
        rows.append((t, f"MTU1,{t.month}/{t.day}/{t.year} {t:%-I:%M:%S %p},{0.5 + i / 100:.3f}"))
    rows.reverse()
    data = ("MTU,Date/Time,kWh\n" + "\n".join(r for _, r in rows) + "\n").encode()
    text, records, quarantined = infer_and_read(
        tmp_path, "ted.csv", data, "America/Chicago", capsys
    )
    assert "timestampFormat: '%m/%d/%Y %I:%M:%S %p'" in text
    assert not quarantined
    assert [r["ts"] for r in records] == [z(t) for t, _ in rows]
    assert not any("uncertain" in r for r in records)


def test_priva_points_between_thousands_in_a_decimal_comma_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ["Tijd;Temp kas [°C];CO2 [ppm]"]
    for i in range(12):
        temp = f"{21 + i / 10:.1f}".replace(".", ",")
        co2 = f"{950 + 15 * i:,}".replace(",", ".")  # 1.010 ppm
        lines.append(f"01-07-2024 00:{5 * i:02d};{temp};{co2}")
    data = ("\r\n".join(lines) + "\r\n").encode("cp1252")
    text, records, quarantined = infer_and_read(
        tmp_path, "priva.csv", data, "Europe/Amsterdam", capsys
    )
    assert "thousands: ." in text
    assert not quarantined
    assert [r["co2"] for r in records] == [950 + 15 * i for i in range(12)]
    assert records[4]["temp_kas"] == 21.4


def test_dts_trace_matrix_with_distances_as_column_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # One row per measurement, one column per distance along the fibre: the header is numbers.
    distances = [f"{d * 1.01:.2f}" for d in range(-3, 9)]
    lines = ["Date/Time," + ",".join(distances)]
    for i in range(6):
        cells = [f"{20 + k / 10 + i / 100:.2f}" for k in range(len(distances))]
        lines.append(f"2021-06-14 10:{5 * i:02d}:00," + ",".join(cells))
    data = ("\n".join(lines) + "\n").encode()
    text, records, quarantined = infer_and_read(tmp_path, "dts_matrix.csv", data, "UTC", capsys)
    assert "headerRow: 1" in text
    assert not quarantined
    assert len(records) == 6  # the row of distances is not a record
    assert records[2]["ts"] == "2021-06-14T10:10:00Z"
    assert records[2]["-3.03"] == 20.02
    assert records[2]["0.00"] == 20.32
    assert records[2]["8.08"] == 21.12


def test_numbers_as_column_names_are_names_not_positions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A header of sample numbers (1, 2, 3 ...): key '1' is the column titled 1, which is the
    # second column, not the first.
    lines = ["Time," + ",".join(str(n) for n in range(1, 9))]
    for i in range(6):
        lines.append(f"2021-06-14 10:00:0{i}," + ",".join(f"{n * 10 + i}" for n in range(1, 9)))
    data = ("\n".join(lines) + "\n").encode()
    _text, records, quarantined = infer_and_read(tmp_path, "wave.csv", data, "UTC", capsys)
    assert not quarantined
    assert records[3] == {
        "ts": "2021-06-14T10:00:03Z",
        "line": 5,
        **{str(n): n * 10 + 3 for n in range(1, 9)},
    }


@pytest.mark.parametrize(
    "head",
    [
        [
            "[Header]",
            "Instrument,Oryx DTS",
            "Channel,1",
            "Date,2021/06/14",
            "Time,10:15:02",
            "[Data]",
        ],
        ["time\t10:15:02", "date\t2021/06/14", "forward channel\tchannel 1", ""],
        ["Measured: 2021-06-14 10:15:02", "Fibre: loop 3"],
    ],
    ids=["date-then-time", "time-then-date-tabs", "one-line"],
)
def test_dts_one_trace_per_file_takes_the_time_its_header_states(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], head: list[str]
) -> None:
    delimiter = "\t" if "\t" in head[0] else ","
    lines = [*head, delimiter.join(["Distance (m)", "Temperature (C)", "Stokes", "Anti-Stokes"])]
    for k in range(8):
        lines.append(
            delimiter.join([f"{k * 1.01 - 2:.2f}", f"{21 + k / 10:.2f}", "2045.1", "1570.2"])
        )
    data = ("\n".join(lines) + "\n").encode()
    text, records, quarantined = infer_and_read(
        tmp_path, "trace.csv", data, "Europe/Berlin", capsys
    )
    assert "timeBase" in text
    assert not quarantined
    assert len(records) == 8
    assert {r["ts"] for r in records} == {"2021-06-14T08:15:02Z"}  # 10:15:02 in Berlin, summer
    assert records[2]["distance"] == 0.02
    assert records[2]["temperature"] == 21.2


def test_a_duration_in_the_preamble_is_not_the_time_of_the_trace() -> None:
    assert preamble_time(["Logger start date: 2021/06/14", "Record interval: 00:10:00"]) is None
    found = preamble_time(["Start date: 2021/06/14", "Interval: 00:10:00", "Start time: 10:15"])
    assert found is not None
    assert found[0]["format"] == "%Y/%m/%d %H:%M"
