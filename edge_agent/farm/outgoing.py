"""What the farm worker publishes: released and corrected readings, and where to find them.

A change of farm context (a site reading, a tower's state, a tray's cycle, or readings joined
while context arrived) selects the kept readings it may affect (:func:`selections`); each
reading released or corrected becomes an :class:`Out`, published in payload-sized batches per
file version (:func:`texts`, :func:`batches`) whose ids are unique and deterministic: a reading
is released once, and each correction of it has a higher revision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from edge_agent.batcher import BatchBuilder, Envelope, encode
from edge_agent.farm.chunks import Chunk, Entry
from edge_agent.farm.enrich import Joined
from edge_agent.farm.records import TowerReading
from edge_agent.farm.state import Change
from edge_agent.state.ledger import Batch

Selection = tuple[str, tuple[Any, ...], Callable[[Entry], bool]]


@dataclass(slots=True)
class Out:
    """A reading to publish in this step: released (``chunk`` None) or corrected."""

    file_ref: int
    version: int
    line: int
    reading: TowerReading
    record: dict[str, Any]
    joined: Joined
    late: bool
    revision: int
    chunk: Chunk | None = None
    entry: Entry | None = None


def selections(
    changes: Iterable[Change],
) -> list[Selection]:
    """Which kept chunks, and which of their readings, a set of changes may affect."""
    spans: dict[tuple[str, str | None, str | None], list[float]] = {}
    for change in changes:
        key = (change.kind, change.tower_id, change.key)
        span = spans.get(key)
        if span is None:
            spans[key] = [change.start, change.end]
        else:
            span[0], span[1] = min(span[0], change.start), max(span[1], change.end)
    found: list[Selection] = []
    for (kind, tower_id, target), (start, end) in spans.items():

        def within(e: Entry, start: float = start, end: float = end) -> bool:
            return start <= e.ts <= end

        if kind == "site":
            found.append(("ts_max >= ? AND ts_min <= ?", (start, end), within))
        elif kind in ("automation", "seeding"):
            found.append(
                ("tower_id = ? AND ts_max >= ? AND ts_min <= ?", (tower_id, start, end), within)
            )
        elif kind == "tray":

            def on_tray(e: Entry, start: float = start, tray: str | None = target) -> bool:
                return e.tray_id == tray and e.ts >= start

            found.append(("tower_id = ? AND ts_max >= ?", (tower_id, start), on_tray))
        elif kind == "file" and target is not None:
            file_ref, version = (int(part) for part in target.split(":"))

            def in_lines(e: Entry, first: int = int(start), last: int = int(end)) -> bool:
                return first <= e.line <= last

            found.append(
                (
                    "file_ref = ? AND version = ? AND last_line >= ? AND first_line <= ?",
                    (file_ref, version, int(start), int(end)),
                    in_lines,
                )
            )
    return found


def texts(items: list[Out]) -> list[bytes]:
    """Each reading's record as published: as read, its joins now, late (with the streams
    still pending), revision."""
    texts = []
    for item in items:
        record = dict(item.record)
        record.pop("revision", None)
        record.pop("pending", None)
        record.update(item.joined.fields)
        record["late"] = item.late
        if item.late:
            record["pending"] = list(item.joined.pending)
        if item.revision:
            record["revision"] = item.revision
        texts.append(encode(record))
    return texts


def batches(
    envelope: Envelope, items: list[Out], texts: list[bytes], max_bytes: int, ingested_at: str
) -> list[Batch]:
    """Payload-sized batches of one file's readings; each batch id is unique: a reading is
    released once, and each correction of it has a higher revision."""
    done: list[Batch] = []
    builder: BatchBuilder | None = None
    for item, text in zip(items, texts, strict=True):
        if builder is not None and not builder.fits(text):
            batch = builder.take()
            assert batch is not None
            done.append(batch)
            builder = None
        if builder is None:
            kind = f"correction:{item.revision}" if item.revision else "held"
            builder = BatchBuilder(envelope, kind, max_bytes, ingested_at)
        builder.add(text, item.line)
    if builder is not None:
        batch = builder.take()
        if batch is not None:
            done.append(batch)
    return done
