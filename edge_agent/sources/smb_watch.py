"""SMB2 CHANGE_NOTIFY on an SMB source's folder: what ``SmbSource.watch`` runs in its thread.

The folder is opened with shared access and a FileSystemWatcher request is kept pending on it,
re-armed after every answer (notes/infra.md: Samba reports appends only under ATTRIBUTES, the
filter is fixed by the first request on a handle, an empty answer is an overflow). A lost
connection is re-established with capped backoff; the runner rescans after any gap.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from edge_agent.backoff import Backoff
from edge_agent.errors import SourceAccessError, SourceUnavailableError
from edge_agent.extras import optional_dependency
from edge_agent.sources.base import ChangeCallback, PathFilter
from edge_agent.sources.smb_errors import abandon

with optional_dependency("smb"):
    # Private API (smbclient._io): the public smbclient has no directory handle to watch on;
    # pyproject caps smbprotocol below the next minor version for it.
    from smbclient._io import SMBDirectoryIO
    from smbprotocol.change_notify import (
        ChangeNotifyFlags,
        CompletionFilter,
        FileAction,
        FileSystemWatcher,
    )
    from smbprotocol.exceptions import SMBException

log = logging.getLogger("edge_agent.sources.smb")

_STOP_CHECK_SECONDS = 0.5  # a pending CHANGE_NOTIFY cannot wait on `stop` as well
_BACKOFF_MIN_SECONDS = 1.0
_BACKOFF_MAX_SECONDS = 60.0
_NOTIFY_FILTER = (
    CompletionFilter.FILE_NOTIFY_CHANGE_FILE_NAME
    | CompletionFilter.FILE_NOTIFY_CHANGE_DIR_NAME
    # Samba reports appends made on the server only under ATTRIBUTES (notes/infra.md).
    | CompletionFilter.FILE_NOTIFY_CHANGE_ATTRIBUTES
    | CompletionFilter.FILE_NOTIFY_CHANGE_SIZE
    | CompletionFilter.FILE_NOTIFY_CHANGE_LAST_WRITE
)
_ADDED = (FileAction.FILE_ACTION_ADDED, FileAction.FILE_ACTION_RENAMED_NEW_NAME)


def open_directory(unc: str, **kwargs: Any) -> Any:
    """A handle on the folder ``unc`` that CHANGE_NOTIFY requests can be sent on."""
    folder = SMBDirectoryIO(unc, share_access="rwd", **kwargs)
    folder.open()
    return folder


class ShareWatcher:
    """Reports the changes under one SMB folder until stopped.

    ``open_folder()`` opens the watched folder (connecting as needed) and raises the source's
    own errors; ``translate(err)`` maps an smbprotocol error raised while watching to them.
    """

    def __init__(
        self,
        source: str,
        *,
        open_folder: Callable[[], Any],
        translate: Callable[[BaseException], Exception],
        wanted: PathFilter,
        recursive: bool,
        skip: str,
    ) -> None:
        self._name = source
        self._open_folder = open_folder
        self._translate = translate
        self._wanted = wanted
        self._recursive = recursive
        self._skip = skip  # a folder inside the watched one whose changes are not ours (moveTo)

    def run(self, notify: ChangeCallback, stop: threading.Event) -> None:
        """Watch until ``stop`` is set (returns within ~0.5 s); see ``SmbSource.watch``."""
        backoff = Backoff(_BACKOFF_MIN_SECONDS, _BACKOFF_MAX_SECONDS)
        lost = False
        while not stop.is_set():
            try:
                folder = self._open_folder()
                try:
                    if lost:
                        log.info("source %s: watching the share again", self._name)
                        notify(None)  # changes made while we were away
                    lost = False
                    backoff.reset()
                    self._notify_until_stopped(folder, notify, stop)
                finally:
                    abandon(folder)
            except (SourceUnavailableError, SourceAccessError) as err:
                if stop.is_set():
                    return  # the agent is stopping and closed the session under us
                delay = backoff.next_delay()
                log.warning(
                    "source %s: change notification interrupted (%s); retrying in %.0f s",
                    self._name,
                    err,
                    delay,
                )
            else:
                return
            lost = True
            notify(None)
            if stop.wait(delay):
                return

    def _notify_until_stopped(
        self, folder: Any, notify: ChangeCallback, stop: threading.Event
    ) -> None:
        flags = ChangeNotifyFlags.SMB2_WATCH_TREE if self._recursive else 0
        armed = False
        while not stop.is_set():
            watcher = FileSystemWatcher(folder.fd)
            try:
                watcher.start(_NOTIFY_FILTER, flags=flags)
            except (SMBException, OSError) as err:
                raise self._translate(err) from err
            if not armed:
                # Changes between the last listing and this first request have no event: one
                # more listing now that nothing can slip through.
                armed = True
                notify(None)
            while not watcher.response_event.wait(_STOP_CHECK_SECONDS):
                if stop.is_set():
                    with contextlib.suppress(SMBException, OSError):
                        watcher.cancel()  # the server answers STATUS_CANCELLED
                    return
            try:
                changes = watcher.result
            except (SMBException, OSError) as err:
                raise self._translate(err) from err
            if changes is None:  # the request ended without an answer: connection lost
                # Private attribute: the error that ended the request, when there was one.
                reason = getattr(watcher, "_t_exc", None) or "no response"
                raise SourceUnavailableError(self._name, f"change notification ended: {reason}")
            if not changes:
                notify(None)  # overflow (STATUS_NOTIFY_ENUM_DIR): rescan
            for change in changes:
                self._report(change, notify)

    def _report(self, change: Any, notify: ChangeCallback) -> None:
        path = str(change["file_name"].get_value()).replace("\\", "/")
        if self._skip and (path == self._skip or path.startswith(self._skip + "/")):
            return
        if self._wanted(path):
            notify(path)
        elif self._recursive and change["action"].get_value() in _ADDED:
            notify(None)  # maybe a folder moved in, whose files get no events of their own
