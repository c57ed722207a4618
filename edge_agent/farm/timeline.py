"""Time-indexed context: as-of lookups on a stream of rows, and growth-cycle intervals per tray.

Both are versioned tables in the sense of a temporal join (notes/cea-domain.md): rows are kept
by event time whatever order they arrive in, so a late or out-of-order file lands in its place
and later lookups see it.
"""

from __future__ import annotations

import math
from bisect import bisect_right, insort
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

_KEY = itemgetter(0)
DAY = 86_400.0


class Timeline:
    """Rows of one stream (the site station, one tower's automation) in event-time order."""

    __slots__ = ("_rows", "watermark")

    def __init__(self) -> None:
        self._rows: list[tuple[float, Any]] = []
        self.watermark = -math.inf  # the latest event time seen

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, ts: float, row: Any) -> bool:
        """Insert a row; a row at the same time replaces the one there (a file read again).
        Whether the row is new."""
        rows = self._rows
        i = bisect_right(rows, ts, key=_KEY)
        if i and rows[i - 1][0] == ts:
            rows[i - 1] = (ts, row)
            return False
        insort(rows, (ts, row), key=_KEY)
        self.watermark = max(self.watermark, ts)
        return True

    def at_or_before(self, ts: float) -> tuple[float, Any] | None:
        """The latest row at or before ``ts``."""
        i = bisect_right(self._rows, ts, key=_KEY)
        return self._rows[i - 1] if i else None

    def segment(self, ts: float) -> tuple[float, float, tuple[float, Any] | None]:
        """The row in force at ``ts`` (as :meth:`at_or_before`) and the span it is in force
        for, [its time, the next row's time): readings in the same span join the same row."""
        rows = self._rows
        i = bisect_right(rows, ts, key=_KEY)
        high = rows[i][0] if i < len(rows) else math.inf
        if not i:
            return -math.inf, high, None
        return rows[i - 1][0], high, rows[i - 1]

    def next_after(self, ts: float) -> float | None:
        """The time of the first row after ``ts``, if any."""
        i = bisect_right(self._rows, ts, key=_KEY)
        return self._rows[i][0] if i < len(self._rows) else None

    def prune(self, before: float) -> None:
        """Forget rows older than ``before``, keeping the one in force at ``before``."""
        i = bisect_right(self._rows, before, key=_KEY)
        if i > 1:
            del self._rows[: i - 1]


@dataclass(frozen=True, slots=True)
class Cycle:
    """A growth cycle on one tray: [seeded_at, harvested_at)."""

    grow_id: str
    seeded_at: float
    key: str = ""  # "growId|seededAt": what a reading's tag is compared by

    def day(self, ts: float) -> int:
        """Whole days since seeding (0 on the seeding day)."""
        return math.floor((ts - self.seeded_at) / DAY)


def mint_grow_id(tower_id: str, tray_id: str, seeded_at: float) -> str:
    """A stable Grow ID for a cycle the seeding station did not name: the same tray and seeding
    time always give the same ID, on every gateway and after every restart."""
    stamp = datetime.fromtimestamp(seeded_at, UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"auto-{tower_id}-{tray_id}-{stamp}"


class TrayCycles:
    """The seeding events of one tray; the cycle in force at a time is an interval lookup.

    A ``seeded`` event opens a cycle that lasts until the next event of the tray (normally its
    ``harvested``, or the next ``seeded`` when a harvest was never reported).
    """

    __slots__ = ("_events",)

    def __init__(self) -> None:
        # ts, event, the cycle a "seeded" event opens (None for "harvested")
        self._events: list[tuple[float, str, Cycle | None]] = []

    def add(self, ts: float, event: str, grow_id: str | None, tower_id: str, tray_id: str) -> bool:
        """Record an event (the same event at the same time again replaces it); whether the
        event is new."""
        cycle = None
        if event == "seeded":
            name = grow_id or mint_grow_id(tower_id, tray_id, ts)
            cycle = Cycle(name, ts, f"{name}|{ts:.0f}")
        events = self._events
        i = bisect_right(events, ts, key=_KEY)
        j = i
        while j > 0 and events[j - 1][0] == ts:
            if events[j - 1][1] == event:
                events[j - 1] = (ts, event, cycle)
                return False
            j -= 1
        events.insert(i, (ts, event, cycle))
        return True

    def at(self, ts: float) -> Cycle | None:
        """The cycle whose [seededAt, harvestedAt) contains ``ts``, or None."""
        i = bisect_right(self._events, ts, key=_KEY)
        return self._events[i - 1][2] if i else None

    def segment(self, ts: float) -> tuple[float, float, Cycle | None]:
        """The cycle at ``ts`` (as :meth:`at`) and the span of time it holds for, [the event
        that opened or closed it, the next event)."""
        events = self._events
        i = bisect_right(events, ts, key=_KEY)
        high = events[i][0] if i < len(events) else math.inf
        if not i:
            return -math.inf, high, None
        return events[i - 1][0], high, events[i - 1][2]

    def prune(self, before: float) -> None:
        """Forget events older than ``before``, keeping the one in force at ``before``."""
        i = bisect_right(self._events, before, key=_KEY)
        if i > 1:
            del self._events[: i - 1]
