"""SmbSource against a real smbd (tests/infra/samba.py): listing, shared reads, CHANGE_NOTIFY,
disposition, and every error a technician can cause, each mapped to our own error."""

from __future__ import annotations

import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import smbclient

from edge_agent.config.sources import SourceConfig
from edge_agent.errors import FileChangedError, SourceAccessError, SourceUnavailableError
from edge_agent.sources.base import FileInfo
from edge_agent.sources.smb import SmbSource
from tests.infra.samba import SambaServer

pytestmark = pytest.mark.infra

EVENT_TIMEOUT = 10.0  # generous for a loaded 2-core machine; events usually take milliseconds
STOP_LIMIT = 2.0


def make_source(
    samba: SambaServer,
    folder: str,
    *,
    password: str | None = None,
    smb: dict[str, Any] | None = None,
    **source: Any,
) -> SmbSource:
    config = SourceConfig.model_validate(
        {
            "name": "line1",
            "type": "smb",
            "smb": {
                "server": samba.host,
                "port": samba.port,
                "share": samba.share,
                "folder": folder,
                "username": samba.username,
                "passwordEnv": "EDGE_SMB_PASSWORD",
                "connectionTimeoutSeconds": 5,
                **(smb or {}),
            },
            "dataset": "line1",
            **source,
        }
    )
    return SmbSource(config, samba.password if password is None else password)


@pytest.fixture
def source(samba: SambaServer, smb_folder: str) -> Iterator[SmbSource]:
    src = make_source(samba, smb_folder)
    yield src
    src.close()


def write(root: Path, rel: str, data: bytes = b"ts,value\n1,2\n") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def expected(root: Path, rel: str) -> FileInfo:
    st = (root / rel).stat()
    return FileInfo(rel, st.st_size, st.st_mtime_ns // 1000 * 1000)


# --------------------------------------------------------------------------- listing


def test_scan_applies_include_exclude_in_subfolders(
    samba: SambaServer, smb_folder: str, source: SmbSource
) -> None:
    root = samba.share_path / smb_folder
    for rel in ("a.csv", "b.txt", "sub/c.csv", "sub/deep/Größe µm.csv", "sub/skip-me.csv"):
        write(root, rel)
    write(root, ".hidden.csv")
    write(root, "~$a.csv")
    (root / "empty").mkdir()
    src = make_source(samba, smb_folder, exclude=["skip-*"])
    try:
        found = sorted(src.scan(), key=lambda f: f.path)
    finally:
        src.close()
    assert found == [expected(root, p) for p in ("a.csv", "sub/c.csv", "sub/deep/Größe µm.csv")]

    flat = make_source(samba, smb_folder, recursive=False)
    try:
        assert [f.path for f in flat.scan()] == ["a.csv"]
    finally:
        flat.close()


def test_scan_never_follows_links_out_of_the_share_or_in_circles(
    samba: SambaServer, smb_folder: str, source: SmbSource
) -> None:
    root = samba.share_path / smb_folder
    write(root, "a.csv")
    write(root, "sub/c.csv")
    (root / "sub" / "loop").symlink_to(root / "sub")
    (root / "up").symlink_to(root)
    (root / "outside").symlink_to("/etc")
    (root / "passwd.csv").symlink_to("/etc/passwd")
    assert sorted(f.path for f in source.scan()) == ["a.csv", "sub/c.csv"]


def test_scan_lists_500_files_in_one_folder_quickly(
    samba: SambaServer, smb_folder: str, source: SmbSource
) -> None:
    root = samba.share_path / smb_folder
    names = {f"r{i:04d}.csv" for i in range(500)}
    for name in names:
        write(root, name, name.encode())
    started = time.monotonic()
    found = source.scan()
    elapsed = time.monotonic() - started
    assert {f.path for f in found} == names
    assert all(f.size == 9 for f in found)
    assert elapsed < 10, f"listing 500 files took {elapsed:.1f}s"


def test_stat_reports_size_and_mtime_and_none_when_gone(
    samba: SambaServer, smb_folder: str, source: SmbSource
) -> None:
    root = samba.share_path / smb_folder
    write(root, "sub/a.csv", b"x" * 1234)
    assert source.stat("sub/a.csv") == expected(root, "sub/a.csv")
    assert source.stat("sub/a.csv") == next(f for f in source.scan() if f.path == "sub/a.csv")
    assert source.stat("missing.csv") is None
    assert source.stat("nope/missing.csv") is None
    assert source.stat("sub") is None  # a folder is not a file
    with pytest.raises(FileNotFoundError):
        source.open("missing.csv")
    with pytest.raises(ValueError, match="relative path"):
        source.stat("../escape.csv")

    share_root = make_source(samba, "")  # the whole share
    try:
        assert share_root.stat(f"{smb_folder}/sub/a.csv") == expected(
            samba.share_path, f"{smb_folder}/sub/a.csv"
        )
        assert f"{smb_folder}/sub/a.csv" in {f.path for f in share_root.scan()}
    finally:
        share_root.close()


# --------------------------------------------------------------------------- reading


def test_read_while_another_client_holds_the_file_open_and_appends(
    samba: SambaServer, smb_folder: str, source: SmbSource
) -> None:
    smbclient.register_session(
        samba.host, username=samba.username, password=samba.password, port=samba.port
    )
    unc = samba.unc(smb_folder, "log.csv")
    with smbclient.open_file(unc, mode="ab", share_access="rw", port=samba.port) as writer:
        writer.write(b"ts,value\n1,10\n")
        writer.flush()

        with source.open("log.csv") as first:
            assert first.read() == b"ts,value\n1,10\n"
            writer.write(b"2,20\n")
            writer.flush()

        stat = source.stat("log.csv")
        assert stat is not None
        assert stat.size == len(b"ts,value\n1,10\n2,20\n")
        # A handle may stop at the size it saw when opened: the caller reopens and seeks.
        with source.open("log.csv") as second:
            second.seek(len(b"ts,value\n1,10\n"))
            assert second.read() == b"2,20\n"


# --------------------------------------------------------------------------- watching


class Watch:
    """source.watch() in a thread, its notifications in a queue."""

    def __init__(self, source: SmbSource) -> None:
        self.events: queue.Queue[str | None] = queue.Queue()
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(source,), daemon=True)
        self.thread.start()

    def _run(self, source: SmbSource) -> None:
        try:
            source.watch(self.events.put, self.stop)
        except BaseException as err:
            self.error = err

    def wait_for(self, wanted: str | None, *, poke: Callable[[], None] | None = None) -> None:
        """Wait until ``wanted`` is notified; ``poke`` (if given) repeats a change meanwhile."""
        deadline = time.monotonic() + EVENT_TIMEOUT
        while time.monotonic() < deadline:
            if poke is not None:
                poke()
            try:
                if self.events.get(timeout=0.2) == wanted:
                    return
            except queue.Empty:
                continue
        raise AssertionError(f"no notification for {wanted!r} within {EVENT_TIMEOUT}s")

    def drain(self) -> None:
        while not self.events.empty():
            self.events.get_nowait()

    def close(self) -> float:
        started = time.monotonic()
        self.stop.set()
        self.thread.join(STOP_LIMIT + 3)
        assert not self.thread.is_alive(), "watch() did not return after stop was set"
        assert self.error is None, self.error
        return time.monotonic() - started


