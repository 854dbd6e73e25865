"""The sweep manifest: one SQLite database per sweep directory (DIR/manifest.sqlite).

One row per episode, keyed by (scenario sha256, seed, overrides): what it is, where it stands,
and what it gave. SQLite in WAL mode, so the report and `--resume` can read while workers write,
and a killed sweep leaves a consistent database (each status change is one transaction).
Only the coordinating process writes; workers return results to it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

MANIFEST = "manifest.sqlite"
SCHEMA_VERSION = 1
STATUSES = ("pending", "running", "done", "failed")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL               -- JSON
);
CREATE TABLE IF NOT EXISTS episodes (
    key TEXT PRIMARY KEY,             -- scenario_sha256 + ':' + seed + ':' + overrides_sha256[:12]
    scenario_path TEXT NOT NULL,      -- as given on the command line (resolved)
    scenario_name TEXT NOT NULL,
    scenario_sha256 TEXT NOT NULL,
    seed INTEGER NOT NULL,
    overrides TEXT NOT NULL,          -- JSON object: the grid point (param -> value), {} without a grid
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,                       -- the last error: 'file:line:col: message' or a backend failure
    exit_code INTEGER,                -- 0 passed, 1 an expect failed, 2 bad input, 3 backend failure
    plan_sha256 TEXT,
    passed INTEGER,                   -- 1 / 0 / NULL (not run, or nothing evaluated)
    oracles TEXT,                     -- JSON list of {expr, passed, actual}
    metrics TEXT,                     -- JSON object: the episode's metrics (min_ttc_s, min_distance_m, collisions, ...)
    label_counts TEXT,                -- JSON object: class -> labelled objects over all frames (with sensors)
    out_path TEXT,                    -- the episode directory, relative to the sweep directory
    worker TEXT,                      -- which worker ran it (pid, Ray node, CARLA server)
    started_utc TEXT,
    finished_utc TEXT,
    wall_s REAL
);
CREATE INDEX IF NOT EXISTS episodes_status ON episodes(status);
"""


def connect(sweep_dir: Path) -> sqlite3.Connection:
    """The sweep's manifest (created if absent), in WAL mode with a busy timeout."""
    db = sqlite3.connect(Path(sweep_dir) / MANIFEST, timeout=30.0, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a committed row survives a process kill
    db.executescript(SCHEMA)
    db.row_factory = sqlite3.Row
    return db
