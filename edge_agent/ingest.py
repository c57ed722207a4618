"""One reading pass over one file: from its committed offset to the end of its data, to the outbox.

Runs in a worker thread (blocking reads and SQLite). Each time a payload fills up, its batch,
the quarantine entries met so far and the new offset are committed in one transaction, so a
crash at any moment loses nothing and re-reads nothing that was committed.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from edge_agent.batcher import (
    BatchBuilder,
    EncodeError,
    Envelope,
    RecordTooLargeError,
    encode,
    utc_millis,
)
from edge_agent.config.datasets import DatasetConfig
from edge_agent.config.sources import SourceConfig
from edge_agent.config.topics import TopicTemplate
from edge_agent.csvread.reader import FileFormatError, Layout, iter_records, read_layout
from edge_agent.datasets.generic import RecordBuilder, RowError
from edge_agent.errors import StorageFullError
from edge_agent.farm.hooks import PassHook
from edge_agent.farm.service import Farm
from edge_agent.identity import changed_in_place, content_fingerprint, probes_at
from edge_agent.quarantine import QuarantineLog
from edge_agent.sources.base import FileInfo, Source
from edge_agent.state.ledger import Batch, FileRecord, Ledger, Probes
from edge_agent.state.outbox import OutboxGauge

log = logging.getLogger("edge_agent.ingest")

# Full batches committed together: one fsync per ~0.5 MB instead of per batch.
COMMIT_BATCHES = 4
# ...and at least this many rows: big records (tower readings with their joins) fill a batch
# with fewer rows, and a commit per 4 of them would cost 3 times the fsyncs per row.
COMMIT_ROWS = 2_000
COMMIT_BATCHES_MAX = 16  # whatever the rows: at most ~2 MB of payloads wait for one commit


@dataclass(frozen=True, slots=True)
class PassResult:
    """What one pass did."""

    path: str
    published: int
    quarantined: int
    skipped: int
    batches: int
    complete: bool
    state: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class IngestSettings:
    """Everything a pass needs that does not change from file to file."""

    thing_name: str
    source: SourceConfig
    dataset_name: str
    dataset: DatasetConfig
    max_payload_bytes: int
    state_dir: Path
    min_free_disk_bytes: int


# A quarantine entry names the problem and shows the row; a huge bad value or line must not
# make a payload IoT Core refuses (the reason quotes the value, the raw text is the line).
MAX_REASON_CHARS = 512
MAX_RAW_CHARS = 4096


def _bounded_entry(
    line: int, reason: str, raw: str, builder: BatchBuilder
) -> tuple[dict[str, object], bytes]:
    """The quarantine entry, its reason and raw text cut so that it fits a payload."""
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[:MAX_REASON_CHARS] + f"… ({len(reason):,} characters)"
    limit = MAX_RAW_CHARS
    while True:
        shown = raw if len(raw) <= limit else raw[:limit] + f"… ({len(raw):,} characters)"
        entry: dict[str, object] = {"line": line, "reason": reason, "raw": shown}
        text = encode(entry)
        try:
            builder.check(text)
        except RecordTooLargeError:
            if limit == 0:
                raise
            limit //= 4  # escaped control characters take six bytes each
            continue
        return entry, text


class FileIngestor:
    """Reads passes of files of one source into the outbox."""

    def __init__(
        self,
        settings: IngestSettings,
        ledger: Ledger,
        gauge: OutboxGauge,
        stop: threading.Event,
        *,
        on_commit: Callable[[], None] = lambda: None,
        on_state: Callable[[str, str], None] = lambda state, detail: None,
        on_progress: Callable[[str, int, int, int], None] = lambda path, offset, size, rows: None,
        farm: Farm | None = None,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.gauge = gauge
        self.stop = stop
        self.on_commit = on_commit
        # Called from the reading thread when ingestion pauses or resumes (thread-safe callers).
        self.on_state = on_state
        # Called from the reading thread after each commit: (path, offset, size, rows committed).
        self.on_progress = on_progress
        self.farm = farm
        self.quarantine_log = QuarantineLog(settings.state_dir, settings.source.name)
        template = TopicTemplate(settings.dataset.topic)
        self.topic = template.render(
            thingName=settings.thing_name,
            dataset=settings.dataset_name,
            kind=settings.dataset.kind,
            source=settings.source.name,
        )

    # ------------------------------------------------------------------ the pass

    def run(self, source: Source, info: FileInfo) -> PassResult:
        """Read what is new in one file. Raises TransientError subclasses to be retried."""
        name = self.settings.source.name
        record = self.ledger.get(name, info.path) or self.ledger.create(name, info.path)
        if record.state == "disposed":
            record = self.ledger.new_version(record, "appeared again after disposal")
        if self.farm is not None and self.settings.dataset.kind == "tower":
            self.farm.wait_for_context(self.stop)
        with source.open(info.path) as stream:
            size = stream.seek(0, 2)
            reason = changed_in_place(stream, record, size)
            if reason is not None:
                log.info(
                    "file changed in place, reading it again as a new version",
                    extra={"source": name, "path": info.path, "reason": reason},
                )
                record = self.ledger.new_version(record, reason)
            elif record.state == "failed":
                # Quarantined whole already: a growing file that still cannot be read is not
                # quarantined again at each growth; a rewrite (above) gets a fresh look.
                return self._pass_over(stream, record, info, size, "failed", note=None)
            return self._read(stream, record, info, size)

    def _pass_over(
        self,
        stream: BinaryIO,
        record: FileRecord,
        info: FileInfo,
        size: int,
        state: str,
        *,
        note: str | None,
    ) -> PassResult:
        """Record the whole file as dealt with, reading none of its rows."""
        self._commit(
            record,
            [],
            [],
            offset=size,
            next_line=record.next_line,
            counts=(0, 0, 0),
            size=size,
            mtime_ns=info.mtime_ns,
            probes=probes_at(stream, size),
            state=state,
            note=note,
        )
        return PassResult(info.path, 0, 0, 0, 0, True, state, note or "quarantined whole before")

    def _read(self, stream: BinaryIO, record: FileRecord, info: FileInfo, size: int) -> PassResult:
        settings = self.settings
        final = settings.source.mode == "complete"
        done_state = "read" if final else "reading"
        content_fp = None
        if final and record.offset == 0 and settings.source.skip_duplicate_files and size:
            content_fp = content_fingerprint(stream, size)
            original = self.ledger.find_duplicate(record.source, content_fp, record.id)
            if original is not None:
                note = f"same content as {original}, already read: skipped"
                log.warning(
                    "file is a copy of one already read; skipped",
                    extra={"source": record.source, "path": info.path, "original": original},
                )
                return self._pass_over(stream, record, info, size, "duplicate", note=note)
        if size == 0:
            if final:
                self._commit(
                    record,
                    [],
                    [],
                    offset=0,
                    next_line=1,
                    counts=(0, 0, 0),
                    size=size,
                    mtime_ns=info.mtime_ns,
                    probes=None,
                    state="read",
                    note="empty file",
                )
            return PassResult(info.path, 0, 0, 0, 0, final, done_state, "empty file")
        try:
            layout = read_layout(stream, settings.dataset.csv)
            builder = RecordBuilder(settings.dataset, layout)
        except FileFormatError as e:
            if not final and size < 64 * 1024 and "ends before" in str(e):
                # A growing log whose header is not written yet.
                return PassResult(info.path, 0, 0, 0, 0, False, record.state, str(e))
            return self._quarantine_file(stream, record, info, size, str(e))
        envelope = Envelope(
            thing_name=settings.thing_name,
            dataset=settings.dataset_name,
            kind=settings.dataset.kind,
            source=settings.source.name,
            path=info.path,
            file_id=record.file_id,
            version=record.version,
            topic=self.topic,
            units=builder.units,
        )
        if record.offset >= layout.data_offset:
            offset, next_line = record.offset, record.next_line
        else:
            offset, next_line = layout.data_offset, layout.data_line
        return self._read_records(
            content_fp=content_fp,
            stream=stream,
            record=record,
            info=info,
            size=size,
            layout=layout,
            builder=builder,
            envelope=envelope,
            offset=offset,
            next_line=next_line,
            final=final,
        )

    def _read_records(
        self,
        *,
        content_fp: str | None,
        stream: BinaryIO,
        record: FileRecord,
        info: FileInfo,
        size: int,
        layout: Layout,
        builder: RecordBuilder,
        envelope: Envelope,
        offset: int,
        next_line: int,
        final: bool,
    ) -> PassResult:
        settings = self.settings
        ingested_at = utc_millis()
        data = BatchBuilder(envelope, "data", settings.max_payload_bytes, ingested_at)
        qenv = dataclasses.replace(envelope, topic=self.topic + "/quarantine", units={})
        quarantine = BatchBuilder(qenv, "quarantine", settings.max_payload_bytes, ingested_at)
        qentries: list[dict[str, object]] = []
        published = quarantined = skipped = 0
        total = [0, 0, 0, 0]  # published, quarantined, skipped, batches
        ready: list[Batch] = []  # full data batches not yet committed
        stopped = False
        hook = (
            self.farm.hook(
                settings.dataset.kind,
                file_ref=record.id,
                version=record.version,
                units=builder.units,
            )
            if self.farm is not None
            else None
        )

        def flush(state: str = "reading", probes: Probes | None = None) -> None:
            # The fingerprint is recorded with the commit that completes the file, so only
            # a wholly read file can make a later copy count as a duplicate.
            nonlocal published, quarantined, skipped
            batches = [*ready, *(b for b in (data.take(), quarantine.take()) if b is not None)]
            ready.clear()
            self._commit(
                record,
                batches,
                qentries,
                offset=offset,
                next_line=next_line,
                counts=(published, quarantined, skipped),
                size=size,
                mtime_ns=info.mtime_ns,
                probes=probes,
                state=state,
                note=None,
                content_fp=content_fp if state == "read" else None,
                hook=hook,
            )
            total[0] += published
            total[1] += quarantined
            total[2] += skipped
            total[3] += len(batches)
            qentries.clear()
            published = quarantined = skipped = 0

        def add_quarantine(line: int, reason: str, raw: str) -> None:
            nonlocal quarantined
            entry, text = _bounded_entry(line, reason, raw, quarantine)
            if not quarantine.fits(text):
                flush()
            quarantine.add(text, line)
            qentries.append(
                {
                    "source": settings.source.name,
                    "path": info.path,
                    "fileId": record.file_id,
                    "version": record.version,
                    **entry,
                }
            )
            quarantined += 1

        for raw in iter_records(
            stream,
            layout,
            settings.dataset.csv,
            start_offset=offset,
            start_line=next_line,
            final=final,
            end=size,
        ):
            if raw.fields is None:
                add_quarantine(raw.line, raw.problem or "unreadable row", raw.raw)
            elif builder.skip_reason(raw) is not None:
                skipped += 1
            else:
                try:
                    built: dict[str, object] | bytes | None = builder.build(raw)
                    if hook is not None:
                        assert isinstance(built, dict)
                        built = hook.take(built, raw.line)
                    text = built if built is None or isinstance(built, bytes) else encode(built)
                    if text is not None:
                        data.check(text)
                except (RowError, RecordTooLargeError, EncodeError) as e:
                    if hook is not None:
                        hook.discard(raw.line)
                    add_quarantine(raw.line, str(e), raw.raw)
                else:
                    if text is None:
                        published += 1  # held: the farm worker publishes it
                    elif not data.fits(text):
                        full = data.take()
                        assert full is not None
                        ready.append(full)
                        if len(ready) >= COMMIT_BATCHES_MAX or (
                            len(ready) >= COMMIT_BATCHES
                            and sum(b.rows for b in ready) >= COMMIT_ROWS
                        ):
                            flush()
                        if self.stop.is_set():
                            stopped = True
                            break
                        data.add(text, raw.line)
                        published += 1
                    else:
                        data.add(text, raw.line)
                        published += 1
            offset, next_line = raw.end_offset, raw.next_line
        complete = final and not stopped
        flush(state="read" if complete else "reading", probes=probes_at(stream, offset))
        return PassResult(
            info.path,
            total[0],
            total[1],
            total[2],
            total[3],
            complete,
            "read" if complete else "reading",
        )

    def _quarantine_file(
        self, stream: BinaryIO, record: FileRecord, info: FileInfo, size: int, reason: str
    ) -> PassResult:
        """The whole file cannot be read with its dataset: one quarantine entry, file kept."""
        stream.seek(0)
        head = stream.read(512)
        raw = head.decode("utf-8", errors="backslashreplace")
        env = Envelope(
            thing_name=self.settings.thing_name,
            dataset=self.settings.dataset_name,
            kind=self.settings.dataset.kind,
            source=self.settings.source.name,
            path=info.path,
            file_id=record.file_id,
            version=record.version,
            topic=self.topic + "/quarantine",
        )
        builder = BatchBuilder(env, "file", self.settings.max_payload_bytes, utc_millis())
        entry = {"line": 1, "reason": f"whole file: {reason}", "raw": raw[:2048]}
        builder.add(encode(entry), 1)
        batch = builder.take()
        assert batch is not None
        log.warning(
            "file quarantined whole",
            extra={"source": self.settings.source.name, "path": info.path, "reason": reason},
        )
        self._commit(
            record,
            [batch],
            [
                {
                    "source": self.settings.source.name,
                    "path": info.path,
                    "fileId": record.file_id,
                    "version": record.version,
                    **entry,
                }
            ],
            offset=size,
            next_line=record.next_line,
            counts=(0, 1, 0),
            size=size,
            mtime_ns=info.mtime_ns,
            probes=probes_at(stream, size),
            state="failed",
            note=f"quarantined whole: {reason}",
        )
        return PassResult(info.path, 0, 1, 0, 1, True, "failed", reason)

    def _commit(
        self,
        record: FileRecord,
        batches: list[Batch],
        qentries: list[dict[str, object]],
        *,
        offset: int,
        next_line: int,
        counts: tuple[int, int, int],
        size: int,
        mtime_ns: int,
        probes: Probes | None,
        state: str,
        note: str | None,
        content_fp: str | None = None,
        hook: PassHook | None = None,
    ) -> None:
        if batches:
            if self.gauge.full:
                limit = self.gauge.limit // (1024 * 1024)
                self.on_state(
                    "paused",
                    f"outbox full ({limit} MiB, outbox.maxBytes): waiting for the "
                    "broker to acknowledge what is queued; nothing is dropped",
                )
                if not self.gauge.wait_for_room(self.stop, timeout=0.5):
                    raise StorageFullError("outbox is full (outbox.maxBytes); stopping")
                self.on_state("watching", "")
            free = shutil.disk_usage(self.settings.state_dir).free
            if free < self.settings.min_free_disk_bytes:
                raise StorageFullError(
                    f"only {free // (1024 * 1024)} MiB free under stateDir "
                    f"{self.settings.state_dir} (outbox.minFreeDiskBytes); ingestion paused"
                )
        self.quarantine_log.write(qentries)
        added = self.ledger.commit(
            record,
            batches,
            offset=offset,
            next_line=next_line,
            published=counts[0],
            quarantined=counts[1],
            skipped=counts[2],
            size=size,
            mtime_ns=mtime_ns,
            probes=probes,
            state=state,
            note=note,
            content_fp=content_fp,
            extra=hook.write if hook is not None else None,
        )
        if hook is not None:
            hook.committed()
        if added:
            self.gauge.add(added)
            self.on_commit()
        self.on_progress(record.path, offset, size, counts[0] + counts[1] + counts[2])
