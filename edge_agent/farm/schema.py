"""The farm's tables in the state database (the farm owns them; the state layer does not know
them). Context rows and held readings are written in the transaction that advances their file.
"""

from __future__ import annotations

from edge_agent.state.db import StateDB

SCHEMA = """
CREATE TABLE IF NOT EXISTS farm_cycle_events (
    tower_id TEXT NOT NULL,
    tray_id TEXT NOT NULL,
    ts REAL NOT NULL,
    event TEXT NOT NULL,
    grow_id TEXT,
    PRIMARY KEY (tower_id, tray_id, ts, event)
);
CREATE TABLE IF NOT EXISTS farm_site (
    site_id TEXT NOT NULL,
    ts REAL NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (site_id, ts)
);
CREATE TABLE IF NOT EXISTS farm_automation (
    tower_id TEXT NOT NULL,
    ts REAL NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (tower_id, ts)
);
-- Tower readings held for their context (not in the outbox yet); the farm worker publishes
-- them and moves them to farm_chunks.
CREATE TABLE IF NOT EXISTS farm_held (
    file_ref INTEGER NOT NULL,
    version INTEGER NOT NULL,
    line INTEGER NOT NULL,
    tower_id TEXT NOT NULL,
    station_id TEXT NOT NULL,
    tray_id TEXT NOT NULL,
    ts REAL NOT NULL,
    record BLOB NOT NULL,
    hold_until REAL NOT NULL,
    PRIMARY KEY (file_ref, version, line)
);
CREATE INDEX IF NOT EXISTS farm_held_station ON farm_held (tower_id, station_id, ts);
CREATE INDEX IF NOT EXISTS farm_held_file ON farm_held (file_ref);
-- Published tower readings kept for corrections and alerts (edge_agent/farm/chunks.py).
CREATE TABLE IF NOT EXISTS farm_chunks (
    id INTEGER PRIMARY KEY,
    file_ref INTEGER NOT NULL,
    version INTEGER NOT NULL,
    tower_id TEXT NOT NULL,
    ts_min REAL NOT NULL,
    ts_max REAL NOT NULL,
    first_line INTEGER NOT NULL,
    last_line INTEGER NOT NULL,
    data BLOB NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS farm_files (
    file_ref INTEGER NOT NULL,
    version INTEGER NOT NULL,
    units BLOB,
    PRIMARY KEY (file_ref, version)
);
CREATE TABLE IF NOT EXISTS farm_alerts (
    tower_id TEXT NOT NULL,
    station_id TEXT NOT NULL,
    variable TEXT NOT NULL,
    since REAL NOT NULL,
    until REAL NOT NULL,
    state TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (tower_id, station_id, variable, since)
);
"""


def ensure_schema(db: StateDB) -> None:
    """Create the farm's tables if this state database does not have them yet."""
    db.ensure_schema(SCHEMA)
