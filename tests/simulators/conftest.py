"""Simulator outputs generated once per session (small periods: the machine is shared)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from simulators.cli import AGENT_CONFIG_NAME, main
from simulators.truth import Truth, load_truth

TOWER_ARGS = ["--seed", "7", "--start", "2026-01-20T00:00:00Z", "--days", "2", "--trays", "8"]
# 2026-10-25 01:00 UTC is the DST fall-back in Europe/Berlin: local 02:00-03:00 happens twice.
FACTORY_ARGS = [
    "--seed",
    "7",
    "--start",
    "2026-10-24T23:00:00Z",
    "--hours",
    "4",
    "--bad-rate",
    "0.02",
]


def generate(out: Path, *args: str) -> Path:
    """Run ``edge-sim`` in-process; fail the test on a non-zero exit."""
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    return out


def tree_digest(root: Path, *, mtimes: bool = False) -> str:
    """SHA-256 over every file's relative path and bytes (and the data files' mtimes); not the
    edge-agent configuration edge-sim writes beside the data, which names the output folder."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != AGENT_CONFIG_NAME):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
        if mtimes and "_truth" not in path.parts:
            digest.update(str(os.stat(path).st_mtime_ns).encode())
    return digest.hexdigest()


@pytest.fixture(scope="session")
def tower_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two days, two towers of eight trays, every fault."""
    return generate(tmp_path_factory.mktemp("tower"), "tower", *TOWER_ARGS, "--faults", "all")


@pytest.fixture(scope="session")
def tower_truth(tower_out: Path) -> Truth:
    """The ground truth of ``tower_out``."""
    return load_truth(tower_out)


@pytest.fixture(scope="session")
def clean_tower_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same site without faults."""
    return generate(tmp_path_factory.mktemp("clean"), "tower", *TOWER_ARGS)


@pytest.fixture(scope="session")
def factory_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four hours of every machine across the DST fall-back, 2 % bad rows."""
    return generate(tmp_path_factory.mktemp("factory"), "factory", *FACTORY_ARGS)


@pytest.fixture(scope="session")
def factory_truth(factory_out: Path) -> Truth:
    """The ground truth of ``factory_out``."""
    return load_truth(factory_out)
