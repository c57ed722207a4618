"""When is a file ready for a reading pass? Shared by every kind of source.

A file needs reading when the ledger has not seen it at its current size and mtime. A complete
file (``mode: complete``) must also have kept that size and mtime for ``settleSeconds``, as
observed by us (its mtime may be old: a file copied in keeps its original time). A growing log
(``mode: append``) is ready as soon as it changed; the reader stops at its last full line.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.sources.base import FileInfo


@dataclass(slots=True)
class _Seen:
    size: int
    mtime_ns: int
    changed_at: float


@dataclass(frozen=True, slots=True)
class Known:
    """What the ledger holds of a file after its last pass."""

    size: int
    mtime_ns: int
    state: str


# Ledger states after which a file at the same size and mtime needs nothing more.
_AT_REST = frozenset({"read", "failed", "disposed", "duplicate"})


class Settler:
    """Tracks observations of one source's files and says which are ready to read."""

    def __init__(
        self,
        settle_seconds: float,
        *,
        append: bool,
        known: dict[str, Known],
        linger_seconds: float = 0.0,
    ) -> None:
        # A growing log waits ``linger_seconds`` from its first change after a pass (not from
        # its last: it may never stop changing); a complete file settles as it stops changing.
        self.settle_seconds = linger_seconds if append else settle_seconds
        self._append = append
        self._known = dict(known)
        self._seen: dict[str, _Seen] = {}
        self._busy: set[str] = set()

    def needs_reading(self, info: FileInfo) -> bool:
        """Has this file changed since the ledger last recorded it?"""
        known = self._known.get(info.path)
        if known is None:
            return True
        if (known.size, known.mtime_ns) != (info.size, info.mtime_ns):
            return True
        if known.state in _AT_REST:
            return False
        # "reading" at the same size: a growing log has nothing new; a complete file's pass
        # was interrupted (shutdown, error) and must go on.
        return not (known.state == "reading" and self._append)

    def observe(self, info: FileInfo, now: float) -> None:
        """Record a fresh stat of a file."""
        seen = self._seen.get(info.path)
        if seen is None or (seen.size, seen.mtime_ns) != (info.size, info.mtime_ns):
            since = now
            if (
                self._append
                and seen is not None
                and info.path not in self._busy
                and self.needs_reading(FileInfo(info.path, seen.size, seen.mtime_ns))
            ):
                since = seen.changed_at  # still unread since that change: keep lingering from it
            self._seen[info.path] = _Seen(info.size, info.mtime_ns, since)

    def reconcile(self, listing: list[FileInfo], now: float) -> None:
        """A full listing: observe every file, forget the ones that are gone."""
        present = {info.path for info in listing}
        for path in list(self._seen):
            if path not in present:
                del self._seen[path]
        for info in listing:
            self.observe(info, now)

    def forget(self, path: str) -> None:
        """A file vanished."""
        self._seen.pop(path, None)

    def ready(self, now: float) -> list[FileInfo]:
        """Files to read now, in the order they were written, each handed out once until ``done``.

        Oldest mtime first, so data arrives in time order; on equal mtimes (Windows copies keep
        the original's), the shorter name first: of ``x.csv`` and ``x - Copy.csv`` the original
        is read and the copy is then recognised as one."""
        out: list[tuple[float, FileInfo]] = []
        for path, seen in self._seen.items():
            if path in self._busy:
                continue
            info = FileInfo(path, seen.size, seen.mtime_ns)
            if not self.needs_reading(info):
                continue
            if now - seen.changed_at >= self.settle_seconds:
                out.append((seen.changed_at, info))
        out.sort(key=lambda item: (item[1].mtime_ns, len(item[1].path), item[1].path))
        for _, info in out:
            self._busy.add(info.path)
        return [info for _, info in out]

    def to_confirm(self, now: float) -> list[str]:
        """Files whose settle time is up: stat them again before calling them ready."""
        return [
            path
            for path, seen in self._seen.items()
            if path not in self._busy
            and now - seen.changed_at >= self.settle_seconds
            and self.needs_reading(FileInfo(path, seen.size, seen.mtime_ns))
        ]

    def next_deadline(self) -> float | None:
        """The earliest time a waiting file may become settled."""
        times = [
            seen.changed_at + self.settle_seconds
            for path, seen in self._seen.items()
            if path not in self._busy
            and self.needs_reading(FileInfo(path, seen.size, seen.mtime_ns))
        ]
        return min(times) if times else None

    def done(self, path: str, known: Known | None) -> None:
        """A pass over ``path`` ended; ``known`` is what the ledger now holds (None: retry)."""
        self._busy.discard(path)
        if known is not None:
            self._known[path] = known

    @property
    def busy(self) -> frozenset[str]:
        """Files handed out and not yet done."""
        return frozenset(self._busy)
