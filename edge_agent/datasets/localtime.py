"""The hour that repeats when daylight saving time ends, read from the rows around it.

``02:30`` on the last Sunday of October occurs twice in Europe/Berlin. A row alone cannot say
which; the rows around it can: in a file written oldest-first, the local times of the repeated
hour run forward, jump back once, and run forward again. The rows before that one jump are the
first reading (summer time), the rows after it the second. Newest-first files mirror this.

The run of rows inside the repeated hour is read from the file itself (``Layout.stream``), a
bounded window around the row, so the answer does not depend on where a pass started: a pass
resumed in the middle of the repeat reads it exactly as a whole pass. When the run has no jump
(the hour was written once: merged, or half of it lost), more than one, or does not fit the
window, the row cannot be read with certainty and the caller flags or quarantines it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta

from edge_agent.config.datasets import CsvConfig
from edge_agent.csvread.layout import Layout
from edge_agent.csvread.lines import iter_lines, newline_unit
from edge_agent.csvread.reader import iter_records
from edge_agent.csvread.records import RawRecord

WINDOW = 1024 * 1024  # bytes read before and after a row in the repeat (1 Hz rows: ~5 hours)
_NEAR = timedelta(hours=6)  # local times further apart are another day's change


class RepeatResolver:
    """Which reading (0: first, 1: second) a row inside a repeated hour stands for."""

    def __init__(
        self,
        layout: Layout,
        options: CsvConfig,
        local_of: Callable[[list[str]], datetime | None],
        repeats: Callable[[datetime], bool],
        *,
        descending: bool,
    ) -> None:
        self._layout = layout
        self._options = options
        self._local_of = local_of
        self._repeats = repeats
        self._descending = descending
        self._known: dict[int, int | None] = {}  # record start offset -> reading (None: unsure)

    def reading(self, raw: RawRecord, local: datetime) -> int | None:
        """0 or 1 (``AmbiguousTimeError.readings`` index) if the rows around tell, else None."""
        if raw.start_offset in self._known:
            return self._known[raw.start_offset]
        if self._layout.stream is None or raw.start_offset < 0:
            return None
        rows = self._scan(raw.start_offset)
        here = next((i for i, (start, _) in enumerate(rows) if start == raw.start_offset), None)
        if here is None:
            return None

        def inside(i: int) -> bool:
            other = rows[i][1]
            return other is not None and abs(other - local) < _NEAR and self._repeats(other)

        first = last = here
        while first > 0 and inside(first - 1):
            first -= 1
        while last + 1 < len(rows) and inside(last + 1):
            last += 1
        run = [rows[i] for i in range(first, last + 1)]
        answer: list[int | None] = [None] * len(run)
        times = [t for _, t in run if t is not None]
        sign = -1 if self._descending else 1
        steps = [sign * (b - a).total_seconds() for a, b in itertools.pairwise(times)]
        jumps = [p for p, step in enumerate(steps) if step < 0]
        if not jumps:
            # The same local time twice in a row, and nothing else going back: hourly rows
            # write the repeat as "01:00, 01:00". (With a jump back too, such a pair is a
            # reading written twice and stays in its pass.)
            jumps = [p for p, step in enumerate(steps) if step == 0]
        # One jump back (forward, newest-first) splits the run into its two readings, even if
        # the run goes on beyond the window (a growing file): rows after a second jump would
        # make it unsure again. No jump: unsure, whether or not the run is seen whole.
        if len(jumps) == 1:
            before_first, before_second = (1, 0) if self._descending else (0, 1)
            answer = [before_first if p <= jumps[0] else before_second for p in range(len(run))]
        for (start, _), value in zip(run, answer, strict=True):
            self._known[start] = value
        return self._known.get(raw.start_offset)

    def _scan(self, start: int) -> list[tuple[int, datetime | None]]:
        """(start offset, local time) of the rows in a window around ``start``."""
        layout = self._layout
        stream = layout.stream
        assert stream is not None
        position = stream.tell()
        try:
            begin = max(layout.data_offset, start - WINDOW)
            if begin > layout.data_offset:
                begin = self._next_line_start(begin)
            rows = []
            for record in iter_records(
                stream,
                layout,
                self._options,
                start_offset=begin,
                start_line=1,
                final=False,
                end=start + WINDOW,
            ):
                local = self._local_of(record.fields) if record.fields is not None else None
                rows.append((record.start_offset, local))
            return rows
        finally:
            stream.seek(position)

    def _next_line_start(self, offset: int) -> int:
        layout = self._layout
        assert layout.stream is not None
        unit = newline_unit(layout.encoding.codec)
        offset -= (offset - layout.encoding.bom_length) % len(unit)
        for line in iter_lines(
            layout.stream, offset, newline=unit, max_line_bytes=self._options.max_line_bytes
        ):
            return line.end_offset
        return offset
