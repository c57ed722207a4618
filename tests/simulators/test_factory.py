"""Each factory dialect has its documented shape, and the truth agrees with the files."""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from simulators.clock import BERLIN, from_iso_z, ole_days
from simulators.factory.plc import HEADER as PLC_HEADER
from simulators.factory.sim import parse_machines
from simulators.truth import Truth


def files(root: Path, machine: str) -> list[Path]:
    return sorted((root / "factory" / machine).glob("*"))


def final_rows(truth: Truth, file: str) -> list[dict[str, object]]:
    rows = [r for r in truth.rows if r["file"] == file]
    last = max(int(str(r["version"])) for r in rows)
    return [r for r in rows if r["version"] == last]


def test_wincc_long_layout_with_markers_and_rotation(
    factory_out: Path, factory_truth: Truth
) -> None:
    paths = files(factory_out, "wincc")
    assert [p.name for p in paths] == ["Press01_0.csv", "Press01_1.csv", "Press01_2.csv"]
    text = b"".join(p.read_bytes() for p in paths).decode("cp1252")
    assert text.startswith('"VarName";"TimeString";"VarValue";"Validity";"Time_ms"\r\n')
    assert "\n" not in text.replace("\r\n", "")
    assert re.search(r";\d+,\d\d;1;", text)
    assert re.search(r";\d+\.\d\d;1;", text)
    assert '"$RT_OFF$"' in text
    assert '"$RT_COUNT$"' in text
    markers = [r for r in factory_truth.rows if r["reason"] == "marker"]
    assert len(markers) == 2
    assert {r["outcome"] for r in markers} == {"skip"}
    versions = {
        r["version"] for r in factory_truth.rows if r["file"] == "factory/wincc/Press01_0.csv"
    }
    assert versions == {1, 2}  # four hours, three one-hour segments: the first is rewritten
    for line in text.split("\r\n")[1:200]:
        cells = line.split(";")
        if len(cells) != 5 or "#" in line or "32.13" in line:
            continue
        stamp = cells[1].strip('"')
        wall = datetime.strptime(stamp, "%d.%m.%y %H:%M:%S")
        assert abs(float(cells[4].replace(",", ".")) - ole_days(wall) * 1e6) < 1


def test_toa5_four_header_lines(factory_out: Path, factory_truth: Truth) -> None:
    paths = files(factory_out, "toa5")
    assert len(paths) == 4
    records: list[int] = []
    for path in paths:
        assert re.fullmatch(r"CR1000_Boiler_Table1_\d{4}_\d\d_\d\d_\d{4}\.csv", path.name)
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="ascii"), newline="")))
        assert rows[0][0] == "TOA5"
        assert len(rows[0]) == 8
        assert rows[1][:2] == ["TIMESTAMP", "RECORD"]
        assert rows[2][:3] == ["TS", "RN", "Volts"]
        assert rows[3][:4] == ["", "", "Min", "Avg"]
        records += [int(r[1]) for r in rows[4:] if len(r) == 7]
        assert path.read_bytes().count(b"\r\n") == len(rows)
    assert records == sorted(records)
    assert len(records) > 200


def test_plc_header_rows_split_files_and_invalid_values(factory_out: Path) -> None:
    paths = files(factory_out, "plc")
    names = [p.name for p in paths]
    assert all(re.fullmatch(r"PLC01_\d{8}_\d\d(00|15|30|45)\.csv", n) for n in names)
    assert len(paths) == 16  # four hours; standard time, so the DST repeat changes nothing
    data = paths[1].read_bytes()
    lines = data.split(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert [line.decode() for line in lines[:7]] == list(PLC_HEADER)
    first = lines[7].decode().split(",")
    assert first[0] == "1"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d", first[1])
    assert re.fullmatch(r"\d\d:\d\d:\d\d", first[2])
    everything = b"".join(p.read_bytes() for p in paths).decode()
    assert ",-," in everything
    assert ",NaN," in everything


def test_excel_unicode_text(factory_out: Path, factory_truth: Truth) -> None:
    paths = files(factory_out, "excel")
    assert paths
    assert all(p.suffix == ".csv" for p in paths)
    multi_line = 0
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(b"\xff\xfe")
        text = data.decode("utf-16")
        assert text.startswith("Sample ID\tTaken at\t")  # the utf-16 codec ate the BOM
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t")
        starts, line = [], 1
        for _ in reader:
            starts.append(line)
            line = reader.line_num + 1
        truth_lines = [
            r["line"] for r in final_rows(factory_truth, path.relative_to(factory_out).as_posix())
        ]
        assert truth_lines == starts[1:]
        multi_line += sum(b - a > 1 for a, b in itertools.pairwise(starts))
    assert multi_line > 0
    assert any(
        "ü" in p.read_bytes().decode("utf-16") or "ö" in p.read_bytes().decode("utf-16")
        for p in paths
    )


def test_cp1252_header_bytes(factory_out: Path) -> None:
    (path,) = [p for p in files(factory_out, "hmi") if p.name == "Ofen2_20261025.csv"]
    data = path.read_bytes()
    header = data.split(b"\r\n", 1)[0]
    assert b"(\xb0C)" in header
    assert b"(\xb5m)" in header
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert b"Abk\xfchlen" in data


def test_bad_rows_at_the_rate(factory_truth: Truth) -> None:
    data_rows = [r for r in factory_truth.rows if r["reason"] != "marker"]
    bad = [r for r in data_rows if r["outcome"] == "quarantine"]
    assert 0.01 < len(bad) / len(data_rows) < 0.03
    assert {r["reason"] for r in bad} == {"bad_value", "field_count", "bad_timestamp"}
    assert all(r["values"] is None for r in bad)


def test_dst_repeat_is_flagged(factory_truth: Truth) -> None:
    ambiguous = [r for r in factory_truth.rows if r.get("ambiguousLocalTime")]
    assert ambiguous
    hours = {from_iso_z(str(r["ts"])).astimezone(BERLIN).hour for r in ambiguous}
    assert hours == {2}
    for row in ambiguous:
        ts = from_iso_z(str(row["ts"]))
        assert (
            timedelta(hours=0) <= ts - ts.replace(hour=0, minute=0, second=0) < timedelta(hours=2)
        )


def test_rows_per_file_match_the_truth(factory_out: Path, factory_truth: Truth) -> None:
    counts = Counter((r["file"], r["version"]) for r in factory_truth.rows)
    for path in (factory_out / "factory").rglob("*.csv"):
        name = path.relative_to(factory_out).as_posix()
        final = max(v for f, v in counts if f == name)
        assert counts[(name, final)] > 0


def test_machine_names_are_checked() -> None:
    assert parse_machines("all") == ("wincc", "toa5", "plc", "excel", "hmi")
    assert parse_machines("hmi,wincc") == ("wincc", "hmi")
    with pytest.raises(ValueError, match="unknown machine"):
        parse_machines("lathe")
