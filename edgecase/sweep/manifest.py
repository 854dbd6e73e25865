"""Reading and writing a sweep's manifest (DIR/manifest.sqlite, schema in schema.py).

The coordinator is its only writer, and holds DIR/.sweep.lock (an flock, released by the
kernel however the process ends) while it runs, so two sweeps never write one directory.
Every status change is one committed transaction, so a sweep killed at any instant leaves a
manifest that `--resume` can trust: a row is 'done' only after its directory was renamed into
place, and a 'running' row is checked against the disk (`recover`).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from edgecase.errors import InputError
from edgecase.sweep.jobs import BadScenario, Job, canonical
from edgecase.sweep.outcome import recovered_columns
from edgecase.sweep.schema import MANIFEST, SCHEMA, SCHEMA_VERSION, connect

LOCK = ".sweep.lock"
RESULT_COLUMNS = ("status", "exit_code", "error", "plan_sha256", "passed", "oracles", "metrics", "label_counts",
                  "out_path", "worker", "started_utc", "finished_utc", "wall_s")


def lock_sweep_dir(sweep_dir: Path) -> IO[str]:
    """Hold the directory's lock for as long as the returned file stays open."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    handle = open(sweep_dir / LOCK, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise InputError(f"another sweep is running in {sweep_dir} (it holds {sweep_dir / LOCK})") from None
    return handle


@dataclass(frozen=True)
class Recovery:
    """What `recover` found of a stopped sweep."""

    finished_on_disk: int  # 'running' / 'pending' rows whose episode directory was complete: now 'done'
    requeued: int  # 'running' rows of the dead sweep, and backend failures, back to 'pending'
    temporaries: int  # half-written `.NAME.tmp-PID` (and `.NAME.old-PID`) directories removed


class Manifest:
    """The sweep directory's manifest, open for the coordinator."""

    def __init__(self, sweep_dir: Path) -> None:
        self.sweep_dir = sweep_dir
        self.db = connect(sweep_dir)

    @classmethod
    def create(cls, sweep_dir: Path, config: dict[str, Any], jobs: list[Job], bad: list[BadScenario]) -> Manifest:
        """A new manifest with every row 'pending' (bad files 'failed'), written aside and renamed
        into place: a sweep killed while creating it leaves none, so no --resume is asked for."""
        tmp = sweep_dir / f".{MANIFEST}.tmp-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        db = sqlite3.connect(tmp)
        db.executescript(SCHEMA)
        with db:
            meta = {"schema_version": SCHEMA_VERSION, "created_utc": utc_now(), "config": config}
            db.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
            db.executemany("INSERT INTO episodes (key, scenario_path, scenario_name, scenario_sha256, seed, overrides, out_path, "
                           "status) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')", [_identity(j) for j in jobs])
            db.executemany("INSERT INTO episodes (key, scenario_path, scenario_name, scenario_sha256, seed, overrides, out_path, "
                           "status, attempts, error, exit_code, finished_utc) VALUES (?, ?, ?, ?, ?, ?, ?, 'failed', 1, ?, ?, ?)",
                           [(*_identity(b.job), str(b.error), b.error.exit_code, utc_now()) for b in bad])
        db.close()
        os.replace(tmp, sweep_dir / MANIFEST)
        return cls(sweep_dir)

    @classmethod
    def open(cls, sweep_dir: Path) -> Manifest:
        if not (sweep_dir / MANIFEST).is_file():
            raise InputError(f"no sweep to resume in {sweep_dir} (no {MANIFEST})", hint="run it without --resume first")
        manifest = cls(sweep_dir)
        version = manifest.meta("schema_version")
        if version != SCHEMA_VERSION:
            raise InputError(f"{sweep_dir / MANIFEST}: manifest version {version}; this edgecase reads {SCHEMA_VERSION}")
        return manifest

    def meta(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row["value"])

    def recover(self) -> Recovery:
        """Make a stopped sweep's rows true again before anything runs (the lock is held, so no
        worker of ours is writing): remove half-written temporaries, mark complete directories
        'done' from their episode.json, put the rest of 'running' and the backend failures back
        to 'pending' (a resume gives those a fresh retry budget; bad input would fail again)."""
        temporaries = 0
        for tmp in [*self.sweep_dir.glob("episodes/*/.*.tmp-*"), *self.sweep_dir.glob("episodes/*/.*.old-*")]:
            if tmp.parent.is_symlink() or tmp.parent.parent.is_symlink():  # planted inside the sweep: never delete through it (the worker refuses it)
                continue
            shutil.rmtree(tmp, ignore_errors=True)
            temporaries += 1
        finished = requeued = 0
        with self._transaction():
            for row in self.db.execute("SELECT * FROM episodes WHERE status IN ('running', 'pending')").fetchall():
                job = job_of(row)
                columns = recovered_columns(self.sweep_dir / job.out_path, job) if job.out_path else None
                if columns is not None:
                    self._update(job.key, {**columns, "out_path": job.out_path})
                    finished += 1
                elif row["status"] == "running":
                    self.db.execute("UPDATE episodes SET status = 'pending' WHERE key = ?", (job.key,))
                    requeued += 1
            requeued += self.db.execute("UPDATE episodes SET status = 'pending' WHERE status = 'failed' AND exit_code = 3").rowcount
        return Recovery(finished, requeued, temporaries)

    def pending(self) -> list[tuple[Job, int]]:
        """The rows still to run, in the order they were listed, with their attempts so far."""
        rows = self.db.execute("SELECT * FROM episodes WHERE status = 'pending' ORDER BY rowid").fetchall()
        return [(job_of(row), row["attempts"]) for row in rows]

    def start(self, key: str, attempt: int, worker: str) -> None:
        self.db.execute("UPDATE episodes SET status = 'running', attempts = ?, worker = ?, started_utc = ? WHERE key = ?",
                        (attempt, worker, utc_now(), key))

    def record(self, key: str, columns: dict[str, Any]) -> None:
        """A worker's row (done, failed, or back to 'pending' for a retry): one statement, one transaction."""
        self._update(key, columns)

    def rows(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM episodes ORDER BY rowid").fetchall()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """Several statements as one (the connection commits each statement on its own otherwise)."""
        self.db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _update(self, key: str, columns: dict[str, Any]) -> None:
        names = [c for c in RESULT_COLUMNS if c in columns]
        assignments = ", ".join(f"{c} = ?" for c in names)
        self.db.execute(f"UPDATE episodes SET {assignments} WHERE key = ?", (*(columns[c] for c in names), key))


def job_of(row: sqlite3.Row) -> Job:
    return Job(row["key"], row["scenario_path"], row["scenario_name"], row["scenario_sha256"], row["seed"],
               json.loads(row["overrides"]), row["out_path"])


def _identity(job: Job) -> tuple[Any, ...]:
    return (job.key, job.scenario_path, job.scenario_name, job.scenario_sha256, job.seed, canonical(job.overrides), job.out_path)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat()
