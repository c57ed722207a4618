"""The row loop of one pass: rows of one file version, from a committed offset, to batches.

Each row is read (``csvread``), typed (``datasets``), handed to the dataset's stage, and put
into a payload-sized batch; quarantined rows go to their own batches. Every few full batches
the loop commits: the batches, the quarantine entries, the file's new offset with its identity
probes, and the stage's state for the rows before that offset, in one transaction
(``OutboxWriter``). A stop, or an outbox that reached its limit, ends the loop right after a
commit; the rows after it are read again by the next pass, so nothing is lost or repeated.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from edge_agent.batcher import BatchBuilder, EncodeError, Envelope, RecordTooLargeError
from edge_agent.config.datasets import CsvConfig
from edge_agent.csvread.reader import Layout, iter_records
from edge_agent.datasets.generic import RecordBuilder, RowError
from edge_agent.identity import probes_at
from edge_agent.reading.quarantine import QuarantineLog, bounded_entry
from edge_agent.reading.stage import RecordStage
from edge_agent.sources.base import FileInfo
from edge_agent.state.ledger import Batch, FileAdvance, FileRecord, Probes
from edge_agent.state.writer import OutboxWriter

# Full batches committed together: one fsync per ~0.5 MB instead of per batch.
COMMIT_BATCHES = 4
# ...and at least this many rows: big records (tower readings with their joins) fill a batch
# with fewer rows, and a commit per 4 of them would cost 3 times the fsyncs per row.
COMMIT_ROWS = 2_000
COMMIT_BATCHES_MAX = 16  # whatever the rows: at most ~2 MB of payloads wait for one commit

ProgressCallback = Callable[[str, int, int, int], None]


@dataclass(frozen=True, slots=True)
class PassResult:
    """What one pass did. ``paused``: it stopped early because the outbox is full."""

    path: str
    published: int
    quarantined: int
    skipped: int
    batches: int
    complete: bool
    state: str
    note: str | None = None
    paused: bool = False
    warnings: tuple[str, ...] = ()
    """What the layout and typing noticed about this file (a mapped column it lacks, ...)."""


@dataclass(slots=True)
class _Counts:
    published: int = 0
    quarantined: int = 0
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class RowSink:
    """Where the loop's commits go, and what it tells the outside as it goes."""

    writer: OutboxWriter
    quarantine_log: QuarantineLog
    stop: threading.Event
    on_progress: ProgressCallback
    dataset_fp: str


