"""Playing simulators: time order across streams, pacing, stopping, and the CLI around it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from simulators.cli import main
from simulators.ops import FileOp, Steps
from simulators.player import Pacer, TruthWriter, play
from simulators.sinks import MemorySink

T0 = datetime(2026, 1, 21, tzinfo=UTC)


def ticker(name: str, offset: int, count: int, late: int | None = None) -> Steps:
    for i in range(count):
        at = T0 + timedelta(seconds=10 * i + offset)
        ops = [
            FileOp(at, "append", f"{name}.csv", f"{i}\n".encode(), truth=(("t-rows", {"i": i}),))
        ]
        if late == i:
            ops.append(FileOp(at + timedelta(seconds=35), "write", f"{name}-late.csv", b"late"))
        yield at + timedelta(seconds=10), ops


def test_operations_are_applied_in_time_order_across_streams() -> None:
    sink = MemorySink()
    truth = TruthWriter(sink)
    truth.start("t", {"generator": "t"}, ["t-rows"])
    stats = play([ticker("a", 0, 5, late=0), ticker("b", 5, 5)], sink, truth)
    order = [
        path for kind, path in sink.log if kind in ("append", "write") and "_truth" not in path
    ]
    assert order == [
        "a.csv",
        "b.csv",
        "a.csv",
        "b.csv",
        "a.csv",
        "b.csv",
        "a.csv",
        "a-late.csv",
        "b.csv",
        "a.csv",
        "b.csv",
    ]
    assert sink.files["a.csv"] == b"0\n1\n2\n3\n4\n"
    assert sink.mtimes["a.csv"] == T0 + timedelta(seconds=40)  # batch: last append
    assert sink.mtimes["a-late.csv"] == T0 + timedelta(seconds=35)
    assert stats.truth["t-rows"] == 10
    assert not stats.stopped
    assert sink.files["_truth/t-rows.jsonl"].count(b"\n") == 10
    assert not sink.open_paths


def test_pacer_paces_and_stops_on_duration() -> None:
    stop = threading.Event()
    sink = MemorySink()
    started = time.monotonic()
    stats = play([ticker("a", 0, 1000)], sink, TruthWriter(sink), pacer=Pacer(100, T0, stop, 0.3))
    elapsed = time.monotonic() - started
    assert stats.stopped
    assert 0.25 < elapsed < 2
    assert 2 <= sink.files["a.csv"].count(b"\n") <= 5  # 10 s apart at 100x: one every 0.1 s


def test_stop_event_ends_a_run_promptly() -> None:
    stop = threading.Event()
    sink = MemorySink()
    timer = threading.Timer(0.2, stop.set)
    timer.start()
    started = time.monotonic()
    stats = play([ticker("a", 0, 10**6)], sink, TruthWriter(sink), pacer=Pacer(10, T0, stop))
    timer.join()
    assert stats.stopped
    assert time.monotonic() - started < 2
    assert not sink.open_paths


def test_pacer_refuses_a_bad_speed() -> None:
    with pytest.raises(ValueError, match="positive"):
        Pacer(0, T0, threading.Event())


@pytest.mark.parametrize(
    "args",
    [
        ["tower", "--duration", "3"],
        ["tower", "--out", "x", "--smb-server", "h"],
        ["tower", "--smb-server", "h"],
        ["tower", "--faults", "wobbly"],
        ["tower", "--trays", "3"],
        ["factory", "--machines", "lathe"],
        ["factory", "--bad-rate", "2"],
    ],
)
def test_cli_refuses_bad_arguments(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if "--out" not in args and "--smb-server" not in args:
        args = [*args, "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as stopped:
        main(args)
    assert stopped.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_cli_reads_the_smb_password_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("EDGE_SIM_TEST_PW", raising=False)
    args = ["tower", "--smb-server", "h", "--smb-share", "s", "--smb-user", "u"]
    with pytest.raises(SystemExit):
        main([*args, "--smb-password-env", "EDGE_SIM_TEST_PW"])
    assert "EDGE_SIM_TEST_PW" in capsys.readouterr().err


def test_console_script_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("edge-sim")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "simulators.cli"]
    process = subprocess.Popen(
        [*command, "tower", "--out", str(tmp_path), "--speed", "3600", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not list(tmp_path.glob("tower/*/*/*.csv")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is None
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "stopped" in out
    assert "Traceback" not in err
    rows = (tmp_path / "_truth" / "tower-rows.jsonl").read_text(encoding="utf-8").splitlines()
    assert rows
    assert all(os.path.exists(tmp_path / json.loads(r)["file"]) for r in rows)
