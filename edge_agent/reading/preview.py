"""``edge-agent preview``: the agent's own reading pass over a local file, with no broker and no
state: the first and last records and every quarantine entry as they would be published, then
what the layout and typing noticed (a mapped column the file lacks, ...).

It runs the exact code of a reading pass (plan, layout, row loop, batches) into an outbox in a
temporary folder, and decodes what the pass committed. Farm datasets are shown as typed: the
Grow ID tagging and the joins need the agent's context, so they are not previewed.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import orjson

from edge_agent.config.datasets import FARM_KINDS
from edge_agent.config.models import AgentConfig
from edge_agent.config.sources import SourceConfig
from edge_agent.errors import ConfigError, ConfigProblem
from edge_agent.reading.ingest import FileIngestor, IngestSettings, PassResult
from edge_agent.sources.base import PathFilter
from edge_agent.sources.local import LocalSource
from edge_agent.state.db import StateDB
from edge_agent.state.outbox import OutboxGauge
from edge_agent.state.writer import OutboxWriter


@dataclass
class Preview:
    """What one pass over the file published, decoded."""

    dataset: str
    topic: str
    result: PassResult
    units: dict[str, str] = field(default_factory=dict)
    records: list[bytes] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)


def choose_dataset(config: AgentConfig, file: Path, named: str | None) -> str:
    """The dataset to read ``file`` with: the one named, the only one, or the one of the
    sources whose patterns match the file's name."""
    if named is not None:
        if named not in config.datasets:
            known = ", ".join(sorted(config.datasets))
            raise ConfigError(
                [ConfigProblem("--dataset", f"no dataset {named!r}", f"known: {known}")]
            )
        return named
    if len(config.datasets) == 1:
        return next(iter(config.datasets))
    matching = sorted(
        {s.dataset for s in config.sources if PathFilter(s.include, s.exclude)(file.name)}
    )
    if len(matching) == 1:
        return matching[0]
    known = ", ".join(matching or sorted(config.datasets))
    raise ConfigError(
        [
            ConfigProblem(
                "--dataset",
                f"cannot tell which dataset reads {file.name}",
                f"name one with --dataset: {known}",
            )
        ]
    )


def run_preview(config: AgentConfig, file: Path, *, dataset: str | None = None) -> Preview:
    """One reading pass over ``file`` into a throw-away outbox."""
    if not file.is_file():
        raise ConfigError([ConfigProblem("FILE", f"{file} is not a file", "give a CSV file")])
    name = choose_dataset(config, file, dataset)
    source = SourceConfig(
        name="preview",
        path=str(file.parent.absolute()),
        include=(file.name,),
        recursive=False,
        settle_seconds=0,
        skip_duplicate_files=False,
        dataset=name,
    )
    with tempfile.TemporaryDirectory(prefix="edge-agent-preview-") as tmp:
        state = Path(tmp)
        db = StateDB(state, durable=False)
        try:
            writer = OutboxWriter(
                db, OutboxGauge(0, 1 << 62), state_dir=state, min_free_disk_bytes=0
            )
            settings = IngestSettings(
                thing_name=config.thing_name,
                source=source,
                dataset_name=name,
                dataset=config.datasets[name],
                max_payload_bytes=config.publish.max_payload_bytes,
                state_dir=state,
            )
            ingestor = FileIngestor(settings, writer, threading.Event())
            local = LocalSource(source)
            info = local.stat(file.name)
            assert info is not None
            result = ingestor.run(local, info)
            preview = Preview(name, settings.topic, result)
            for row in db.query("SELECT topic, payload FROM outbox ORDER BY seq"):
                envelope = orjson.loads(row["payload"])
                if row["topic"].endswith("/quarantine"):
                    preview.quarantined += envelope["records"]
                    continue
                preview.units = envelope.get("units", {})
                preview.records += [orjson.dumps(r) for r in envelope["records"]]
            return preview
        finally:
            db.close()


def _ends(items: list[bytes], count: int) -> Iterator[bytes | None]:
    """The first and last ``count`` items; None where some are left out."""
    if len(items) <= 2 * count:
        yield from items
        return
    yield from items[:count]
    yield None
    yield from items[-count:]


def show_preview(
    config: AgentConfig,
    file: Path,
    *,
    dataset: str | None = None,
    rows: int = 5,
    out: TextIO | None = None,
) -> int:
    """The command: print, and exit 0 (1 when the file is refused whole)."""
    out = out or sys.stdout
    preview = run_preview(config, file, dataset=dataset)
    result = preview.result
    kind = config.datasets[preview.dataset].kind
    print(
        f"{file}: dataset {preview.dataset} ({kind}), topic {preview.topic}: "
        f"{len(preview.records):,} record(s), {result.quarantined:,} quarantined, "
        f"{result.skipped:,} skipped",
        file=out,
    )
    if kind in FARM_KINDS:
        print("  (farm data: records as typed; the agent adds the Grow ID and the joins)", file=out)
    if preview.units:
        print(f"units: {orjson.dumps(preview.units).decode()}", file=out)
    for text in _ends(preview.records, rows):
        if text is None:
            print(f"  … {len(preview.records) - 2 * rows:,} more …", file=out)
        else:
            print(text.decode(), file=out)
    for entry in preview.quarantined:
        print(f"quarantined: line {entry['line']}: {entry['reason']}", file=out)
        print(f"    {entry['raw']}", file=out)
    for warning in result.warnings:
        print(f"warning: {warning}", file=out)
    return 1 if result.state == "failed" else 0
