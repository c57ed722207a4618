"""An SMB share (Windows file server, NAS, Samba) as a source, through smbprotocol's smbclient.

Methods block (worker threads). Each source has its own smbclient connection cache. Library
errors become SourceUnavailableError (retry soon), SourceAccessError (a setting or permission
to fix, named in the hint) or FileChangedError (one file is busy) here, at the boundary; a dead
connection is dropped and the call retried once on a fresh one. See docs/smb.md.
"""

from __future__ import annotations

import errno
import functools
import io
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, TypeVar

from edge_agent.config.sources import SourceConfig
from edge_agent.errors import FileChangedError, SourceAccessError, SourceUnavailableError
from edge_agent.extras import optional_dependency
from edge_agent.sources.base import ChangeCallback, FileInfo, PathFilter
from edge_agent.sources.smb_errors import (
    ACCOUNT,
    HINT_LOGON,
    HINT_PERMISSION,
    abandon,
    connection_lost,
    status_name,
    status_of,
    unless_gone,
)
from edge_agent.sources.smb_watch import ShareWatcher, open_directory

with optional_dependency("smb"):
    import smbclient
    from smbprotocol.exceptions import (
        SMBAuthenticationError,
        SMBException,
        SMBOSError,
        SMBResponseException,
    )
    from smbprotocol.file_info import FileAttributes
    from smbprotocol.header import NtStatus
    from smbprotocol.tree import TreeConnect

log = logging.getLogger(__name__)

