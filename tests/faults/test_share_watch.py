"""The suite's own check for early disposal can fail: a file that disappears while a batch of
it is still in the outbox, or before it was wholly read, is reported (fast, no servers)."""

from __future__ import annotations

import time
from pathlib import Path

from edge_agent.state.db import StateDB
from edge_agent.state.ledger import Batch, FileAdvance, Ledger
from edge_agent.state.outbox import Outbox, OutboxGauge
from edge_agent.state.writer import OutboxWriter
from tests.faults.support import ShareWatch, wait_until


def test_share_watch_reports_a_file_gone_before_its_acknowledgement(tmp_path: Path) -> None:
    folder, state = tmp_path / "share", tmp_path / "state"
    folder.mkdir()
    db = StateDB(state)
    try:
        ledger = Ledger(db)
        writer = OutboxWriter(db, OutboxGauge(0, 1 << 30), state_dir=state, min_free_disk_bytes=0)
        sizes = {}
        for name in ("early.csv", "acked.csv", "half.csv"):
            (folder / name).write_bytes(b"ts,v\n1,2\n")
            sizes[name] = 9
            record = ledger.create("src", name)
            done = name != "half.csv"
            writer.commit(
                [(Batch(f"id-{name}", "t", b"{}", 1), record.id)],
                advance=(
                    record.id,
                    FileAdvance(
                        offset=9 if done else 5,
                        next_line=3,
                        state="read" if done else "reading",
                        size=9,
                        mtime_ns=1,
                        published=1,
                        batches=1,
                    ),
                ),
            )
        outbox = Outbox(db)
        acked = [
            i.seq for i in outbox.fetch(0, 10) if i.batch_id in ("id-acked.csv", "id-half.csv")
        ]
        outbox.acknowledge(acked)
        with ShareWatch({"src": folder}, state) as watch:
            time.sleep(0.05)  # the watch has listed the folder once
            for name in sizes:
                (folder / name).unlink()
            assert wait_until(lambda: len(watch.vanished) == 3, 5)
        reasons = {v.path: v.early(sizes[v.path]) for v in watch.vanished}
    finally:
        db.close()
    assert reasons["acked.csv"] is None
    assert "1 batches unacknowledged" in str(reasons["early.csv"])
    assert "while reading at offset 5 of 9" in str(reasons["half.csv"])
