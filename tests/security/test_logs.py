"""Log lines cannot be forged or leak: file names from a share are written escaped (one event,
one line, no terminal escapes), and secret-looking keys are masked at any depth."""

from __future__ import annotations

import json
import logging

import pytest

from edge_agent.logs import JsonFormatter, TextFormatter

HOSTILE = "a.csv\n2026-11-27T01:00:00.000Z ERROR   edge_agent.agent: forged\r\x1b[2K\x00"


def record(**extra: object) -> logging.LogRecord:
    rec = logging.LogRecord(
        "edge_agent.test", logging.WARNING, __file__, 1, "file %s", ("x",), None
    )
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()])
def test_a_hostile_file_name_stays_on_one_escaped_line(formatter: logging.Formatter) -> None:
    line = formatter.format(record(path=HOSTILE, source="s"))
    assert "\n" not in line and "\r" not in line
    assert not any(ord(c) < 0x20 or c == "\x7f" for c in line), repr(line)
    if isinstance(formatter, JsonFormatter):
        assert json.loads(line)["path"] == HOSTILE  # nothing lost, only escaped


def test_a_hostile_message_argument_stays_on_one_line() -> None:
    rec = logging.LogRecord("edge_agent.t", logging.INFO, __file__, 1, "read %s", (HOSTILE,), None)
    line = TextFormatter().format(rec)
    assert "\n" not in line and "\x1b" not in line


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()])
def test_secret_keys_are_masked_at_any_depth(formatter: logging.Formatter) -> None:
    line = formatter.format(
        record(smb={"server": "h", "password": "pw-1"}, items=[{"apiToken": "tok-2"}], key="k-3")
    )
    for secret in ("pw-1", "tok-2", "k-3"):
        assert secret not in line
    assert "server" in line