_T = TypeVar("_T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_READ_BUFFER_BYTES = 1024 * 1024  # one SMB READ per MiB: few round trips, bounded memory
_WATCH = "watch the folder"  # what the source is doing, for the watcher's error messages
_MAX_NAME_SUFFIX = 1000
_MAX_DEPTH = 32
_SKIP_DIR = FileAttributes.FILE_ATTRIBUTE_HIDDEN | FileAttributes.FILE_ATTRIBUTE_SYSTEM
_NOT_A_FILE = FileAttributes.FILE_ATTRIBUTE_DIRECTORY | FileAttributes.FILE_ATTRIBUTE_REPARSE_POINT


def _mtime_ns(when: datetime) -> int:
    # Directory listings carry microseconds; stat is truncated to match, so both agree.
    return (when - _EPOCH) // timedelta(microseconds=1) * 1000


class SmbSource:
    """A folder on an SMB share (``SourceConfig.smb``), read with shared access."""

    def __init__(self, config: SourceConfig, password: str) -> None:
        if config.smb is None:
            raise ValueError(f"source {config.name!r} is not an smb source")
        smb = config.smb
        self._name = config.name
        self._server = smb.server
        self._port = smb.port
        self._share_unc = rf"\\{smb.server}\{smb.share}"
        self._folder = tuple(p for p in smb.folder.split("/") if p)
        self._root_unc = "\\".join((self._share_unc, *self._folder))
        self._recursive = config.recursive
        self._filter = PathFilter(config.include, config.exclude)
        self._skip = self._archive_inside_root(config.move_to)
        self._cache: dict[str, Any] = {}  # this source's own smbclient connection cache
        self._key = f"{smb.server.lower()}:{smb.port}"
        self._lock = threading.Lock()
        self._kwargs: dict[str, Any] = {
            "username": rf"{smb.domain}\{smb.username}" if smb.domain else smb.username,
            "password": password,
            "port": smb.port,
            # True: always encrypt; None: as the server or share demands.
            "encrypt": True if smb.require_encryption else None,
            "connection_timeout": smb.connection_timeout_seconds,
            "connection_cache": self._cache,
        }

    @property
    def name(self) -> str:
        """The configured source name."""
        return self._name

    # ------------------------------------------------------------------ listing and reading

    def scan(self) -> list[FileInfo]:
        """Every matching file under the folder; directories and links are never followed twice."""
        return self._run("list the folder", self._scan)

    def _scan(self) -> list[FileInfo]:
        root = unless_gone(lambda: smbclient.stat(self._root_unc, **self._kwargs))
        if root is None:
            raise SourceAccessError(
                self._name,
                f"folder {'/'.join(self._folder)!r} not found on the share",
                "check smb.folder: the path inside the share, with / between folders",
            )
        # Samba shows links inside the share as plain folders: never enter one twice. Some
        # servers give no ids (0); the depth cap stops a loop there.
        seen = {root.st_ino} - {0}
        found: list[FileInfo] = []
        pending = [""]
        while pending:
            folder = pending.pop()
            # A subfolder removed while we list is simply empty.
            listing = functools.partial(self._list, folder, found, seen)
            pending.extend(unless_gone(listing, allowed=bool(folder)) or ())
        return found

    def _list(self, folder: str, found: list[FileInfo], seen: set[int]) -> list[str]:
        """Append ``folder``'s matching files to ``found``; return the subfolders to list."""
        subfolders = []
        with smbclient.scandir(self._unc(folder), **self._kwargs) as entries:
            for entry in entries:
                info = entry.smb_info
                path = f"{folder}/{entry.name}" if folder else entry.name
                attributes = info.file_attributes
                if attributes & FileAttributes.FILE_ATTRIBUTE_REPARSE_POINT:
                    continue  # a link or junction may lead outside the share
                if not attributes & FileAttributes.FILE_ATTRIBUTE_DIRECTORY:
                    if self._filter(path):
                        mtime_ns = _mtime_ns(info.last_write_time)
                        found.append(FileInfo(path, info.end_of_file, mtime_ns))
                elif (
                    self._recursive
                    and path != self._skip
                    and attributes & _SKIP_DIR != _SKIP_DIR
                    and info.file_id not in seen
                    and path.count("/") < _MAX_DEPTH
                ):
                    seen.update({info.file_id} - {0})
                    subfolders.append(path)
        return subfolders

    def stat(self, path: str) -> FileInfo | None:
        """The current size and mtime of one file, or None if it is gone (or not a file)."""
        unc = self._unc(path)
        call = lambda: smbclient.stat(unc, follow_symlinks=False, **self._kwargs)  # noqa: E731
        st = self._run("stat", lambda: unless_gone(call), path)
        if st is None or st.st_file_attributes & _NOT_A_FILE:
            return None
        return FileInfo(path, int(st.st_size), int(st.st_mtime_ns) // 1000 * 1000)

    def open(self, path: str) -> BinaryIO:
        """Open a file for reading without blocking its writer (share access read+write+delete).

        A handle may stop at the size the file had when opened: reopen to see appended bytes.
        Raises FileNotFoundError if the file is gone.
        """
        unc = self._unc(path)
        kwargs = {"mode": "rb", "buffering": 0, "share_access": "rwd", **self._kwargs}
        raw = self._run(
            "open", lambda: unless_gone(lambda: smbclient.open_file(unc, **kwargs)), path
        )
        if raw is None:
            raise FileNotFoundError(errno.ENOENT, "no such file on the share", path)
        return io.BufferedReader(_SmbReader(self, raw, path), buffer_size=_READ_BUFFER_BYTES)

    # ------------------------------------------------------------------ disposition

    def remove(self, path: str) -> None:
        """Delete a file; a file that is already gone is not an error."""
        unc = self._unc(path)
        call = lambda: smbclient.remove(unc, **self._kwargs)  # noqa: E731
        self._run("delete", lambda: unless_gone(call), path)

    def move(self, path: str, folder: str) -> str:
        """Move a file into ``folder`` (relative to the share root), keeping its relative path.

        Never overwrites: ``name.csv`` becomes ``name-1.csv`` (``-2``, ...) if taken. Returns the
        new path relative to the share root; FileNotFoundError if the file is gone.
        """
        source = self._unc(path)
        parts = [p for p in folder.replace("\\", "/").split("/") if p] + path.split("/")
        self._check_parts(parts)
        stem, dot, suffix = parts[-1].rpartition(".")
        if not stem:
            stem, dot, suffix = parts[-1], "", ""

        def move() -> str:
            target_dir = "\\".join((self._share_unc, *parts[:-1]))
            smbclient.makedirs(target_dir, exist_ok=True, **self._kwargs)
            for n in range(_MAX_NAME_SUFFIX):
                name = parts[-1] if n == 0 else f"{stem}-{n}{dot}{suffix}"
                try:
                    smbclient.rename(source, f"{target_dir}\\{name}", **self._kwargs)
                except SMBOSError as err:
                    if err.ntstatus != NtStatus.STATUS_OBJECT_NAME_COLLISION:
                        raise
                    continue
                return "/".join((*parts[:-1], name))
            raise SMBOSError(NtStatus.STATUS_OBJECT_NAME_COLLISION, target_dir)

        # Gone: e.g. moved by a first try whose answer was lost with the connection.
        moved = self._run("move", lambda: unless_gone(move), path)
        if moved is None:
            raise FileNotFoundError(errno.ENOENT, "no such file on the share", path)
        return moved

    def close(self) -> None:
        """Log off and close this source's connection."""
        self._drop_connection(log_off=True)

    # ------------------------------------------------------------------ change notification

    def watch(self, notify: ChangeCallback, stop: threading.Event) -> None:
        """Report changes with SMB2 CHANGE_NOTIFY until ``stop`` is set (returns within ~0.5 s).

        ``notify(path)`` for a matching file that was added, changed, renamed or removed;
        ``notify(None)`` when the server lost track (overflow), a folder appeared, or the
        connection dropped. A lost connection is re-established with capped backoff.
        """
        ShareWatcher(
            self._name,
            open_folder=lambda: self._run(_WATCH, self._open_folder),
            translate=lambda err: self._translate(err, _WATCH, None),
            wanted=self._filter,
            recursive=self._recursive,
            skip=self._skip,
        ).run(notify, stop)

    def _open_folder(self) -> Any:
        return open_directory(self._root_unc, **self._kwargs)

    # ------------------------------------------------------------------ connection and errors

    def _run(self, what: str, action: Callable[[], _T], path: str | None = None) -> _T:
        """Connect if needed and run ``action``; on a dead connection reconnect and retry once."""
        for retry in (False, True):
            try:
                self._connect()
                return action()
            except (SMBException, OSError) as err:
                if retry or not connection_lost(err):
                    raise self._translate(err, what, path) from err
                log.info("source %s: connection lost (%s); reconnecting", self._name, err)
                self._drop_connection(log_off=False)
        raise AssertionError("unreachable")

    def _connect(self) -> None:
        """Log on and connect the share, unless this source's cached connection already has."""
        with self._lock:
            connection = self._cache.get(self._key)
            if connection is not None and not connection.transport.connected:
                self._cache.pop(self._key)
            try:
                session = smbclient.register_session(self._server, **self._kwargs)
            except ValueError as err:  # smbprotocol's wording for "TCP connect failed"
                if isinstance(err.__cause__, OSError):
                    raise SourceUnavailableError(
                        self._name,
                        f"cannot connect to {self._server} port {self._port}: {err.__cause__}",
                    ) from err
                raise
            trees = session.tree_connect_table.values()
            if not any(t.share_name == self._share_unc for t in trees):
                # Connected here, not by smbclient, so a missing share is reported as such
                # instead of as a failed DFS lookup.
                tree = TreeConnect(session, self._share_unc)
                secure_negotiate = smbclient.ClientConfig().require_secure_negotiate
                try:
                    tree.connect(require_secure_negotiate=secure_negotiate)
                except SMBResponseException as err:
                    if connection_lost(err):
                        raise
                    raise self._translate(err, "connect", None) from err

    def _drop_connection(self, *, log_off: bool) -> None:
        with self._lock:
            connection = self._cache.pop(self._key, None)
        if connection is None:
            return
        try:
            connection.disconnect(close=log_off, timeout=self._kwargs["connection_timeout"])
        except (SMBException, OSError) as err:
            log.debug("source %s: disconnect failed: %s", self._name, err)
            if log_off:
                connection.disconnect(close=False)

    def _translate(self, err: BaseException, what: str, path: str | None) -> Exception:
        """Our error for an smbprotocol one: transient, a setting to fix, or one busy file."""
        name, target, status = self._name, f" {path!r}" if path else "", status_of(err)
        if status in ACCOUNT:
            reason, hint = ACCOUNT[status]
            return SourceAccessError(name, f"{reason} (user {self._kwargs['username']!r})", hint)
        if status == NtStatus.STATUS_BAD_NETWORK_NAME:
            hint = "check smb.share: the share name on the server (smbclient -L lists them)"
            return SourceAccessError(name, f"share {self._share_unc!r} not found", hint)
        if status == NtStatus.STATUS_ACCESS_DENIED:
            hint = HINT_PERMISSION
            if what == "connect":
                hint = (
                    "allow the user on the share (Windows: share permissions; Samba: valid users)"
                )
            return SourceAccessError(name, f"access denied: cannot {what}{target}", hint)
        if status == NtStatus.STATUS_SHARING_VIOLATION and path is not None:
            return FileChangedError(
                path, f"cannot {what}: in use by another program; retried later"
            )
        if status is not None:
            return SourceUnavailableError(name, f"cannot {what}{target}: {status_name(status)}")
        if isinstance(err, SMBAuthenticationError):
            return SourceAccessError(name, f"logon failed: {err}", HINT_LOGON)
        message = str(err) or type(err).__name__
        if "encryption" in message or "guest" in message:
            # "encryption is required but the connection does not support it", or the server
            # mapped an unknown user to guest, which can neither sign nor encrypt.
            hint = (
                "use SMB 3 with encryption on the server, or set smb.requireEncryption: false; "
                "a guest logon means the server does not know smb.username"
            )
            return SourceAccessError(name, message, hint)
        return SourceUnavailableError(name, f"cannot {what}{target}: {message}")

    # ------------------------------------------------------------------ paths

    def _archive_inside_root(self, move_to: str | None) -> str:
        """``moveTo`` relative to our folder when it lies inside it (it is then never scanned)."""
        parts = [p for p in (move_to or "").replace("\\", "/").split("/") if p]
        if parts and tuple(parts[: len(self._folder)]) == self._folder:
            return "/".join(parts[len(self._folder) :])
        return ""

    @staticmethod
    def _check_parts(parts: list[str]) -> None:
        if any(p in ("", ".", "..") or "\\" in p for p in parts):
            raise ValueError(f"not a relative path inside the share: {'/'.join(parts)!r}")

    def _unc(self, path: str) -> str:
        if not path:
            return self._root_unc
        parts = path.split("/")
        self._check_parts(parts)
        return "\\".join((self._root_unc, *parts))


class _SmbReader(io.RawIOBase):
    """An smbclient file handle whose errors are ours (for the reader's sake)."""

    def __init__(self, source: SmbSource, raw: Any, path: str) -> None:
        super().__init__()
        self._source = source
        self._raw = raw
        self._path = path

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            return int(self._raw.readinto(buffer))
        except (SMBException, OSError) as err:
            raise self._source._translate(err, "read", self._path) from err

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return int(self._raw.seek(offset, whence))

    def tell(self) -> int:
        return int(self._raw.tell())

    def close(self) -> None:
        if not self.closed:
            abandon(self._raw)
        super().close()