def test_watch_reports_new_files_and_appends_and_stops_promptly(
    samba: SambaServer, smb_folder: str, source: SmbSource
) -> None:
    root = samba.share_path / smb_folder
    watch = Watch(source)
    try:
        probe = write(root, "probe.csv")
        # Armed once the probe's change is seen (touching it again until then).
        watch.wait_for("probe.csv", poke=lambda: os.utime(probe))
        watch.drain()

        write(root, "new.csv", b"ts\n1\n")
        watch.wait_for("new.csv")
        watch.drain()

        with (root / "new.csv").open("ab") as log:  # a change made on the server itself
            log.write(b"2\n")
        watch.wait_for("new.csv")

        # Another SMB client (the equipment) appending to a log it keeps open.
        smbclient.register_session(
            samba.host, username=samba.username, password=samba.password, port=samba.port
        )
        unc = samba.unc(smb_folder, "new.csv")
        with smbclient.open_file(unc, mode="ab", share_access="rw", port=samba.port) as log:
            watch.drain()
            log.write(b"3\n")
            log.flush()
            watch.wait_for("new.csv")

            # ... and dropping a file into a new subfolder.
            smbclient.mkdir(samba.unc(smb_folder, "sub"), port=samba.port)
            with smbclient.open_file(
                samba.unc(smb_folder, "sub", "deeper.csv"), mode="wb", port=samba.port
            ) as new:
                new.write(b"ts\n1\n")
            watch.wait_for("sub/deeper.csv")
    finally:
        elapsed = watch.close()
    assert elapsed < STOP_LIMIT


