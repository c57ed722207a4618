"""When is a file ready for a reading pass? Shared by every kind of source.

A file needs reading when the ledger has not seen it at its current size and mtime (or asks for
it to be read again). A complete file (``mode: complete``) must also have kept that size and
mtime for ``settleSeconds``, as observed by us (its mtime may be old: a file copied in keeps its
original time). A growing log (``mode: append``) is read at most once per ``lingerSeconds``
from its first unread change; the reader stops at its last full line, and a last line without
a line end is read once the log has been idle for ``idleSeconds``.

The cost of a wake is proportional to what changed, not to how many files exist: files waiting
to settle are in a heap by deadline; the ledger is looked up by path for the files a listing
shows new or changed (the runner does that in a thread: :meth:`Settler.unknown` /
:meth:`Settler.learn`), never held whole. A file at rest (read, and unchanged since) is kept as
one integer of its size and mtime: a gateway keeping a year of files holds little per file.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from edge_agent.sources.base import FileInfo


@dataclass(frozen=True, slots=True)
class Known:
    """What the ledger holds of a file after its last pass.

    ``tail``: a growing log's last line had no line end yet (its bytes are not read).
    ``again``: read it again whatever its size (a new configuration after a failure, or
    ``edge-agent reingest``).
    """

    size: int
    mtime_ns: int
    state: str
    tail: bool = False
    again: bool = False


# Ledger states after which a file at the same size and mtime needs nothing more.
AT_REST = frozenset({"read", "failed", "disposed", "duplicate"})


class _Unknown:
    """The ledger has not been asked about this file yet."""


UNKNOWN = _Unknown()


@dataclass(slots=True)
class _Seen:
    size: int
    mtime_ns: int
    changed_at: float  # when the unread change began (a log lingers from it)
    last_change: float  # the latest change seen (a log's idle time counts from it)
    known: Known | _Unknown | None
    deadline: float | None = None  # in the heap until then (None: nothing to do)


@dataclass(frozen=True, slots=True)
class Reconciled:
    """What a full listing found different from what was observed before."""

    changed: list[str]  # new, or a different size or mtime
    gone: list[str]


def _rest_key(size: int, mtime_ns: int) -> int:
    """A file at rest as one integer (size and mtime together)."""
    return (size << 64) | (mtime_ns & 0xFFFF_FFFF_FFFF_FFFF)


class Settler:
    """Tracks observations of one source's files and says which are ready to read."""

    def __init__(
        self,
        settle_seconds: float,
        *,
        append: bool,
        linger_seconds: float = 0.0,
        idle_seconds: float | None = None,
    ) -> None:
        """``idle_seconds``: a growing log whose last line has no line end yet is read whole
        once it has not changed for that long (None: never)."""
        # A growing log waits ``linger_seconds`` from its first change after a pass (not from
        # its last: it may never stop changing); a complete file settles as it stops changing.
        self.settle_seconds = linger_seconds if append else settle_seconds
        self.idle_seconds = idle_seconds
        self._append = append
        self._seen: dict[str, _Seen] = {}  # files that may need something
        self._rest: dict[str, int] = {}  # files at rest: path -> _rest_key(size, mtime)
        self._busy: set[str] = set()
        self._heap: list[tuple[float, str]] = []
        self._due: set[str] = set()
        self._unknown: set[str] = set()

    # ------------------------------------------------------------------ what a file needs

    def _wants(self, seen: _Seen) -> float | None:
        """When ``seen`` is to be read (its deadline), or None when it needs nothing."""
        known = seen.known
        if isinstance(known, _Unknown):
            return None  # asked first (see unknown/learn)
        unchanged = known is not None and (known.size, known.mtime_ns) == (
            seen.size,
            seen.mtime_ns,
        )
        if known is not None and unchanged and not known.again:
            if known.state in AT_REST:
                return None
            if self._append:
                # Nothing new in a log; a last line without a line end once it is idle.
                if known.tail and self.idle_seconds is not None:
                    return seen.last_change + self.idle_seconds
                return None
            # "reading" at the same size: a complete file's pass was interrupted.
        return seen.changed_at + self.settle_seconds

    def _schedule(self, path: str, seen: _Seen) -> None:
        if self._at_rest(path, seen):
            # Read and unchanged: nothing to do until it changes; kept as one integer.
            del self._seen[path]
            self._due.discard(path)
            self._rest[path] = _rest_key(seen.size, seen.mtime_ns)
            return
        deadline = None if path in self._busy else self._wants(seen)
        if deadline != seen.deadline:
            seen.deadline = deadline
            self._due.discard(path)
            if deadline is not None:
                heapq.heappush(self._heap, (deadline, path))

    def _at_rest(self, path: str, seen: _Seen) -> bool:
        known = seen.known
        return (
            isinstance(known, Known)
            and known.state in AT_REST
            and not known.again
            and not known.tail
            and path not in self._busy
            and (known.size, known.mtime_ns) == (seen.size, seen.mtime_ns)
        )

    def is_idle(self, path: str, now: float) -> bool:
        """A growing log unchanged for ``idleSeconds``: its last line is complete as it is."""
        seen = self._seen.get(path)
        return (
            self._append
            and self.idle_seconds is not None
            and seen is not None
            and now - seen.last_change >= self.idle_seconds
        )

    # ------------------------------------------------------------------ observations

    def observe(self, info: FileInfo, now: float) -> bool:
        """Record a fresh stat of a file; True when it is new or changed since the last one."""
        seen = self._seen.get(info.path)
        if seen is None:
            rest = self._rest.get(info.path)
            if rest is not None:
                if rest == _rest_key(info.size, info.mtime_ns):
                    return False
                # Changed since it was read: what the ledger holds is the old size and mtime.
                del self._rest[info.path]
                old = Known(rest >> 64, rest & 0xFFFF_FFFF_FFFF_FFFF, "read")
                seen = _Seen(info.size, info.mtime_ns, now, now, old)
                self._seen[info.path] = seen
                self._schedule(info.path, seen)
                return True
            seen = _Seen(info.size, info.mtime_ns, now, now, UNKNOWN)
            self._seen[info.path] = seen
            self._unknown.add(info.path)
            return True
        if (seen.size, seen.mtime_ns) == (info.size, info.mtime_ns):
            return False
        lingering = (
            self._append
            and info.path not in self._busy
            and seen.deadline is not None
            and not isinstance(seen.known, _Unknown)
            and self._wants(seen) is not None
        )
        seen.size, seen.mtime_ns, seen.last_change = info.size, info.mtime_ns, now
        if not lingering:  # a log still unread since its first change keeps lingering from it
            seen.changed_at = now
        if not isinstance(seen.known, _Unknown):
            self._schedule(info.path, seen)
        return True

    def unknown(self) -> list[str]:
        """Files observed whose ledger entry is not known yet (the caller looks them up and
        calls ``learn``); each is returned once."""
        paths, self._unknown = sorted(self._unknown), set()
        return [p for p in paths if p in self._seen]

    def ask_again(self, path: str) -> None:
        """Look the file up in the ledger again (its row changed outside a pass)."""
        rest = self._rest.pop(path, None)
        if rest is not None:
            self._seen[path] = _Seen(rest >> 64, rest & 0xFFFF_FFFF_FFFF_FFFF, 0.0, 0.0, UNKNOWN)
        seen = self._seen.get(path)
        if seen is not None and path not in self._busy:
            seen.known = UNKNOWN
            seen.deadline = None
            self._due.discard(path)
            self._unknown.add(path)

    def learn(self, path: str, known: Known | None) -> None:
        """What the ledger holds of a file (None: nothing, it is new)."""
        seen = self._seen.get(path)
        if seen is None:
            return
        seen.known = known
        self._schedule(path, seen)

    def reconcile(self, listing: list[FileInfo], now: float) -> Reconciled:
        """A full listing: observe every file, forget the ones that are gone; what differed."""
        present = {info.path for info in listing}
        gone = [path for path in self._seen if path not in present]
        gone += [path for path in self._rest if path not in present]
        for path in gone:
            self.forget(path)
        changed = [info.path for info in listing if self.observe(info, now)]
        return Reconciled(changed, gone)

    def forget(self, path: str) -> None:
        """A file vanished."""
        self._seen.pop(path, None)
        self._rest.pop(path, None)
        self._due.discard(path)
        self._unknown.discard(path)

    def present(self, path: str) -> bool:
        """Whether the last observations show this file."""
        return path in self._seen or path in self._rest

    # ------------------------------------------------------------------ handing out

    def due(self, now: float) -> list[str]:
        """Files whose settle time is up: stat them again before calling them ready."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, path = heapq.heappop(heap)
            seen = self._seen.get(path)
            if seen is not None and seen.deadline == deadline and path not in self._busy:
                self._due.add(path)
        return sorted(self._due)

    def ready(self, now: float) -> list[FileInfo]:
        """Files to read now, in the order they were written, each handed out once until ``done``.

        Oldest mtime first, so data arrives in time order; on equal mtimes (Windows copies keep
        the original's), the shorter name first: of ``x.csv`` and ``x - Copy.csv`` the original
        is read and the copy is then recognised as one."""
        out: list[FileInfo] = []
        for path in self._due:
            seen = self._seen.get(path)
            if seen is None or seen.deadline is None or seen.deadline > now:
                continue  # changed since it was due: waits again (its new deadline is queued)
            out.append(FileInfo(path, seen.size, seen.mtime_ns))
        self._due.clear()
        out.sort(key=lambda info: (info.mtime_ns, len(info.path), info.path))
        for info in out:
            self._busy.add(info.path)
            self._seen[info.path].deadline = None
        return out

    def next_deadline(self) -> float | None:
        """The earliest time a waiting file may become ready."""
        heap = self._heap
        while heap:
            deadline, path = heap[0]
            seen = self._seen.get(path)
            if seen is not None and seen.deadline == deadline and path not in self._busy:
                return deadline
            heapq.heappop(heap)  # stale: the file changed, was handed out, or vanished
        return None

    def done(self, path: str, known: Known | None) -> None:
        """A pass over ``path`` ended; ``known`` is what the ledger now holds (None: the pass
        did not finish, the file is handed out again when due)."""
        self._busy.discard(path)
        seen = self._seen.get(path)
        if seen is None:
            return
        if known is not None:
            seen.known = known
        seen.deadline = None
        self._schedule(path, seen)

    @property
    def busy(self) -> frozenset[str]:
        """Files handed out and not yet done."""
        return frozenset(self._busy)

    @property
    def seen(self) -> int:
        """How many files the last observations show."""
        return len(self._seen) + len(self._rest)
