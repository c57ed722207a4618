"""A mounted share that answers EIO or ESTALE makes the source unavailable for now (retried);
it never escapes the scan as an unknown error."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from edge_agent.config.sources import SourceConfig
from edge_agent.errors import SourceUnavailableError
from edge_agent.sources.local import LocalSource


def _source(folder: Path) -> LocalSource:
    return LocalSource(SourceConfig(name="mnt", path=str(folder), dataset="d"))


@pytest.mark.parametrize("code", [errno.EIO, errno.ESTALE])
def test_an_io_error_while_listing_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.csv").write_text("ts\n")
    source = _source(tmp_path)
    real_scandir = os.scandir

    def failing(path: object = ".") -> object:
        if str(path).endswith("sub"):
            raise OSError(code, os.strerror(code), str(path))
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", failing)
    with pytest.raises(SourceUnavailableError, match=os.strerror(code)):
        source.scan()


def test_an_io_error_on_a_stat_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.csv").write_text("ts\n")
    source = _source(tmp_path)

    def failing(path: object, *args: object, **kwargs: object) -> object:
        raise OSError(errno.ESTALE, "Stale file handle", str(path))

    monkeypatch.setattr(os, "stat", failing)
    with pytest.raises(SourceUnavailableError, match="Stale file handle"):
        source.stat("a.csv")


def test_a_folder_it_may_not_list_is_skipped_and_the_rest_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "private").mkdir()
    (tmp_path / "a.csv").write_text("ts\n")
    source = _source(tmp_path)
    real_scandir = os.scandir

    def refusing(path: object = ".") -> object:
        if str(path).endswith("private"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", refusing)
    assert [info.path for info in source.scan()] == ["a.csv"]