def test_watch_overflow_asks_for_a_rescan(
    samba: SambaServer, smb_folder: str, source: SmbSource
) -> None:
    root = samba.share_path / smb_folder
    events: queue.Queue[str | None] = queue.Queue()
    stop, consumer_busy, watching = threading.Event(), threading.Event(), threading.Event()

    def slow_consumer(path: str | None) -> None:
        if path is None and not watching.is_set():
            watching.set()  # the listing asked for once the watch is on: not the overflow
            return
        events.put(path)
        consumer_busy.wait(EVENT_TIMEOUT)  # hold the watcher while the burst happens

    thread = threading.Thread(target=source.watch, args=(slow_consumer, stop), daemon=True)
    thread.start()
    try:
        probe = write(root, "probe.csv")
        deadline = time.monotonic() + EVENT_TIMEOUT
        while events.empty() and time.monotonic() < deadline:
            os.utime(probe)
            time.sleep(0.05)
        assert events.get_nowait() == "probe.csv"
        # More changes than fit in one CHANGE_NOTIFY answer (64 KiB) pile up on the server.
        for i in range(4000):
            write(root, f"burst-with-a-longish-file-name-{i:05d}.csv", b"")
        consumer_busy.set()
        seen = [events.get(timeout=EVENT_TIMEOUT)]
        while seen[-1] is not None:
            seen.append(events.get(timeout=EVENT_TIMEOUT))
    finally:
        consumer_busy.set()
        stop.set()
        thread.join(STOP_LIMIT + 3)
    assert not thread.is_alive()


def test_watch_survives_a_server_restart(
    samba: SambaServer, smb_folder: str, source: SmbSource
) -> None:
    root = samba.share_path / smb_folder
    watch = Watch(source)
    try:
        probe = write(root, "probe.csv")
        watch.wait_for("probe.csv", poke=lambda: os.utime(probe))

        samba.restart()
        watch.wait_for(None)  # connection lost: rescan

        after = write(root, "after.csv")
        watch.wait_for("after.csv", poke=lambda: os.utime(after))
    finally:
        elapsed = watch.close()
    assert elapsed < STOP_LIMIT


def test_watch_stops_promptly_while_the_server_is_down(
    samba: SambaServer, smb_folder: str, source: SmbSource
) -> None:
    samba.stop()
    watch = Watch(source)
    watch.wait_for(None)
    assert watch.close() < STOP_LIMIT


# --------------------------------------------------------------------------- disposition


def test_move_to_archive_never_overwrites_and_remove(samba: SambaServer, smb_folder: str) -> None:
    root = samba.share_path / smb_folder
    archive = f"{smb_folder}/archive"
    src = make_source(samba, smb_folder, afterIngest="move", moveTo=archive)
    try:
        write(root, "day/x.csv", b"first")
        assert src.move("day/x.csv", archive) == f"{archive}/day/x.csv"
        write(root, "day/x.csv", b"second")
        assert src.move("day/x.csv", archive) == f"{archive}/day/x-1.csv"
        assert (root / "archive/day/x.csv").read_bytes() == b"first"
        assert (root / "archive/day/x-1.csv").read_bytes() == b"second"
        assert not (root / "day/x.csv").exists()
        assert src.scan() == []  # the archive inside the watched folder is not scanned

        write(root, "gone.csv")
        src.remove("gone.csv")
        assert not (root / "gone.csv").exists()
        src.remove("gone.csv")  # already gone: nothing to do
        with pytest.raises(FileNotFoundError):
            src.open("gone.csv")
        with pytest.raises(FileNotFoundError):
            src.move("gone.csv", archive)
    finally:
        src.close()


# --------------------------------------------------------------------------- errors


def test_wrong_password_names_the_password(samba: SambaServer, smb_folder: str) -> None:
    src = make_source(samba, smb_folder, password="not-the-password")
    try:
        with pytest.raises(SourceAccessError) as caught:
            src.scan()
    finally:
        src.close()
    assert caught.value.source == "line1"
    assert "logon failure" in caught.value.reason
    assert "password" in caught.value.hint
    assert "passwordEnv" in caught.value.hint


def test_missing_share_names_the_share(samba: SambaServer, smb_folder: str) -> None:
    src = make_source(samba, smb_folder, smb={"share": "no-such-share"})
    try:
        with pytest.raises(SourceAccessError) as caught:
            src.scan()
    finally:
        src.close()
    assert "not found" in caught.value.reason
    assert "smb.share" in caught.value.hint


