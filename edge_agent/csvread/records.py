"""One record as the reader hands it on: fields (or the problem), line numbers, byte offsets."""

from __future__ import annotations

from dataclasses import dataclass

RAW_LIMIT = 4096  # characters of raw text kept for a quarantine entry


@dataclass(slots=True)
class RawRecord:
    """One CSV record as read: its fields, or the problem that kept it from being read."""

    line: int
    next_line: int
    end_offset: int
    fields: list[str] | None
    problem: str | None
    lines: list[str]
    start_offset: int = -1  # byte offset where the record starts
    # False when its last line has no line end (the end of a complete file, or of an idle log):
    # a row the writer may have cut, and a physical line whose next bytes continue it.
    terminated: bool = True

    @property
    def raw(self) -> str:
        """The record's text as in the file, newline removed, cut to RAW_LIMIT characters."""
        text = "".join(self.lines)
        if text.endswith("\r\n"):
            text = text[:-2]
        elif text.endswith(("\n", "\r")):
            text = text[:-1]
        return text[:RAW_LIMIT]

    @property
    def blank(self) -> bool:
        """True for a row without any value: an empty line, blanks, or only delimiters."""
        fields = self.fields
        if fields is None:
            return False
        if not fields:
            return True
        return not fields[0].strip() and not "".join(fields).strip()
