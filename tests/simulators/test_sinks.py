"""The sinks: a local folder, the in-memory fake, and an SMB share through smbclient."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from simulators.sinks import LocalSink, MemorySink
from simulators.smb import SmbSink

WHEN = datetime(2026, 1, 21, 14, 55, 30, tzinfo=UTC)


def test_local_sink_operations(tmp_path: Path) -> None:
    sink = LocalSink(tmp_path / "out")
    sink.write("a/b/one.csv", b"h\n1\n")
    sink.set_mtime("a/b/one.csv", WHEN)
    assert (tmp_path / "out/a/b/one.csv").read_bytes() == b"h\n1\n"
    assert os.stat(tmp_path / "out/a/b/one.csv").st_mtime == WHEN.timestamp()
    sink.append("log.csv", b"h\n")
    sink.append("log.csv", b"2\n")
    assert (tmp_path / "out/log.csv").read_bytes() == b"h\n2\n"  # visible while open
    sink.close("log.csv")
    sink.close("log.csv")
    sink.append("tmp.part", b"x")
    sink.rename("tmp.part", "a/b/one.csv")
    assert (tmp_path / "out/a/b/one.csv").read_bytes() == b"x"
    assert not (tmp_path / "out/tmp.part").exists()
    sink.append("open.csv", b"y")
    sink.close_all()


@pytest.mark.parametrize("path", ["/abs.csv", "../up.csv", "a\\b.csv", ""])
def test_sinks_refuse_paths_outside_the_root(tmp_path: Path, path: str) -> None:
    with pytest.raises(ValueError, match="relative"):
        LocalSink(tmp_path).write(path, b"")
    with pytest.raises(ValueError, match="relative"):
        MemorySink().append(path, b"")


def test_memory_sink() -> None:
    sink = MemorySink()
    sink.append("x.csv", b"a")
    assert sink.open_paths == {"x.csv"}
    sink.rename("x.csv", "y.csv")
    sink.set_mtime("y.csv", WHEN)
    assert sink.files == {"y.csv": bytearray(b"a")}
    assert sink.mtimes["y.csv"] == WHEN
    with pytest.raises(FileNotFoundError):
        sink.set_mtime("x.csv", WHEN)


@pytest.mark.infra
def test_smb_sink_writes_through_the_share(request: pytest.FixtureRequest) -> None:
    try:
        samba = request.getfixturevalue("samba")
        folder = request.getfixturevalue("smb_folder")
    except pytest.FixtureLookupError:
        pytest.skip("the samba fixture (tests/infra/samba.py) is not available")
    sink = SmbSink(
        samba.host,
        samba.share,
        username=samba.username,
        password=samba.password,
        port=samba.port,
        folder=folder,
    )
    try:
        sink.write("tower/one.csv", b"h\r\n1\r\n")
        sink.set_mtime("tower/one.csv", WHEN)
        sink.append("log.csv", b"a,b\n")
        sink.append("log.csv", b"1,2\n")
        sink.close("log.csv")
        sink.write("x.tmp", b"renamed")
        sink.rename("x.tmp", "tower/two.csv")
    finally:
        sink.close_all()
    root = Path(samba.share_path) / folder
    assert (root / "tower/one.csv").read_bytes() == b"h\r\n1\r\n"
    assert os.stat(root / "tower/one.csv").st_mtime == WHEN.timestamp()
    assert (root / "log.csv").read_bytes() == b"a,b\n1,2\n"
    assert (root / "tower/two.csv").read_bytes() == b"renamed"
    assert not (root / "x.tmp").exists()
