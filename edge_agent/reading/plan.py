"""What a reading pass does with a file, decided before any row is read.

A file the ledger knows is resumed where its rows stop being in the outbox, unless it is no
longer the file that was read (truncated or rewritten in place, or back after it was moved
away): then it is read again from the start as a new version, with new batchIds. A file that
could not be read with its dataset (quarantined whole) is not looked at again at each growth,
but is read again as a new version once its dataset's configuration changed (the fix). A
complete file with the same bytes as one already read is a copy and is skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import BinaryIO, Literal

from edge_agent.identity import changed_in_place, content_fingerprint
from edge_agent.state.ledger import FileRecord, Ledger

log = logging.getLogger("edge_agent.reading")

Action = Literal["read", "record", "nothing"]


@dataclass(frozen=True, slots=True)
class Plan:
    """The decision for one pass.

    ``read``: read rows from the file's committed offset. ``record``: read no row, record the
    whole file as dealt with in ``state`` (a copy, a file that failed before, an empty file).
    ``nothing``: nothing to do yet (an empty growing log).
    """

    record: FileRecord
    action: Action
    state: str = "reading"
    note: str | None = None
    content_fp: str | None = None


def plan_pass(
    ledger: Ledger,
    source: str,
    path: str,
    stream: BinaryIO,
    size: int,
    *,
    complete: bool,
    skip_duplicates: bool,
    dataset_fp: str,
) -> Plan:
    """Decide what to do with the file at ``path`` whose stream is open (``size`` bytes)."""
    record = ledger.get(source, path) or ledger.create(source, path)
    reason = _new_version_reason(stream, record, size, dataset_fp)
    if reason is not None:
        log.info(
            "reading the file again as a new version",
            extra={"source": source, "path": path, "reason": reason},
        )
        record = ledger.new_version(record, reason)
    elif record.state == "failed":
        # Quarantined whole already: a growing file that still cannot be read is not
        # quarantined again at each growth; a rewrite or a new configuration gets a fresh look.
        return Plan(record, "record", "failed", "quarantined whole before")
    if complete and record.offset == 0 and skip_duplicates and size:
        content_fp = content_fingerprint(stream, size)
        original = ledger.find_duplicate(source, content_fp, record.id)
        if original is not None:
            log.warning(
                "file is a copy of one already read; skipped",
                extra={"source": source, "path": path, "original": original},
            )
            return Plan(
                record, "record", "duplicate", f"same content as {original}, already read: skipped"
            )
    else:
        content_fp = None
    if size == 0:
        if complete:
            return Plan(record, "record", "read", "empty file")
        return Plan(record, "nothing", record.state, "empty file")
    return Plan(record, "read", content_fp=content_fp)


def read_again_reason(record: FileRecord, dataset_fp: str) -> str | None:
    """Why a file the ledger knows must be read again from the start whatever its content
    (asked by ``edge-agent reingest``, or its dataset was fixed after it failed), or None."""
    if record.reread:
        return "reingest requested"
    if (
        record.dataset_fp is not None
        and record.dataset_fp != dataset_fp
        and (record.state == "failed" or record.rows_quarantined)
    ):
        what = "it failed whole" if record.state == "failed" else "it had rows quarantined"
        return f"its dataset's configuration changed since {what}"
    return None


def _new_version_reason(
    stream: BinaryIO, record: FileRecord, size: int, dataset_fp: str
) -> str | None:
    """Why the file must be read again from the start, or None."""
    if record.state == "disposed":
        return "appeared again after disposal"
    changed = changed_in_place(stream, record, size)
    if changed is not None:
        return changed
    return read_again_reason(record, dataset_fp)
