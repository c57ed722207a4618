"""The boundary between the agent and where files live.

A source only lists, stats, reads and disposes of files; settling, file identity, the ledger and
reading rows are shared code (``edge_agent.sources.discovery``, ``edge_agent.reading``), so local
folders and SMB shares behave the same. Methods are blocking: the agent calls them in worker
threads (``asyncio.to_thread``), never on the event loop.
"""

from __future__ import annotations

import fnmatch
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol

# Called by a watcher from its own thread: a relative path that changed, or None for
# "something changed, rescan everything" (overflow, reconnect, unknown event).
ChangeCallback = Callable[[str | None], None]


@dataclass(frozen=True, slots=True)
class FileInfo:
    """A file as listed by a source: path relative to the source root with '/' separators."""

    path: str
    size: int
    mtime_ns: int


class Source(Protocol):
    """A folder or share holding CSV files."""

    @property
    def name(self) -> str:
        """The configured source name."""
        ...

    def scan(self) -> list[FileInfo]:
        """Every file under the root that matches include/exclude (recursively if configured).

        Raises SourceUnavailableError (retry soon) or SourceAccessError (retry slowly).
        """
        ...

    def stat(self, path: str) -> FileInfo | None:
        """The current size and mtime of one file, or None if it is gone."""
        ...

    def open(self, path: str) -> BinaryIO:
        """Open a file for reading with shared access (a writer may hold it open).

        The stream is seekable; a new open sees bytes appended since the last one.
        """
        ...

    def watch(self, notify: ChangeCallback, stop: threading.Event) -> None:
        """Block until ``stop`` is set, calling ``notify`` for every change seen.

        Notifications are hints only: the periodic rescan is what guarantees nothing is missed.
        """
        ...

    def remove(self, path: str) -> None:
        """Delete a file (after every batch of it was acknowledged)."""
        ...

    def move(self, path: str, folder: str) -> str:
        """Move a file into ``folder`` (relative to the source root, or absolute for local
        sources), keeping its relative path; returns where it went. Never overwrites."""
        ...

    def close(self) -> None:
        """Release connections and handles."""
        ...


class PathFilter:
    """include/exclude glob patterns on relative paths (and on their base names).

    The patterns are compiled once into one regular expression each (a listing of a folder
    that keeps a year of files calls this for every file)."""

    __slots__ = ("_exclude", "_include")

    def __init__(self, include: Sequence[str], exclude: Sequence[str] = ()) -> None:
        self._include = _compiled(include)
        self._exclude = _compiled(exclude)

    def __call__(self, path: str) -> bool:
        base = path.rsplit("/", 1)[-1]
        if base.startswith((".", "~$")):
            return False  # hidden and Office lock files are never data
        include, exclude = self._include, self._exclude
        if include is None or not (include.match(base) or include.match(path)):
            return False
        return exclude is None or not (exclude.match(base) or exclude.match(path))


def _compiled(patterns: Sequence[str]) -> re.Pattern[str] | None:
    """One expression matching any of the glob patterns (case-sensitive, as fnmatchcase)."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))
