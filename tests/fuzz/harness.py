"""A real ingest pass over one file: local source, SQLite ledger and outbox, decoded batches."""

from __future__ import annotations

import contextlib
import json
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_agent.config.datasets import DatasetConfig
from edge_agent.config.load import parse_config
from edge_agent.reading.ingest import FileIngestor, IngestSettings, PassResult
from edge_agent.sources.local import LocalSource
from edge_agent.state.db import StateDB
from edge_agent.state.outbox import OutboxGauge
from edge_agent.state.writer import OutboxWriter

FILE = "data.csv"


@dataclass
class Published:
    """What a file's passes put into the outbox, decoded."""

    records: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    whole_file: list[dict[str, Any]] = field(default_factory=list)
    batch_ids: list[str] = field(default_factory=list)


class Pipeline:
    """One local source with one dataset, read by the real FileIngestor into a real outbox."""

    def __init__(
        self,
        root: Path,
        dataset: DatasetConfig,
        *,
        mode: str = "complete",
        max_payload_bytes: int = 4096,
    ) -> None:
        self.folder = root / "in"
        self.folder.mkdir()
        self.state_dir = root / "state"
        document = dataset.model_dump(by_alias=True, exclude_unset=True)
        if dataset.csv.delimiter == "\t":
            # A real tab is stripped as whitespace by the model: the escaped form is what works.
            document["csv"]["delimiter"] = "\\t"
        config = parse_config(
            {
                "thingName": "fuzz-thing",
                "stateDir": str(self.state_dir),
                "sources": [
                    {
                        "name": "fuzz",
                        "path": str(self.folder),
                        "mode": mode,
                        "dataset": "d",
                        "skipDuplicateFiles": False,
                    }
                ],
                "datasets": {"d": document},
                "publish": {"maxPayloadBytes": max_payload_bytes},
            }
        )
        self.config = config
        self.db = StateDB(self.state_dir, durable=False)
        settings = IngestSettings(
            thing_name=config.thing_name,
            source=config.sources[0],
            dataset_name="d",
            dataset=config.datasets["d"],
            max_payload_bytes=config.publish.max_payload_bytes,
            state_dir=self.state_dir,
        )
        gauge = OutboxGauge(0, config.outbox.max_bytes)
        writer = OutboxWriter(self.db, gauge, state_dir=self.state_dir, min_free_disk_bytes=0)
        self.ingestor = FileIngestor(settings, writer, threading.Event())
        self.source = LocalSource(config.sources[0])

    def write(self, data: bytes) -> None:
        """The file as it is now (a writer that appends rewrites it with a longer prefix)."""
        (self.folder / FILE).write_bytes(data)

    def run(self) -> PassResult:
        """One reading pass over the file, as the runner does it."""
        info = self.source.stat(FILE)
        assert info is not None
        return self.ingestor.run(self.source, info)

    def published(self) -> Published:
        """Every batch in the outbox, in commit order, decoded and checked for shape."""
        out = Published()
        limit = self.config.publish.max_payload_bytes
        for row in self.db.query("SELECT batch_id, topic, payload, rows FROM outbox ORDER BY seq"):
            payload = bytes(row["payload"])
            assert len(payload) <= limit
            envelope = json.loads(payload)
            assert envelope["batchId"] == row["batch_id"]
            assert len(envelope["records"]) == row["rows"]
            out.batch_ids.append(row["batch_id"])
            lines = [r["line"] for r in envelope["records"]]
            assert (envelope["source"]["firstLine"], envelope["source"]["lastLine"]) == (
                lines[0],
                lines[-1],
            )
            if row["topic"] == "dt/edge-agent/fuzz-thing/d":
                out.records.extend(envelope["records"])
            elif envelope["records"][0]["reason"].startswith("whole file: "):
                assert row["topic"] == "dt/edge-agent/fuzz-thing/d/quarantine"
                out.whole_file.extend(envelope["records"])
            else:
                assert row["topic"] == "dt/edge-agent/fuzz-thing/d/quarantine"
                out.quarantined.extend(envelope["records"])
        return out

    def local_quarantine(self) -> list[dict[str, Any]]:
        """The entries of the local quarantine log (stateDir/quarantine/<source>.jsonl)."""
        path = self.state_dir / "quarantine" / "fuzz.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    def ledger_counts(self) -> tuple[int, int, int]:
        """(published, quarantined, skipped) rows the ledger holds for the file."""
        [row] = self.db.query(
            "SELECT rows_published, rows_quarantined, rows_skipped FROM files WHERE path = ?",
            (FILE,),
        )
        return row["rows_published"], row["rows_quarantined"], row["rows_skipped"]

    def close(self) -> None:
        """Close the database."""
        self.db.close()


@contextlib.contextmanager
def pipeline(dataset: DatasetConfig, *, mode: str = "complete") -> Iterator[Pipeline]:
    """A pipeline in a fresh temporary folder (hypothesis examples cannot share tmp_path)."""
    with tempfile.TemporaryDirectory(prefix="edge-fuzz-") as tmp:
        p = Pipeline(Path(tmp), dataset, mode=mode)
        try:
            yield p
        finally:
            p.close()
