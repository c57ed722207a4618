"""One reading pass over one file: plan it, read its layout, run its rows into the outbox.

Runs in a worker thread (blocking reads and SQLite) and never waits for anything another thread
must release: when the outbox is full the pass commits what it has and ends (``paused``), and
its runner waits on the event loop before the next one. Raises TransientError subclasses for
the runner to retry the file later.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import BinaryIO

from edge_agent.batcher import BatchBuilder, Envelope, encode, utc_millis
from edge_agent.config.datasets import DatasetConfig
from edge_agent.config.sources import SourceConfig
from edge_agent.config.topics import TopicTemplate
from edge_agent.csvread.reader import FileFormatError, read_layout
from edge_agent.datasets.generic import RecordBuilder
from edge_agent.identity import changed_in_place, probes_at
from edge_agent.reading.plan import Plan, plan_pass
from edge_agent.reading.quarantine import QuarantineLog
from edge_agent.reading.rows import PassResult, ProgressCallback, RowLoop, RowSink
from edge_agent.reading.stage import PublishAsRead, StageFactory
from edge_agent.sources.base import FileInfo, Source
from edge_agent.state.ledger import FileAdvance, FileRecord
from edge_agent.state.writer import OutboxWriter

log = logging.getLogger("edge_agent.reading")

__all__ = ["FileIngestor", "IngestSettings", "PassResult"]


@dataclass(frozen=True)
class IngestSettings:
    """Everything a pass needs that does not change from file to file."""

    thing_name: str
    source: SourceConfig
    dataset_name: str
    dataset: DatasetConfig
    max_payload_bytes: int
    state_dir: Path

    @property
    def topic(self) -> str:
        """The dataset's data topic for this source."""
        return TopicTemplate(self.dataset.topic).render(
            thingName=self.thing_name,
            dataset=self.dataset_name,
            kind=self.dataset.kind,
            source=self.source.name,
        )

    @cached_property
    def dataset_fp(self) -> str:
        """A fingerprint of how the dataset reads and types rows (not where it publishes): a
        file that failed or had rows quarantined is read again when it changes."""
        text = self.dataset.model_dump_json(exclude={"topic"})
        return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _still_holds(source: Source, record: FileRecord) -> bool:
    """Whether the file at ``record.path`` still has the content the record read."""
    try:
        with source.open(record.path) as stream:
            return changed_in_place(stream, record, stream.seek(0, 2)) is None
    except FileNotFoundError:
        return False


