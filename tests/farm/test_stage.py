"""The farm stage inside real reading passes: what a stage keeps becomes durable only with the
commit that covers its row, so a pass stopped at a batch boundary keeps each reading once.

A local tower source and a seeding source, read by the real FileIngestor into a real state
database; the farm worker evaluates alerts from what was kept. No broker: the outbox is read.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from edge_agent.config.load import parse_config
from edge_agent.farm.service import Farm
from edge_agent.farm.worker import FarmWorker
from edge_agent.reading.ingest import FileIngestor, IngestSettings, PassResult
from edge_agent.sources.local import LocalSource
from edge_agent.state.db import StateDB
from edge_agent.state.outbox import OutboxGauge
from edge_agent.state.writer import OutboxWriter
from simulators.datasets import builtin_dataset_mapping, cea_mapping

START = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
HEADER = (
    "timestamp,tower_id,station_id,tray_id,height_mm,weight_kg,evenness_pct,water_level_mm,"
    "water_ph,water_temp_c,air_temp_c,humidity_pct,co2_ppm\n"
)


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def tower_file(readings: int) -> bytes:
    """One station, one tray, a reading a minute; water pH out of band for readings 60-139."""
    lines = [HEADER]
    for i in range(readings):
        at = START + timedelta(days=2, minutes=i)
        ph = 7.4 if 60 <= i < 140 else 6.4
        lines.append(
            f"{_iso(at)},tower-01,st-1,tray-01,80.0,9.5,80.0,100.0,{ph},18.5,20.0,60.0,900\n"
        )
    return "".join(lines).encode()


SEEDING = (
    "timestamp,tower_id,tray_id,event,grow_id,seed_kg,seed_lot\n"
    f"{_iso(START)},tower-01,tray-01,seeded,GR-1,5.0,L1\n"
).encode()


class FarmPasses:
    """A tower and a seeding source read by real passes into one state database."""

    def __init__(self, root: Path) -> None:
        self.state = root / "state"
        folders = {name: root / name for name in ("tower", "seeding")}
        for folder in folders.values():
            folder.mkdir(parents=True)
        folders["tower"].joinpath("t.csv").write_bytes(tower_file(300))
        folders["seeding"].joinpath("s.csv").write_bytes(SEEDING)
        self.config = parse_config(
            {
                "thingName": "gw",
                "stateDir": str(self.state),
                "sources": [
                    {"name": name, "path": str(folder), "dataset": name}
                    for name, folder in folders.items()
                ],
                "datasets": {name: builtin_dataset_mapping(name) for name in folders},
                "cea": cea_mapping(graceSeconds=30),
                # Small payloads: a commit every 16 batches of a few readings each.
                "publish": {"maxPayloadBytes": 4096},
            }
        )
        self.dbs: list[StateDB] = []
        self.gauge = OutboxGauge(0, 1 << 40)
        self.farm = Farm(self.config)
        self.farm.load(self._db())
        self.worker = FarmWorker(self.config, self.farm.state, self.farm.enricher, self._writer())
        self.stop = threading.Event()
        self.commits = 0
        self.ingestors = {
            source.name: FileIngestor(
                IngestSettings(
                    thing_name="gw",
                    source=source,
                    dataset_name=source.dataset,
                    dataset=self.config.datasets[source.dataset],
                    max_payload_bytes=self.config.publish.max_payload_bytes,
                    state_dir=self.state,
                ),
                self._writer(),
                self.stop,
                stages=self.farm.stages(self.config.datasets[source.dataset].kind),
                on_progress=self._committed,
            )
            for source in self.config.sources
        }
        self.sources = {s.name: LocalSource(s) for s in self.config.sources}
        self.stop_after_commit: int | None = None

    def _db(self) -> StateDB:
        db = StateDB(self.state)
        self.dbs.append(db)
        return db

    def _writer(self) -> OutboxWriter:
        return OutboxWriter(self._db(), self.gauge, state_dir=self.state, min_free_disk_bytes=0)

    def _committed(self, path: str, offset: int, size: int, rows: int) -> None:
        self.commits += 1
        if self.stop_after_commit is not None and self.commits >= self.stop_after_commit:
            self.stop.set()  # a SIGTERM at this moment: the pass ends after this commit

    def read(self, name: str) -> PassResult:
        path = "t.csv" if name == "tower" else "s.csv"
        info = self.sources[name].stat(path)
        assert info is not None
        return self.ingestors[name].run(self.sources[name], info)

    def kept_lines(self) -> list[int]:
        """Every tower line kept for corrections and alerts, as often as it is kept."""
        db = self.dbs[0]
        lines: list[int] = []
        for row in db.query("SELECT data FROM farm_chunks ORDER BY id"):
            lines += orjson.loads(row["data"])["line"]
        return sorted(lines)

    def published_lines(self) -> list[int]:
        db = self.dbs[0]
        lines: list[int] = []
        for row in db.query("SELECT topic, payload FROM outbox ORDER BY seq"):
            if row["topic"].endswith("/tower"):
                lines += [r["line"] for r in orjson.loads(row["payload"])["records"]]
        return sorted(lines)

    def alerts(self) -> list[dict[str, Any]]:
        self.worker.step()
        self.worker.step()
        db = self.dbs[0]
        return [
            orjson.loads(row["payload"])
            for row in db.query("SELECT topic, payload FROM outbox ORDER BY seq")
            if row["topic"].endswith("/alerts")
        ]

    def close(self) -> None:
        for db in self.dbs:
            db.close()


@pytest.fixture
def passes(tmp_path: Path) -> Any:
    created: list[FarmPasses] = []

    def make(name: str) -> FarmPasses:
        p = FarmPasses(tmp_path / name)
        created.append(p)
        return p

    yield make
    for p in created:
        p.close()


def test_a_stop_at_a_batch_boundary_keeps_each_reading_once(passes: Any) -> None:
    whole = passes("whole")
    whole.read("seeding")
    assert whole.read("tower").complete
    expected_alerts = whole.alerts()
    assert [a["event"] for a in expected_alerts] == ["open", "close"]
    assert whole.kept_lines() == list(range(2, 302))

    stopped = passes("stopped")
    stopped.read("seeding")
    stopped.commits = 0
    stopped.stop_after_commit = 1  # stop right after the first commit inside the file
    first = stopped.read("tower")
    assert not first.complete
    assert 0 < first.published < 300
    stopped.stop.clear()
    stopped.stop_after_commit = None
    second = stopped.read("tower")
    assert second.complete
    assert first.published + second.published == 300

    assert stopped.kept_lines() == list(range(2, 302))  # each reading kept once
    assert stopped.published_lines() == list(range(2, 302))  # and published once
    assert stopped.alerts() == expected_alerts


def test_every_commit_point_of_a_file_gives_the_same_result(passes: Any) -> None:
    """A stop after each possible commit (one after another), then the rest of the file."""
    whole = passes("reference")
    whole.read("seeding")
    whole.read("tower")
    expected_alerts = whole.alerts()
    commits = whole.commits - 1  # seeding's commit is counted too
    assert commits >= 3
    for stop_at in range(1, commits):
        p = passes(f"stop-{stop_at}")
        p.read("seeding")
        p.commits = 0
        p.stop_after_commit = stop_at
        assert not p.read("tower").complete
        p.stop.clear()
        p.stop_after_commit = None
        assert p.read("tower").complete
        assert p.kept_lines() == list(range(2, 302)), stop_at
        assert p.alerts() == expected_alerts, stop_at
