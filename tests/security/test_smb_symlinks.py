"""Symlinks made on the Samba server's disk, as seen through the share by our SMB source.

With Samba's defaults (``follow symlinks = yes``, ``wide links = no``; Samba 4.17 checked) smbd
leaves a link that leads outside the share out of listings and answers an open of it with
STATUS_OBJECT_NAME_NOT_FOUND (a file) or STATUS_OBJECT_PATH_NOT_FOUND (a path through a folder
link); a link that stays inside is shown as the plain file it names (attributes 0x80, not a
reparse point). Whatever smbd shows, the source must never read bytes from outside the share.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.sources.smb import SmbSource
from tests.infra.samba import SambaServer
from tests.sources.test_smb_source import make_source

pytestmark = pytest.mark.infra

SECRET = b"ts,v\n1,SECRET-OUTSIDE-THE-SHARE\n"


@pytest.fixture
def outside(samba: SambaServer) -> Path:
    """A folder on the server's disk next to (not inside) the share."""
    folder = samba.share_path.parent.parent / "outside-the-share"
    (folder / "dir").mkdir(parents=True, exist_ok=True)
    (folder / "secret.csv").write_bytes(SECRET)
    (folder / "dir" / "deep.csv").write_bytes(SECRET)
    return folder


@pytest.fixture
def source(samba: SambaServer, smb_folder: str) -> Iterator[SmbSource]:
    src = make_source(samba, smb_folder)
    yield src
    src.close()


def read_all(src: SmbSource, path: str) -> bytes | None:
    """The bytes of ``path`` through the source, or None if it cannot be opened."""
    with contextlib.suppress(OSError, Exception), src.open(path) as f:
        return f.read()
    return None


def test_links_leading_outside_the_share_are_never_read(
    samba: SambaServer, smb_folder: str, outside: Path, source: SmbSource
) -> None:
    folder = samba.share_path / smb_folder
    (folder / "ok.csv").write_bytes(b"ts,v\n1,2\n")
    (folder / "link.csv").symlink_to(outside / "secret.csv")
    (folder / "linked").symlink_to(outside / "dir", target_is_directory=True)
    listed = sorted(f.path for f in source.scan())
    assert "ok.csv" in listed
    for path in ("link.csv", "linked/deep.csv"):
        assert path not in listed
        assert source.stat(path) is None
        assert read_all(source, path) != SECRET
    assert read_all(source, "ok.csv") == b"ts,v\n1,2\n"  # the control: reading works


def test_a_link_inside_the_share_is_read_as_its_file(
    samba: SambaServer, smb_folder: str, source: SmbSource
) -> None:
    folder = samba.share_path / smb_folder
    (folder / "sub").mkdir()
    (folder / "sub" / "real.csv").write_bytes(b"ts,v\n3,4\n")
    (folder / "alias.csv").symlink_to(folder / "sub" / "real.csv")
    listed = sorted(f.path for f in source.scan())
    assert listed == ["alias.csv", "sub/real.csv"]
    assert read_all(source, "alias.csv") == b"ts,v\n3,4\n"
