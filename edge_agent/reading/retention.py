"""The ledger of one source over years: looked up by path, and rows of files long gone forgotten.

Discovery asks the ledger only about the files a listing shows new or changed (``known``), so
a start costs what is on the source, not what was ever read. A ledger row whose file has not
been in the source for ``forget_after`` seconds (moved or deleted after ingestion, deleted by
someone, rotated away) is forgotten, so the database and memory stay bounded. A file still in
the source is never forgotten: the sweep compares with a complete listing, and a file seen
again has its "gone" mark cleared. Rows a stage still needs (held readings, readings kept for
corrections) or with batches in the outbox stay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from edge_agent.reading.plan import read_again_reason
from edge_agent.reading.stage import PendingWork
from edge_agent.sources.discovery import Known
from edge_agent.state.ledger import ROTATED_PREFIX, FileRecord, Ledger

log = logging.getLogger("edge_agent.reading")

PAGE = 5_000  # ledger rows per query of a sweep


def known_of(record: FileRecord, dataset_fp: str) -> Known:
    """What discovery needs of a ledger row."""
    return Known(
        record.size,
        record.mtime_ns,
        record.state,
        tail=record.offset < record.size,
        again=read_again_reason(record, dataset_fp) is not None,
    )


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What one sweep did."""

    marked_gone: int
    back: int
    forgotten: int


class SourceLedger:
    """Ledger lookups and retention for one source (blocking: run in a worker thread)."""

    def __init__(
        self,
        ledger: Ledger,
        source: str,
        dataset_fp: str,
        pending: PendingWork,
        *,
        forget_after: float,
    ) -> None:
        self.ledger = ledger
        self.source = source
        self.dataset_fp = dataset_fp
        self.pending = pending
        self.forget_after = forget_after

    def known(self, paths: Sequence[str]) -> dict[str, Known | None]:
        """What the ledger holds of these files (None: a file it does not know)."""
        records = self.ledger.many(self.source, paths)
        return {
            path: (known_of(records[path], self.dataset_fp) if path in records else None)
            for path in paths
        }

    def to_read_again(self) -> list[str]:
        """Files ``edge-agent reingest`` asked for."""
        return self.ledger.to_read_again(self.source)

    def sweep(
        self, present: Collection[str], now: float, still_there: Callable[[str], bool]
    ) -> SweepResult:
        """Compare the ledger with a listing (``present``): mark rows of files not in it as
        gone, clear the mark of files back, and forget rows gone for ``forget_after`` — each
        confirmed gone by ``still_there`` first (a listing can miss a folder it may not read;
        forgetting a file still there would read it again as new)."""
        after = 0
        gone: list[int] = []
        back: list[int] = []
        old: list[tuple[int, str]] = []
        while page := self.ledger.page(self.source, after, PAGE):
            for file_ref, path, gone_at in page:
                if path in present:
                    if gone_at is not None:
                        back.append(file_ref)
                elif gone_at is None:
                    gone.append(file_ref)
                elif gone_at < now - self.forget_after:
                    old.append((file_ref, path))
            after = page[-1][0]
        if gone:
            self.ledger.mark_gone(gone, now)
        if back:
            self.ledger.mark_gone(back, None)
        forgotten = 0
        if old:
            needed = self.pending.files_with_pending_work(ref for ref, _path in old)
            candidates = [
                ref
                for ref, path in old
                if ref not in needed and (path.startswith(ROTATED_PREFIX) or not still_there(path))
            ]
            forgotten = self.ledger.forget(candidates)
        if forgotten:
            log.info(
                "forgot ledger rows of files long gone from the source",
                extra={"source": self.source, "rows": forgotten},
            )
        return SweepResult(len(gone), len(back), forgotten)
