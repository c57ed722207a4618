"""A fatal error ends ``edge-agent run`` with one clear line per cause and the documented exit
code, never a traceback on the console (the TaskGroup raises an exception group)."""

from __future__ import annotations

import logging

import pytest

from edge_agent.cli import _fatal
from edge_agent.errors import ConfigError, ConfigProblem, StorageFullError
from edge_agent.exit_codes import EXIT_CONFIG, EXIT_FAILED


def test_an_exception_group_is_said_one_line_per_cause(caplog: pytest.LogCaptureFixture) -> None:
    group = ExceptionGroup(
        "unhandled errors in a TaskGroup",
        [StorageFullError("state disk full"), RuntimeError("a bug")],
    )
    with caplog.at_level(logging.INFO, logger="edge_agent.cli"):
        assert _fatal(group) == EXIT_FAILED
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "edge-agent stopped: state disk full",
        "edge-agent stopped on an unexpected error: RuntimeError: a bug (a bug: please report "
        "it with the log; run with logging.level DEBUG for the traceback)",
    ]
    assert not any(r.exc_info for r in caplog.records)


def test_a_configuration_error_inside_a_group_exits_2(caplog: pytest.LogCaptureFixture) -> None:
    problem = ConfigProblem("sources[0].path", "does not exist", "create it")
    nested = ExceptionGroup("outer", [ExceptionGroup("inner", [ConfigError([problem])])])
    with caplog.at_level(logging.INFO, logger="edge_agent.cli"):
        assert _fatal(nested) == EXIT_CONFIG
    assert "sources[0].path: does not exist — create it" in caplog.records[0].problem  # type: ignore[attr-defined]
