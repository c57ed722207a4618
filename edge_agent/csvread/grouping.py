"""Records made of several lines: a time line, then the value line(s) that belong to it.

Some loggers write the time of a reading on a line of its own and the values on the lines
after it. The reader groups them into one record (the time line's fields first, then the value
lines' fields in order), so that the ledger only ever commits whole readings: a resumed pass
starts at a time line, never among the values of one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from edge_agent.csvread.records import RawRecord


def group_records(
    records: Iterator[RawRecord], pattern: str, *, final: bool, max_bytes: int
) -> Iterator[RawRecord]:
    """Merge each record matching ``pattern`` with the records after it up to the next match.

    The last group is yielded only when the file is complete (``final``): in a growing file
    more value lines may follow, and a later pass reads the group whole. Lines before the
    first match cannot be given a time: each is yielded as a record with a problem.
    """
    start = re.compile(pattern)
    group: list[RawRecord] = []
    size = 0
    for record in records:
        if record.fields is not None and start.search(record.raw):
            if group:
                yield _merge(group)
            group, size = [record], 0
        elif not group:
            yield _orphan(record)
            continue
        else:
            group.append(record)
        size += record.end_offset - record.start_offset
        if size > max_bytes:
            merged = _merge(group)
            merged.fields = None
            merged.problem = (
                f"a record (recordStartPattern) longer than maxLineBytes ({max_bytes}) bytes"
            )
            yield merged
            group, size = [], 0
    if group and final:
        yield _merge(group)


def _merge(group: list[RawRecord]) -> RawRecord:
    first, last = group[0], group[-1]
    fields: list[str] | None = []
    problem = None
    lines: list[str] = []
    for record in group:
        lines.extend(record.lines)
        if record.fields is None:
            problem = problem or record.problem
        elif fields is not None and not record.blank:
            fields.extend(record.fields)
    if problem is not None:
        fields = None
    return type(first)(
        first.line,
        last.next_line,
        last.end_offset,
        fields,
        problem,
        lines,
        first.start_offset,
        last.terminated,
    )


def _orphan(record: RawRecord) -> RawRecord:
    if record.fields is None or record.blank:
        return record
    return type(record)(
        record.line,
        record.next_line,
        record.end_offset,
        None,
        "a value line before any line that matches csv.recordStartPattern (its time is unknown)",
        record.lines,
        record.start_offset,
        record.terminated,
    )