class RowLoop:
    """One pass over the rows of one file version (see the module docstring)."""

    def __init__(
        self,
        *,
        sink: RowSink,
        stage: RecordStage,
        record: FileRecord,
        info: FileInfo,
        stream: BinaryIO,
        size: int,
        layout: Layout,
        builder: RecordBuilder,
        envelope: Envelope,
        csv: CsvConfig,
        max_payload_bytes: int,
        ingested_at: str,
        complete: bool,
        content_fp: str | None,
        final: bool | None = None,
    ) -> None:
        """``complete``: the file is finished (its state becomes "read"); ``final``: its last
        line counts without a line end (a complete file, or an idle growing log; default
        ``complete``)."""
        self._sink = sink
        self._stage = stage
        self._record = record
        self._info = info
        self._stream = stream
        self._size = size
        self._layout = layout
        self._builder = builder
        self._csv = csv
        self._complete = complete
        self._final = complete if final is None else final
        self._content_fp = content_fp
        self._data = BatchBuilder(envelope, "data", max_payload_bytes, ingested_at)
        qenv = dataclasses.replace(envelope, topic=envelope.topic + "/quarantine", units={})
        self._quarantine = BatchBuilder(qenv, "quarantine", max_payload_bytes, ingested_at)
        self._ready: list[Batch] = []  # full data batches not yet committed
        self._entries: list[dict[str, object]] = []  # quarantine entries not yet committed
        self._counts = _Counts()  # since the last commit
        self._total = [0, 0, 0, 0]  # published, quarantined, skipped, batches
        self._offset = 0
        self._next_line = 1  # the physical line the next bytes start (or continue)
        self._below = 1  # rows before this line are read (what the stage may commit)

    def run(self, offset: int, next_line: int) -> PassResult:
        """Read from ``offset`` (a record boundary, physical line ``next_line``) to the end."""
        self._offset, self._next_line, self._below = offset, next_line, next_line
        stage, builder, data, counts = self._stage, self._builder, self._data, self._counts
        stopped = False
        for raw in iter_records(
            self._stream,
            self._layout,
            self._csv,
            start_offset=offset,
            start_line=next_line,
            final=self._final,
            end=self._size,
        ):
            if raw.fields is None:
                self._quarantine_row(raw.line, raw.problem or "unreadable row", raw.raw)
            elif builder.skip_reason(raw) is not None:
                counts.skipped += 1
            else:
                try:
                    text = stage.take(builder.build(raw), raw.line)
                    if text is not None:
                        data.check(text)
                except (RowError, RecordTooLargeError, EncodeError) as e:
                    stage.drop(raw.line)
                    self._quarantine_row(raw.line, str(e), raw.raw)
                else:
                    if text is not None and not data.fits(text):
                        full = data.take()
                        assert full is not None
                        self._ready.append(full)
                        if self._commit_due():
                            self._flush()
                            if self._sink.stop.is_set() or self._sink.writer.full:
                                stopped = True
                                break
                    if text is not None:
                        data.add(text, raw.line)
                    counts.published += 1  # a held record is published later by its stage
            self._offset, self._below = raw.end_offset, raw.next_line
            # A last line without a line end (an idle log): the bytes that come next continue
            # that physical line, so the line after it is still to come.
            self._next_line = raw.next_line if raw.terminated else raw.next_line - 1
        complete = self._complete and not stopped
        self._flush("read" if complete else "reading")
        published, quarantined, skipped, batches = self._total
        return PassResult(
            self._info.path,
            published,
            quarantined,
            skipped,
            batches,
            complete,
            "read" if complete else "reading",
            paused=stopped and not self._sink.stop.is_set(),
        )

    def _commit_due(self) -> bool:
        ready = self._ready
        return len(ready) >= COMMIT_BATCHES_MAX or (
            len(ready) >= COMMIT_BATCHES and sum(b.rows for b in ready) >= COMMIT_ROWS
        )

    def _quarantine_row(self, line: int, reason: str, raw: str) -> None:
        entry, text = bounded_entry(line, reason, raw, self._quarantine)
        if not self._quarantine.fits(text):
            self._flush()
        self._quarantine.add(text, line)
        record = self._record
        self._entries.append(
            {
                "source": record.source,
                "path": record.path,
                "fileId": record.file_id,
                "version": record.version,
                **entry,
            }
        )
        self._counts.quarantined += 1

    def _probes(self) -> Probes:
        """The identity probes at the offset about to be committed, without disturbing the
        reader (it goes on from the stream's position, which is put back)."""
        stream = self._stream
        position = stream.tell()
        try:
            return probes_at(stream, self._offset)
        finally:
            stream.seek(position)

    def _flush(self, state: str = "reading") -> None:
        """Commit everything up to the current offset."""
        batches = [*self._ready]
        batches += [b for b in (self._data.take(), self._quarantine.take()) if b is not None]
        self._ready.clear()
        counts, record, sink = self._counts, self._record, self._sink
        below = self._below
        stage = self._stage
        advance = FileAdvance(
            offset=self._offset,
            next_line=self._next_line,
            state=state,
            size=self._size,
            mtime_ns=self._info.mtime_ns,
            published=counts.published,
            quarantined=counts.quarantined,
            skipped=counts.skipped,
            batches=len(batches),
            probes=self._probes(),
            # Only a wholly read file can make a later copy count as a duplicate.
            content_fp=self._content_fp if state == "read" else None,
            dataset_fp=sink.dataset_fp,
        )

        def writes(conn: sqlite3.Connection) -> None:
            stage.write(conn, below)

        sink.quarantine_log.write(self._entries)
        sink.writer.commit(
            [(batch, record.id) for batch in batches],
            advance=(record.id, advance),
            writes=writes,
        )
        stage.committed(below)
        total = self._total
        total[0] += counts.published
        total[1] += counts.quarantined
        total[2] += counts.skipped
        total[3] += len(batches)
        rows = counts.published + counts.quarantined + counts.skipped
        self._entries.clear()
        counts.published = counts.quarantined = counts.skipped = 0
        sink.on_progress(record.path, self._offset, self._size, rows)