class FileIngestor:
    """Reads passes of files of one source into the outbox."""

    def __init__(
        self,
        settings: IngestSettings,
        writer: OutboxWriter,
        stop: threading.Event,
        *,
        stages: StageFactory | None = None,
        on_progress: ProgressCallback = lambda path, offset, size, rows: None,
    ) -> None:
        self.settings = settings
        self.writer = writer
        self.ledger = writer.ledger
        self.stop = stop
        self.stages: StageFactory = stages if stages is not None else PublishAsRead()
        self.topic = settings.topic
        self._sink = RowSink(
            writer,
            QuarantineLog(settings.state_dir, settings.source.name),
            stop,
            on_progress,
            settings.dataset_fp,
        )

    def run(self, source: Source, info: FileInfo, *, idle: bool = False) -> PassResult:
        """Read what is new in one file. ``idle``: a growing log that has not changed for
        ``idleSeconds``; its last line counts even without a line end."""
        settings = self.settings
        complete = settings.source.mode == "complete"
        with source.open(info.path) as stream:
            size = stream.seek(0, 2)
            plan = plan_pass(
                self.ledger,
                settings.source.name,
                info.path,
                stream,
                size,
                complete=complete,
                skip_duplicates=settings.source.skip_duplicate_files,
                dataset_fp=settings.dataset_fp,
                still_holds=lambda record: _still_holds(source, record),
            )
            if plan.action == "nothing":
                return PassResult(info.path, 0, 0, 0, 0, False, plan.state, plan.note)
            if plan.action == "record":
                return self._record_whole(stream, plan, info, size)
            return self._read(stream, plan, info, size, final=complete or idle)

    def _record_whole(self, stream: BinaryIO, plan: Plan, info: FileInfo, size: int) -> PassResult:
        """Record the whole file as dealt with, reading none of its rows."""
        empty = size == 0
        self.writer.commit(
            [],
            advance=(
                plan.record.id,
                FileAdvance(
                    offset=size,
                    next_line=plan.record.next_line,
                    state=plan.state,
                    size=size,
                    mtime_ns=info.mtime_ns,
                    probes=None if empty else probes_at(stream, size),
                    note=plan.note,
                ),
            ),
        )
        return PassResult(info.path, 0, 0, 0, 0, True, plan.state, plan.note)

    def _read(
        self, stream: BinaryIO, plan: Plan, info: FileInfo, size: int, *, final: bool
    ) -> PassResult:
        settings, record = self.settings, plan.record
        try:
            layout = read_layout(stream, settings.dataset.csv)
            builder = RecordBuilder(settings.dataset, layout)
        except FileFormatError as e:
            growing = settings.source.mode == "append"
            if growing and size < 64 * 1024 and "ends before" in str(e):
                # A growing log whose header is not written yet.
                return PassResult(info.path, 0, 0, 0, 0, False, record.state, str(e))
            return self._quarantine_file(stream, record, info, size, str(e))
        envelope = self._envelope(record, info.path, builder.units)
        warnings = tuple(builder.warnings)
        if record.offset >= layout.data_offset:
            offset, next_line = record.offset, record.next_line
        else:
            offset, next_line = layout.data_offset, layout.data_line
            for warning in warnings:  # said once per file version, at its first rows
                log.warning(
                    "file %s: %s",
                    info.path,
                    warning,
                    extra={"source": record.source, "path": info.path, "warning": warning},
                )
        loop = RowLoop(
            sink=self._sink,
            stage=self.stages.open(record, builder.units),
            record=record,
            info=info,
            stream=stream,
            size=size,
            layout=layout,
            builder=builder,
            envelope=envelope,
            csv=settings.dataset.csv,
            max_payload_bytes=settings.max_payload_bytes,
            ingested_at=utc_millis(),
            complete=settings.source.mode == "complete",
            content_fp=plan.content_fp,
            final=final,
        )
        result = loop.run(offset, next_line)
        return dataclasses.replace(result, warnings=warnings) if warnings else result

    def _envelope(
        self, record: FileRecord, path: str, units: dict[str, str], *, topic: str | None = None
    ) -> Envelope:
        settings = self.settings
        return Envelope(
            thing_name=settings.thing_name,
            dataset=settings.dataset_name,
            kind=settings.dataset.kind,
            source=settings.source.name,
            path=path,
            file_id=record.file_id,
            version=record.version,
            topic=self.topic if topic is None else topic,
            units=units,
        )

    def _quarantine_file(
        self, stream: BinaryIO, record: FileRecord, info: FileInfo, size: int, reason: str
    ) -> PassResult:
        """The whole file cannot be read with its dataset: one quarantine entry, file kept."""
        stream.seek(0)
        raw = stream.read(512).decode("utf-8", errors="backslashreplace")
        envelope = self._envelope(record, info.path, {}, topic=self.topic + "/quarantine")
        builder = BatchBuilder(envelope, "file", self.settings.max_payload_bytes, utc_millis())
        entry = {"line": 1, "reason": f"whole file: {reason}", "raw": raw[:2048]}
        builder.add(encode(entry), 1)
        batch = builder.take()
        assert batch is not None
        log.warning(
            "file quarantined whole",
            extra={"source": record.source, "path": info.path, "reason": reason},
        )
        self._sink.quarantine_log.write(
            [
                {
                    "source": record.source,
                    "path": info.path,
                    "fileId": record.file_id,
                    "version": record.version,
                    **entry,
                }
            ]
        )
        self.writer.commit(
            [(batch, record.id)],
            advance=(
                record.id,
                FileAdvance(
                    offset=size,
                    next_line=record.next_line,
                    state="failed",
                    size=size,
                    mtime_ns=info.mtime_ns,
                    quarantined=1,
                    batches=1,
                    probes=probes_at(stream, size),
                    note=f"quarantined whole: {reason}",
                    dataset_fp=self.settings.dataset_fp,
                ),
            ),
        )
        return PassResult(info.path, 0, 1, 0, 1, True, "failed", reason)
