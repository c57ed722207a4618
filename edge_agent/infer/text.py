"""The text of a file as ``infer`` looks at it: its encoding, and its head and tail lines.

The encoding is decided the way the agent decides it (``csvread.encoding``): a byte order mark,
UTF-16 without one, else UTF-8. A file that is not valid UTF-8 is read as cp1252, the code page
of European Windows HMIs, and said to be a guess: a single-byte code page cannot be told from
another by its bytes (charset-normalizer named CJK code pages for short cp1252 headers).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from pathlib import Path

from edge_agent.csvread.encoding import detect_encoding

HEAD_BYTES = 8 * 1024 * 1024  # enough for the rows that decide types on any logger file
TAIL_BYTES = 256 * 1024  # the end: footers, and values that only come late


@dataclass
class FileText:
    """The decoded head (and, for a big file, tail) lines of a file, numbered from 1."""

    path: Path
    encoding: str  # what the configuration says: auto, or a codec
    codec: str
    lines: list[str]  # head lines, without line ends
    tail: list[str] = field(default_factory=list)  # last lines of a file larger than the head
    tail_start: int = 0  # 1-based number of tail[0] (0: no separate tail)
    final_newline: bool = True
    notes: dict[str, str] = field(default_factory=dict)  # key -> why unsure

    @property
    def all_lines(self) -> list[str]:
        """Head and tail lines (the tail only when the file is larger than the head)."""
        return self.lines + self.tail


def read_text(path: Path) -> FileText:
    """Decode the head and tail of ``path``."""
    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
        size = f.seek(0, 2)
        tail_bytes = b""
        if size > HEAD_BYTES:
            f.seek(max(HEAD_BYTES, size - TAIL_BYTES))
            tail_bytes = f.read()
    detected = detect_encoding(head[:4096], "auto")
    notes: dict[str, str] = {}
    codec, encoding = detected.codec, "auto"
    body = head[detected.bom_length :]
    try:
        codecs.getincrementaldecoder(codec)().decode(body, final=not tail_bytes)
    except UnicodeDecodeError:
        codec = encoding = "cp1252"
        notes["encoding"] = (
            "not UTF-8: read as cp1252 (Windows, Western Europe); check that °, µ and "
            "accented letters look right"
        )
    text = body.decode(codec, errors="replace")
    lines = _split(text)
    final_newline = text.endswith("\n")
    tail: list[str] = []
    tail_start = 0
    if tail_bytes:
        # The head's last line may be cut: drop it; the tail starts after its first newline.
        lines = lines[:-1]
        decoded = tail_bytes.decode(codec, errors="replace")
        tail = _split(decoded)[1:]
        final_newline = decoded.endswith("\n")
        tail_start = -1  # unknown numbering: tail lines are only looked at, never numbered
    elif not final_newline and lines and lines[-1] == "":
        lines = lines[:-1]
    return FileText(path, encoding, codec, lines, tail, tail_start, final_newline, notes)


def _split(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]
