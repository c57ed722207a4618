"""A local source with one generic dataset, read by the real FileIngestor into a real outbox."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson

from edge_agent.config.load import parse_config
from edge_agent.reading.ingest import FileIngestor, IngestSettings, PassResult
from edge_agent.sources.local import LocalSource
from edge_agent.state.db import StateDB
from edge_agent.state.ledger import FileRecord
from edge_agent.state.outbox import OutboxGauge
from edge_agent.state.writer import OutboxWriter


class KilledError(Exception):
    """Raised from inside a pass right after a commit: the process died there."""


class Reader:
    """Passes over the files of ``root/in`` (dataset ``d``: ``ts`` ISO timestamps, inferred
    columns) with a stop that a test can pull after the n-th commit."""

    def __init__(
        self,
        root: Path,
        *,
        max_payload_bytes: int = 4096,
        outbox_limit: int = 1 << 40,
        dataset: dict[str, Any] | None = None,
        **source: Any,
    ) -> None:
        self.folder = root / "in"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.state = root / "state"
        self.config = parse_config(
            {
                "thingName": "gw",
                "stateDir": str(self.state),
                "sources": [{"name": "s", "path": str(self.folder), "dataset": "d", **source}],
                "datasets": {"d": dataset or {"csv": {"timestampColumn": "ts"}}},
                "publish": {"maxPayloadBytes": max_payload_bytes},
                "outbox": {"maxBytes": max(outbox_limit, 1 << 20)},
            }
        )
        self.db = StateDB(self.state, durable=False)
        self.gauge = OutboxGauge(0, outbox_limit)
        self.writer = OutboxWriter(self.db, self.gauge, state_dir=self.state, min_free_disk_bytes=0)
        self.stop = threading.Event()
        self.commits = 0
        self.stop_after: int | None = None
        self.kill_after: int | None = None
        source_config = self.config.sources[0]
        self.ingestor = FileIngestor(
            IngestSettings(
                thing_name="gw",
                source=source_config,
                dataset_name="d",
                dataset=self.config.datasets["d"],
                max_payload_bytes=self.config.publish.max_payload_bytes,
                state_dir=self.state,
            ),
            self.writer,
            self.stop,
            on_progress=self._committed,
        )
        self.source = LocalSource(source_config)

    def _committed(self, path: str, offset: int, size: int, rows: int) -> None:
        self.commits += 1
        if self.stop_after is not None and self.commits >= self.stop_after:
            self.stop.set()
        if self.kill_after is not None and self.commits >= self.kill_after:
            raise KilledError

    def read(self, name: str) -> PassResult:
        """One pass over ``name``, as the runner does it."""
        info = self.source.stat(name)
        assert info is not None
        return self.ingestor.run(self.source, info)

    def read_stopped(self, name: str, after_commits: int) -> PassResult:
        """A pass that stops after its n-th commit (a SIGTERM, or a kill right after it)."""
        self.commits, self.stop_after = 0, after_commits
        try:
            return self.read(name)
        finally:
            self.stop.clear()
            self.stop_after = None

    def read_killed(self, name: str, after_commits: int) -> None:
        """A pass during which the process dies right after its n-th commit (nothing after
        that commit happens: no final commit, no clean-up)."""
        self.commits, self.kill_after = 0, after_commits
        try:
            self.read(name)
        except KilledError:
            return
        finally:
            self.kill_after = None
        raise AssertionError(f"the pass made fewer than {after_commits} commits")

    def record(self, name: str) -> FileRecord:
        found = self.writer.ledger.get("s", name)
        assert found is not None
        return found

    def published(self) -> list[tuple[int, int, dict[str, Any]]]:
        """(version, line, record) of every published data record, in commit order."""
        out = []
        for row in self.db.query("SELECT topic, payload FROM outbox ORDER BY seq"):
            if row["topic"].endswith("/quarantine"):
                continue
            envelope = orjson.loads(row["payload"])
            version = envelope["source"]["version"]
            out += [(version, r["line"], r) for r in envelope["records"]]
        return out

    def close(self) -> None:
        self.db.close()


def csv_rows(n: int, *, value: str = "v", start: int = 0) -> bytes:
    """A file with a header and ``n`` rows (``ts,x,tag``)."""
    rows = ["ts,x,tag\n"]
    rows += [
        f"2026-11-27T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z,{i},{value}{i}\n"
        for i in range(start, start + n)
    ]
    return "".join(rows).encode()
