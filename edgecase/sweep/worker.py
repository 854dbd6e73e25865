"""The code that runs in a sweep's worker processes: one episode per call, its row back to the coordinator.

A worker is a `SlotWorker`: in a local single-process pool (`init_process` / `run_in_process`)
or as a Ray actor. Each is bound for its whole life to at most one CARLA server (the carla
backend's `host` option), so a server is never shared. Workers never touch the manifest: they
return the row's columns and the coordinator, the manifest's only writer, records them.

Failures come back as rows too, classified for the coordinator's retry policy: a BackendError
is `retryable` (the simulator may answer next time), bad input (InputError, with its
file:line:col) and bugs are not: they would fail the same way again.

Test hook ($EDGECASE_SWEEP_FAULTS, read by the coordinator and passed in `settings`, so that
it reaches workers however they were started): `NAME:SEED=KIND[@ATTEMPT];...` (SEED `*`: every
seed) with KIND `backend` (raise BackendError halfway through the episode), `crash` (os._exit
halfway, as a segfaulting simulator client would) or `crash-after` (os._exit once the episode is
renamed into place, before its row is returned), on every attempt or only on attempt ATTEMPT.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgecase import api
from edgecase.errors import BackendError, EdgecaseError, InputError
from edgecase.scenario import Scenario
from edgecase.sweep.jobs import Job
from edgecase.sweep.outcome import episode_columns

FAULTS_ENV = "EDGECASE_SWEEP_FAULTS"
CRASH_EXIT = 70  # what an injected crash exits with (EX_SOFTWARE)
FAULT_KINDS = ("backend", "crash", "crash-after")


@dataclass(frozen=True)
class Fault:
    kind: str  # one of FAULT_KINDS
    attempt: int | None  # only on this attempt; None: on every attempt


def parse_faults(text: str | None) -> dict[str, Fault]:
    """`child:3=backend@1;child:5=crash` -> {'child:3': Fault('backend', 1), 'child:5': Fault('crash', None)}."""
    faults: dict[str, Fault] = {}
    for item in filter(None, (part.strip() for part in (text or "").replace(",", ";").split(";"))):
        target, _, spec = item.partition("=")
        kind, _, attempt = spec.partition("@")
        if kind not in FAULT_KINDS or not target or (attempt and not attempt.isdigit()):
            raise InputError(f"{FAULTS_ENV}: '{item}' is not NAME:SEED={'|'.join(FAULT_KINDS)}[@ATTEMPT]")
        faults[target] = Fault(kind, int(attempt) if attempt else None)
    return faults


class SlotWorker:
    """Runs episodes in this process for one slot of the sweep (and one CARLA server, if any)."""

    def __init__(self, sweep_dir: str, settings: Mapping[str, Any], server: str | None = None, slot: str = "worker") -> None:
        self.sweep_dir = Path(sweep_dir)
        self.settings = dict(settings)
        self.faults = {k: Fault(*v) for k, v in self.settings.get("faults", {}).items()}  # (kind, attempt) pairs
        where = f" {socket.gethostname()}" if self.settings.get("engine") == "ray" else ""  # Ray: which node
        self.name = f"{slot}{where} pid {os.getpid()}" + (f" carla {server}" if server else "")
        self.backend_options = {"host": server} if server else {}
        self._scenarios: dict[str, Scenario] = {}

    def hello(self) -> str:
        """Its name; answering also proves the process is up (the coordinator waits for it)."""
        return self.name

    def run(self, job_data: Mapping[str, Any], attempt: int) -> dict[str, Any]:
        """Run one episode; its manifest columns, plus `retryable` for the coordinator."""
        job = Job.from_dict(job_data)
        started_utc, started = _utc_now(), time.perf_counter()
        retryable = False
        try:
            columns = self._episode(job, attempt)
        except BackendError as error:
            columns, retryable = _failed(error.exit_code, str(error)), True
        except EdgecaseError as error:
            columns = _failed(error.exit_code, str(error))
        except Exception as error:  # a bug: retrying would fail the same way; say what it was
            columns = _failed(3, f"internal error (please report): {type(error).__name__}: {error}")
        return {**columns, "out_path": job.out_path, "worker": self.name, "started_utc": started_utc,
                "finished_utc": _utc_now(), "wall_s": round(time.perf_counter() - started, 4), "retryable": retryable}

    def _episode(self, job: Job, attempt: int) -> dict[str, Any]:
        scenario = self._scenario(job)
        out = _inside(self.sweep_dir, str(job.out_path))
        settings, fault = self.settings, self._fault(job, attempt)
        api.run(scenario, job.seed, out=out, backend=settings["backend"], overrides=job.overrides,
                sensors=settings.get("sensors") or False, frame_every=settings.get("frame_every"),
                progress=fault and self._halfway(fault, attempt), backend_options=self.backend_options,
                modifiers=settings.get("modifiers"))
        if fault and fault.kind == "crash-after":
            os._exit(CRASH_EXIT)
        return episode_columns(out)

    def _scenario(self, job: Job) -> Scenario:
        """Loaded once per process; refused if the file's content changed since the sweep began,
        since the manifest's key and the episode would then describe two different scenarios."""
        scenario = self._scenarios.get(job.scenario_path)
        if scenario is None:
            scenario = self._scenarios[job.scenario_path] = api.load(job.scenario_path)
        if scenario.sha256 != job.scenario_sha256:
            raise InputError(f"{job.scenario_path} changed since the sweep started (its content hash differs)",
                             hint="start a new sweep (another --out) for the new version")
        return scenario

    def _fault(self, job: Job, attempt: int) -> Fault | None:
        """The test hook's fault for this episode and attempt, if any."""
        fault = self.faults.get(f"{job.scenario_name}:{job.seed}") or self.faults.get(f"{job.scenario_name}:*")
        return fault if fault is not None and fault.attempt in (None, attempt) else None

    @staticmethod
    def _halfway(fault: Fault, attempt: int) -> Callable[[int, int], None] | None:
        """A progress callback that fails the episode halfway (None for a fault that comes later)."""
        if fault.kind not in ("backend", "crash"):
            return None

        def fail_halfway(tick: int, total: int) -> None:
            if tick == max(1, total // 2):
                if fault.kind == "crash":
                    os._exit(CRASH_EXIT)  # no clean-up at all: a half-written temporary stays behind
                raise BackendError(f"injected backend failure ({FAULTS_ENV}) at tick {tick}, attempt {attempt}")

        return fail_halfway


def _inside(sweep_dir: Path, out_path: str) -> Path:
    """The episode's directory, refused if its path leaves the sweep or passes through a symbolic
    link planted inside it (episodes/NAME -> /elsewhere): a sweep writes only inside its --out."""
    relative = Path(out_path)
    if relative.is_absolute() or ".." in relative.parts or relative.parts[:1] != ("episodes",):
        raise InputError(f"episode path {out_path!r} is not under {sweep_dir / 'episodes'}")
    place = sweep_dir
    for part in relative.parts:
        place = place / part
        if place.is_symlink():
            raise InputError(f"{place} is a symbolic link: a sweep writes only inside {sweep_dir}, never through a link",
                             hint="remove the link (or start the sweep in another --out)")
    return place


def _failed(exit_code: int, error: str) -> dict[str, Any]:
    return {"status": "failed", "exit_code": exit_code, "error": error}


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat()


# --- the local engine's process pool: one SlotWorker per process ------------------------------

_worker: SlotWorker | None = None


def init_process(sweep_dir: str, settings: Mapping[str, Any], server: str | None, slot: str) -> None:
    """The pool's initializer. Ctrl-C goes to the coordinator alone, which then ends the workers:
    a worker that also got it would print a traceback per process."""
    import signal

    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker = SlotWorker(sweep_dir, settings, server, slot)


def hello() -> str:
    assert _worker is not None, "init_process did not run"
    return _worker.hello()


def run_in_process(job_data: Mapping[str, Any], attempt: int) -> dict[str, Any]:
    assert _worker is not None, "init_process did not run"
    return _worker.run(job_data, attempt)
