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
from collections.abc import Callable
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
    still_holds: Callable[[FileRecord], bool] = lambda record: False,
) -> Plan:
    """Decide what to do with the file at ``path`` whose stream is open (``size`` bytes).

    ``still_holds(record)``: whether the file at ``record.path`` still has the content that
    record read (a growing log renamed away keeps being read under its new name, by content:
    see :func:`_renamed_log`)."""
    record = ledger.get(source, path)
    if record is None and not complete:
        record = _renamed_log(ledger, source, path, stream, size, still_holds=still_holds)
    if record is None:
        record = ledger.create(source, path)
    reason = _new_version_reason(stream, record, size, dataset_fp)
    if reason is not None:
        log.info(
            "reading the file again as a new version",
            extra={"source": source, "path": path, "reason": reason},
        )
        if not complete and record.offset and changed_in_place(stream, record, size):
            # Rotated in place (a new log under the old name): the old content's row waits for
            # its new name, so that what follows in it is read on, not read again.
            record = ledger.retire(record, reason)
        else:
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


def _renamed_log(
    ledger: Ledger,
    source: str,
    path: str,
    stream: BinaryIO,
    size: int,
    *,
    still_holds: Callable[[FileRecord], bool],
) -> FileRecord | None:
    """A new name for a growing log already part read (``app.log`` -> ``app.log.1``): its
    first bytes and the bytes before its committed offset are those of a row whose file was
    rotated away (or whose path now holds other content). The row moves to the new name and
    reading goes on at its offset, with the same file identity and batchIds."""
    for candidate in ledger.continuations(source):
        if candidate.path == path or changed_in_place(stream, candidate, size) is not None:
            continue
        if candidate.state != "rotated":
            if still_holds(candidate):
                continue  # the original is still there: this is a copy, not a rename
            ledger.retire(candidate, f"rotated: its content continues as {path}")
        log.info(
            "a rotated log continues under a new name; read on from where it was",
            extra={"source": source, "path": path, "was": candidate.path},
        )
        return ledger.adopt(candidate, path)
    return None


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