def test_missing_folder_names_the_folder(samba: SambaServer, smb_folder: str) -> None:
    src = make_source(samba, f"{smb_folder}/no/such/folder")
    try:
        with pytest.raises(SourceAccessError) as caught:
            src.scan()
    finally:
        src.close()
    assert "smb.folder" in caught.value.hint


def test_read_only_share_refuses_delete_and_move_with_a_permission_hint(
    samba: SambaServer, smb_folder: str
) -> None:
    write(samba.readonly_share_path, f"{smb_folder}/a.csv")
    src = make_source(samba, smb_folder, smb={"share": samba.readonly_share})
    try:
        assert [f.path for f in src.scan()] == ["a.csv"]
        with pytest.raises(SourceAccessError) as caught:
            src.remove("a.csv")
        assert "permission" in caught.value.hint
        with pytest.raises(SourceAccessError):
            src.move("a.csv", "archive")
    finally:
        src.close()
    assert (samba.readonly_share_path / smb_folder / "a.csv").exists()


def test_server_down_is_transient_and_the_same_source_reconnects(
    samba: SambaServer, smb_folder: str, source: SmbSource
) -> None:
    root = samba.share_path / smb_folder
    write(root, "a.csv", b"ts\n1\n")
    assert [f.path for f in source.scan()] == ["a.csv"]
    reader = source.open("a.csv")

    samba.stop()
    with pytest.raises(SourceUnavailableError) as caught:
        source.scan()
    assert caught.value.source == "line1"
    assert f"cannot connect to {samba.host} port {samba.port}" in caught.value.reason
    with pytest.raises(SourceUnavailableError):
        source.stat("a.csv")
    with pytest.raises(SourceUnavailableError):
        reader.read()
    reader.close()

    samba.start()
    assert [f.path for f in source.scan()] == ["a.csv"]
    with source.open("a.csv") as fresh:
        assert fresh.read() == b"ts\n1\n"


def test_a_server_restart_between_calls_is_invisible(
    samba: SambaServer, smb_folder: str, source: SmbSource
) -> None:
    write(samba.share_path / smb_folder, "a.csv")
    assert [f.path for f in source.scan()] == ["a.csv"]
    samba.restart()
    assert [f.path for f in source.scan()] == ["a.csv"]


@pytest.mark.parametrize("require", [True, False])
def test_encrypted_share(samba: SambaServer, smb_folder: str, require: bool) -> None:
    write(samba.encrypted_share_path, f"{smb_folder}/a.csv", b"secret\n")
    src = make_source(
        samba,
        smb_folder,
        smb={"share": samba.encrypted_share, "requireEncryption": require},
    )
    try:
        assert [f.path for f in src.scan()] == ["a.csv"]
        with src.open("a.csv") as f:
            assert f.read() == b"secret\n"
        # White-box: the share demands encryption (smb encrypt = required) and we honour it,
        # with or without requireEncryption.
        (connection,) = src._cache.values()
        (session,) = connection.session_table.values()
        tree = next(iter(session.tree_connect_table.values()))
        assert session.encrypt_data or tree.encrypt_data
        assert session.encrypt_data is require
    finally:
        src.close()


def test_a_share_closed_by_the_server_admin_is_reconnected(
    samba: SambaServer, smb_folder: str, source: SmbSource
) -> None:
    write(samba.share_path / smb_folder, "a.csv")
    assert [f.path for f in source.scan()] == ["a.csv"]
    subprocess.run(
        ["smbcontrol", "-s", str(samba.config_path), "smbd", "close-share", samba.share],
        check=True,
        capture_output=True,
    )
    # The next request gets STATUS_NETWORK_NAME_DELETED: the source logs on again and retries.
    assert [f.path for f in source.scan()] == ["a.csv"]


def test_a_file_locked_by_its_writer_is_busy_not_an_outage(
    samba: SambaServer, smb_folder: str, source: SmbSource
) -> None:
    smbclient.register_session(
        samba.host, username=samba.username, password=samba.password, port=samba.port
    )
    unc = samba.unc(smb_folder, "locked.csv")
    with smbclient.open_file(unc, mode="wb", share_access=None, port=samba.port) as writer:
        writer.write(b"ts\n")
        writer.flush()
        with pytest.raises(FileChangedError) as caught:
            source.open("locked.csv")
        assert caught.value.path == "locked.csv"
        assert "in use" in caught.value.reason
    with source.open("locked.csv") as reader:
        assert reader.read() == b"ts\n"
