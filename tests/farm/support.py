"""Helpers for the farm tests: what the state database says about held readings and alerts."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def held_readings(state_dir: Path) -> int:
    """Tower readings the farm stage still holds (waiting for context)."""
    path = state_dir / "edge-agent.db"
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM farm_readings WHERE state = 'held'").fetchone()[0])
