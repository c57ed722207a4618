"""Symlinks in a watched local folder: one that leads outside is refused with a log line and
never read, whether it names a file or a folder; one that stays inside is read like the file it
names (a second name for the same bytes, which skipDuplicateFiles then skips).
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

from edge_agent.config.sources import SourceConfig
from edge_agent.errors import SourceAccessError
from edge_agent.sources.local import LocalSource
from tests.agent.support import agent_config, running_agent, write_rows
from tests.infra.mosquitto import Broker


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """``in/`` (watched) with a regular file, and ``outside/`` with a secret file and folder."""
    inbox, outside = tmp_path / "in", tmp_path / "outside"
    inbox.mkdir()
    (outside / "dir").mkdir(parents=True)
    (inbox / "ok.csv").write_text("ts,v\n1,2\n")
    (outside / "secret.csv").write_text("ts,v\n9,9\n")
    (outside / "dir" / "data.csv").write_text("ts,v\n8,8\n")
    return inbox, outside


def source(inbox: Path) -> LocalSource:
    return LocalSource(SourceConfig(name="s", path=str(inbox), dataset="d"))


def refusals(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [
        (r.path, r.getMessage())  # type: ignore[attr-defined]
        for r in caplog.records
        if r.levelno >= logging.WARNING and "outside" in r.getMessage()
    ]


def test_a_file_link_leading_outside_is_refused(
    layout: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    inbox, outside = layout
    (inbox / "link.csv").symlink_to(outside / "secret.csv")
    (inbox / "relative.csv").symlink_to(Path("..") / "outside" / "secret.csv")
    src = source(inbox)
    assert [f.path for f in src.scan()] == ["ok.csv"]
    assert sorted(p for p, _ in refusals(caplog)) == ["link.csv", "relative.csv"]
    assert src.stat("link.csv") is None
    with pytest.raises(SourceAccessError, match="outside"):
        src.open("link.csv")


def test_a_folder_link_leading_outside_is_refused_and_not_entered(
    layout: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    inbox, outside = layout
    (inbox / "linked").symlink_to(outside / "dir", target_is_directory=True)
    (inbox / "sub").mkdir()
    (inbox / "sub" / "up").symlink_to(outside, target_is_directory=True)
    src = source(inbox)
    assert [f.path for f in src.scan()] == ["ok.csv"]
    assert sorted(p for p, _ in refusals(caplog)) == ["linked", "sub/up"]
    # A path through the link (a watcher event, an old ledger entry) is refused as well.
    assert src.stat("linked/data.csv") is None
    assert src.stat("sub/up/secret.csv") is None
    with pytest.raises(SourceAccessError, match="outside"):
        src.open("linked/data.csv")


def test_a_link_that_stays_inside_is_read(layout: tuple[Path, Path]) -> None:
    inbox, _ = layout
    (inbox / "sub").mkdir()
    (inbox / "sub" / "real.csv").write_text("ts,v\n3,4\n")
    (inbox / "alias.csv").symlink_to(inbox / "sub" / "real.csv")
    (inbox / "subalias").symlink_to(inbox / "sub", target_is_directory=True)
    src = source(inbox)
    # The folder link is not walked (its files are found under their real folder).
    assert sorted(f.path for f in src.scan()) == ["alias.csv", "ok.csv", "sub/real.csv"]
    with src.open("alias.csv") as f:
        assert f.read() == b"ts,v\n3,4\n"


def test_broken_and_looping_links_are_skipped(
    layout: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    inbox, _ = layout
    (inbox / "dangling.csv").symlink_to(inbox / "gone.csv")
    (inbox / "a.csv").symlink_to(inbox / "b.csv")
    (inbox / "b.csv").symlink_to(inbox / "a.csv")
    src = source(inbox)
    assert [f.path for f in src.scan()] == ["ok.csv"]
    assert src.stat("a.csv") is None


def test_a_file_swapped_for_an_outside_link_after_listing_is_not_opened(
    layout: tuple[Path, Path],
) -> None:
    inbox, outside = layout
    src = source(inbox)
    assert [f.path for f in src.scan()] == ["ok.csv"]
    (inbox / "ok.csv").unlink()
    os.symlink(outside / "secret.csv", inbox / "ok.csv")
    assert src.stat("ok.csv") is None
    with pytest.raises(SourceAccessError, match="outside"):
        src.open("ok.csv")


@pytest.mark.infra
async def test_the_agent_publishes_nothing_from_outside(
    tmp_path: Path, mosquitto: Broker, unique_thing: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = agent_config(tmp_path, mosquitto, thing=unique_thing)
    inbox, outside = tmp_path / "in", tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    write_rows(outside / "secret.csv", 5, start=900)
    write_rows(outside / "dir" / "deep.csv", 5, start=800)
    (inbox / "link.csv").symlink_to(outside / "secret.csv")
    (inbox / "linked").symlink_to(outside / "dir", target_is_directory=True)
    with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/#") as sub:
        async with running_agent(config):
            write_rows(inbox / "ok.csv", 2)
            await sub.wait_for_async(1)
            await asyncio.sleep(1)  # time for a wrongly read file to arrive too
        envelopes = sub.payloads_json()
    assert [(e["source"]["path"], len(e["records"])) for e in envelopes] == [("ok.csv", 2)]
    assert sorted(p for p, _ in refusals(caplog)) == ["link.csv", "linked"]
