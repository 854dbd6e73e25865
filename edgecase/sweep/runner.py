"""`run_sweep`: scenario files in, a sweep directory out (manifest, episodes, datasets, report).

    from edgecase.sweep import run_sweep
    summary = run_sweep(["scenarios/"], "out/sweep", episodes=50, workers=2)
    summary.exit_code, summary.counts, print(summary)

The coordinator (this module, in the calling process) expands the scenarios into jobs, writes
the manifest, hands jobs to an engine's slots one at a time per slot, records each row as it
comes back, and retries backend failures with exponential backoff. It never simulates itself.
"""

from __future__ import annotations

import heapq
import os
import shutil
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

from edgecase import api
from edgecase.errors import EdgecaseError, InputError
from edgecase.plan.modifiers import Modifiers
from edgecase.sweep.engines import ENGINES, Crash, make_engine
from edgecase.sweep.jobs import NO_SEED, Job, expand, parse_seeds, parse_shard
from edgecase.sweep.manifest import Manifest, lock_sweep_dir
from edgecase.sweep.outcome import recovered_columns
from edgecase.sweep.progress import LogReporter, make_reporter
from edgecase.sweep.schema import MANIFEST
from edgecase.sweep.worker import FAULTS_ENV, parse_faults

CONTENT = ("scenarios", "seeds", "backend", "sensors", "frame_every", "shard", "modifiers")  # what a resume may not change
MAX_BACKOFF_S = 60.0
RETIRE_AFTER = 5  # a slot on which this many different episodes failed in a row is taken out of the sweep


@dataclass
class SweepSummary:
    """What a sweep left, read back from its manifest (so a resumed sweep counts every run)."""

    sweep_dir: Path
    counts: dict[str, int]  # rows by status: pending, running, done, failed
    outcomes: dict[str, int]  # passed, expect_failed, no_verdict (done rows); bad_input, backend (failed rows)
    realization: dict[str, tuple[int, int, int]]  # scenario -> (expect held, done, done with a verdict)
    datasets: dict[str, Path] = field(default_factory=dict)
    report: Path | None = None
    notes: list[str] = field(default_factory=list)  # export or report problems
    exit_code: int = 0

    def __str__(self) -> str:
        """The paragraph `edgecase sweep` prints at the end."""
        c, o = self.counts, self.outcomes
        parts = [f"sweep {self.sweep_dir}: {sum(c.values())} episodes: {c.get('done', 0)} done ({o['passed']} expect held, "
                 f"{o['expect_failed']} expect failed, {o['no_verdict']} without a verdict), {c.get('failed', 0)} failed "
                 f"({o['bad_input']} bad input, {o['backend']} backend or internal)"]
        unfinished = c.get("pending", 0) + c.get("running", 0)
        if unfinished:
            parts.append(f", {unfinished} not finished (pass --resume to continue)")
        parts.append(". Realization rate (expect held / done): "
                     + ("; ".join(f"{name} {_rate(*r)}" for name, r in self.realization.items()) or "none") + ".")
        parts += [f" Dataset {fmt}: {path}." for fmt, path in self.datasets.items()]
        parts.append(f" Report: {self.report}." if self.report else " No report written.")
        parts += [f" {note}." for note in self.notes]
        parts.append(f" Exit {self.exit_code}.")
        return "".join(parts)


def run_sweep(
    scenarios: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    episodes: int | None = None,
    seeds: str | None = None,
    workers: int | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    backend: str | None = None,
    carla_servers: Sequence[str] | str | None = None,
    sensors: str | None = None,
    frame_every: int | None = None,
    export: Sequence[str] | None = None,
    shard: str | None = None,
    resume: bool = False,
    retries: int = 2,
    retry_delay_s: float = 1.0,
    quiet: bool = False,
    reporter: LogReporter | None = None,
    modifiers: Modifiers | None = None,
) -> SweepSummary:
    """Run a sweep into `out` (see docs/sweeps.md); returns its summary, exit code included.

    New sweep: `scenarios` (files or directories) with `episodes` N (seeds 0..N-1) or `seeds`
    'A:B' (A..B-1), else each scenario's `sweep:` block. `resume`: continue the sweep in `out`;
    its scenarios and content options are the stored ones (any given must match). Backend
    failures and dead workers are retried `retries` times, after `retry_delay_s` doubling.
    Local workers are processes that import the caller's main module: guard a script's top
    level with `if __name__ == "__main__":`. `modifiers` (weather, sensor degradation) apply to
    every episode and are part of the sweep's content, like `sensors`.
    """
    sweep_dir = Path(out).resolve()
    given = _given_config(scenarios, episodes, seeds, backend, sensors, frame_every, shard, export)
    given["modifiers"] = modifiers.as_dict() if modifiers is not None else None
    _check_execution(engine, ray_address, workers, retries, retry_delay_s)
    servers = read_servers(carla_servers) if isinstance(carla_servers, str) else list(carla_servers or [])
    reporter = reporter or make_reporter(quiet)
    with lock_sweep_dir(sweep_dir):
        manifest, config, slots = _open_manifest(sweep_dir, given, resume, servers, workers, reporter)
        try:
            pending = manifest.pending()
            if pending:  # no more workers than episodes (a resumed, finished sweep starts none)
                slots = slots[:len(pending)]
                _run(manifest, pending, config, slots, engine, ray_address, retries, retry_delay_s, reporter)
            summary = _summarize(manifest)
            done = sorted(sweep_dir / r["out_path"] for r in manifest.rows() if r["status"] == "done")
        finally:
            manifest.close()
        _finish(summary, config.get("export") or [], done, reporter)
    return summary


def read_servers(text: str) -> list[str]:
    """`host:port,host:port`, or a file with one server per line (blank lines and # comments skipped)."""
    path = Path(text)
    if path.is_file():
        lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
        return [line for line in lines if line]
    return [part.strip() for part in text.split(",") if part.strip()]


# --- configuration ---------------------------------------------------------------------------


def _given_config(scenarios, episodes, seeds, backend, sensors, frame_every, shard, export) -> dict[str, Any]:
    """The options given, normalized (paths resolved, seeds as [start, stop]); None: not given."""
    from edgecase.export import FORMATS

    if episodes is not None and seeds is not None:
        raise InputError("give --episodes or --seeds, not both")
    if episodes is not None and episodes < 1:
        raise InputError(f"--episodes must be at least 1, got {episodes}")
    if backend is not None and backend not in api.BACKENDS:
        raise InputError(f"unknown backend '{backend}' (available: {', '.join(api.BACKENDS)})")
    seed_range = range(episodes) if episodes is not None else parse_seeds(seeds) if seeds is not None else None
    if isinstance(export, str):
        export = export.split(",")
    export = [fmt.strip() for fmt in export or [] if fmt.strip()]
    for fmt in export:
        if fmt not in FORMATS:
            raise InputError(f"unknown export format '{fmt}' (formats: {', '.join(FORMATS)})")
    is_path = sensors is not None and ("/" in sensors or sensors.endswith((".yaml", ".yml")))
    return {
        "scenarios": [str(Path(s).resolve()) for s in scenarios] or None,
        "seeds": [seed_range.start, seed_range.stop] if seed_range is not None else None,
        "backend": backend,
        "sensors": str(Path(sensors).resolve()) if is_path else sensors,
        "frame_every": frame_every,
        "shard": list(parse_shard(shard)) if shard is not None else None,
        "export": list(export) if export else None,
    }


def _check_execution(engine: str, ray_address: str | None, workers: int | None, retries: int, delay_s: float) -> None:
    if engine not in ENGINES:
        raise InputError(f"unknown engine '{engine}' (engines: {', '.join(ENGINES)})")
    if ray_address and engine != "ray":
        raise InputError("--ray-address needs --engine ray")
    if workers is not None and workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    if retries < 0 or delay_s < 0:
        raise InputError("--retries and --retry-delay cannot be negative")


def _open_manifest(sweep_dir: Path, given: dict[str, Any], resume: bool, servers: list[str], workers: int | None,
                   reporter: LogReporter) -> tuple[Manifest, dict[str, Any], list[str | None]]:
    """A new sweep's manifest, or a stopped one's, recovered and checked against the options
    given; and the workers' slots. Every option is checked before anything is written, so a
    mistake never leaves a manifest that asks for --resume."""
    if (sweep_dir / MANIFEST).is_file() and not resume:
        raise InputError(f"{sweep_dir} already holds a sweep ({MANIFEST})", hint="pass --resume to continue it, or choose another --out")
    if resume:
        manifest = Manifest.open(sweep_dir)
        try:
            config = _resumed_config(manifest.meta("config"), given, sweep_dir)
            slots = _slots(config["backend"], servers, workers)
        except InputError:
            manifest.close()
            raise
        found = manifest.recover()
        reporter.line(f"resume: {found.finished_on_disk} finished on disk, {found.requeued} back to pending, "
                      f"{found.temporaries} half-written temporaries removed")
    else:
        config = _new_config(given)
        slots = _slots(config["backend"], servers, workers)
        seeds = range(*config["seeds"]) if config["seeds"] else None
        jobs, bad = expand(config["scenarios"], seeds, tuple(config["shard"]) if config["shard"] else None)
        if (sweep_dir / "episodes").exists():
            raise InputError(f"{sweep_dir / 'episodes'} exists but {sweep_dir} holds no sweep", hint="choose another --out")
        manifest = Manifest.create(sweep_dir, config, jobs, bad)
    for row in manifest.rows():
        if row["seed"] == NO_SEED:
            reporter.bad_input(row["error"])
    return manifest, config, slots


def _new_config(given: dict[str, Any]) -> dict[str, Any]:
    if not given["scenarios"]:
        raise InputError("no scenarios given", hint="name scenario files or directories (or pass --resume)")
    config = {**given, "backend": given["backend"] or "embedded"}
    if config["export"] and not config["sensors"]:
        raise InputError("--export needs --sensors RIG: datasets are made of the rig's frames and labels")
    if config["sensors"]:
        from edgecase.sensors import load_rig

        load_rig(config["sensors"])  # a bad rig is one error now, not one per episode
    return config


def _resumed_config(stored: dict[str, Any] | None, given: dict[str, Any], sweep_dir: Path) -> dict[str, Any]:
    if not stored:
        raise InputError(f"{sweep_dir / MANIFEST} has no sweep configuration")
    differ = [k for k in CONTENT if given[k] is not None and given[k] != stored.get(k)]
    if differ:
        raise InputError(f"--resume: {', '.join(differ)} differ from the sweep in {sweep_dir}",
                         hint="resume with the same options (or none of them), or start a new sweep in another --out")
    config = {**stored, "export": given["export"] if given["export"] is not None else stored.get("export")}
    if config["export"] and not config["sensors"]:
        raise InputError("--export needs a sweep recorded with --sensors RIG (this one has no sensor data)")
    return config


def _slots(backend: str, servers: list[str], workers: int | None) -> list[str | None]:
    """One entry per worker: its CARLA server (never shared), or None with the embedded backend."""
    if backend != "carla":
        if servers:
            raise InputError("--carla-servers needs --backend carla")
        return [None] * (workers or os.cpu_count() or 1)
    from edgecase.backends.carla.connection import HOST_ENV, resolve_address  # the bridge only when asked for

    servers = servers or ([os.environ[HOST_ENV]] if os.environ.get(HOST_ENV) else [])
    if not servers:
        raise InputError("--backend carla needs --carla-servers host:port,... (one server per worker)")
    resolved = [str(resolve_address(s)) for s in servers]
    if len(set(resolved)) != len(resolved):
        raise InputError("--carla-servers lists a server twice: each worker needs a server of its own")
    if workers is not None and workers != len(resolved):
        raise InputError(f"--workers {workers} but {len(resolved)} CARLA servers: with CARLA the worker count is the server count")
    return resolved


# --- running ---------------------------------------------------------------------------------


def _run(manifest: Manifest, pending: list[tuple[Job, int]], config: dict[str, Any], slots: list[str | None],
         engine_name: str, ray_address: str | None, retries: int, delay_s: float, reporter: LogReporter) -> None:
    faults = parse_faults(os.environ.get(FAULTS_ENV))
    settings = {"backend": config["backend"], "sensors": config["sensors"], "frame_every": config["frame_every"],
                "modifiers": config.get("modifiers"),
                "faults": {k: (f.kind, f.attempt) for k, f in faults.items()}}
    engine = make_engine(engine_name, str(manifest.sweep_dir), settings, slots, ray_address)
    rows = manifest.rows()
    reporter.start(len(rows), sum(r["status"] in ("done", "failed") for r in rows), engine.names)
    try:
        _Scheduler(manifest, engine, reporter, retries, delay_s).run(pending)
    except BaseException:
        engine.close(abort=True)  # Ctrl-C or a bug: end the workers; their rows stay 'running' for --resume
        raise
    finally:
        reporter.close()
    engine.close()


class _Scheduler:
    """Keeps every slot busy with one episode, records rows, retries backend failures, and
    replaces the worker of a slot whose episode failed for a backend reason or whose process died
    (a fresh process, a fresh connection to its CARLA server). A slot that fails RETIRE_AFTER
    episodes in a row (its server is down for good) is retired; with none left the sweep stops,
    its remaining rows 'pending' for a --resume."""

    def __init__(self, manifest: Manifest, engine: Any, reporter: LogReporter, retries: int, delay_s: float) -> None:
        self.manifest, self.engine, self.reporter = manifest, engine, reporter
        self.retries, self.delay_s = retries, delay_s
        self.failures: Counter[str] = Counter()  # retryable failures this run: the retry budget
        self.attempts: dict[str, int] = {}
        self.ready: deque[Job] = deque()
        self.waiting: list[tuple[float, int, Job]] = []  # (when, tie-break, job): backing off
        self.free = list(reversed(range(engine.size)))
        self.streak: list[set[str]] = [set() for _ in range(engine.size)]  # episodes failed in a row, per slot
        self._order = count()

    def run(self, pending: list[tuple[Job, int]]) -> None:
        self.ready.extend(job for job, _ in pending)
        self.attempts.update((job.key, attempts) for job, attempts in pending)
        in_flight: dict[Any, tuple[int, Job, int]] = {}
        while (self.ready or self.waiting or in_flight) and (self.free or in_flight):
            self._fill(in_flight)
            due = self.waiting[0][0] - time.monotonic() if self.waiting else None
            if not in_flight:
                time.sleep(max(0.0, due or 0.0))
                continue
            for handle, outcome in self.engine.wait(list(in_flight), None if due is None else max(0.0, due)):
                slot, job, attempt = in_flight.pop(handle)
                name = self.engine.names[slot]
                row = self._crashed(job, name, outcome) if isinstance(outcome, Crash) else outcome
                self._slot_after(slot, name, job, failed=row.get("retryable", False), dead=isinstance(outcome, Crash))
                self._fill(in_flight)  # the slot's next episode first: the bookkeeping can wait, the worker not
                self._settle(job, attempt, row)

    def _fill(self, in_flight: dict[Any, tuple[int, Job, int]]) -> None:
        """An episode for every free slot. A row is marked 'running' just after its submission:
        killed in between, it stays 'pending', which --resume handles as it handles 'running'."""
        self._release_due()
        while self.free and self.ready:
            slot, job = self.free.pop(), self.ready.popleft()
            attempt = self.attempts[job.key] = self.attempts[job.key] + 1
            in_flight[self.engine.submit(slot, job, attempt)] = (slot, job, attempt)
            self.manifest.start(job.key, attempt, self.engine.names[slot])

    def _release_due(self) -> None:
        now = time.monotonic()
        while self.waiting and self.waiting[0][0] <= now:
            self.ready.append(heapq.heappop(self.waiting)[2])

    def _crashed(self, job: Job, worker: str, crash: Crash) -> dict[str, Any]:
        """A dead worker's episode: done if it was renamed into place before the death, else a
        retryable failure with its half-written temporary removed."""
        out = self.manifest.sweep_dir / str(job.out_path)
        columns = recovered_columns(out, job)
        if columns is not None:
            self.reporter.line(f"worker {worker} died after writing {job.label}: the episode is whole, kept")
            return {**columns, "out_path": job.out_path, "worker": worker}
        for tmp in [] if out.parent.is_symlink() else out.parent.glob(f".{out.name}.tmp-*"):  # never through a planted link
            shutil.rmtree(tmp, ignore_errors=True)
        return {"status": "failed", "exit_code": 3, "error": f"worker {worker}: {crash.message}", "worker": worker, "retryable": True}

    def _settle(self, job: Job, attempt: int, row: dict[str, Any]) -> None:
        """Record a finished attempt: final, or back to 'pending' to retry after a backoff."""
        row = dict(row)
        retryable = row.pop("retryable", False)
        if row["status"] == "failed" and retryable and self.failures[job.key] < self.retries:
            self.failures[job.key] += 1
            delay = min(self.delay_s * 2 ** (self.failures[job.key] - 1), MAX_BACKOFF_S)
            self.manifest.record(job.key, {**row, "status": "pending"})
            self.reporter.retry(job, row["error"], attempt, delay)
            heapq.heappush(self.waiting, (time.monotonic() + delay, next(self._order), job))
            return
        self.manifest.record(job.key, row)
        self.reporter.episode(job, {**row, "attempts": attempt})

    def _slot_after(self, slot: int, name: str, job: Job, failed: bool, dead: bool) -> None:
        """Back to work, with a fresh worker after a backend failure or a death, or retired.
        The streak counts different episodes, so that one episode failing the same way on every
        retry cannot retire a healthy worker: a dead server fails whatever it is given."""
        streak = self.streak[slot]
        if failed:
            streak.add(job.key)
        else:
            streak.clear()
        if len(streak) >= RETIRE_AFTER:
            left = sum(len(other) < RETIRE_AFTER for other in self.streak)
            self.reporter.line(f"worker {name} retired: {RETIRE_AFTER} episodes failed in a row (is its server down?); {left} left")
            return
        if failed or dead:
            self.engine.replace(slot)
        self.free.append(slot)


# --- the end: summary, datasets, report ------------------------------------------------------


def _summarize(manifest: Manifest) -> SweepSummary:
    rows = manifest.rows()
    counts = Counter(r["status"] for r in rows)
    done = [r for r in rows if r["status"] == "done"]
    failed = [r for r in rows if r["status"] == "failed"]
    outcomes = {"passed": sum(r["passed"] == 1 for r in done), "expect_failed": sum(r["passed"] == 0 for r in done),
                "no_verdict": sum(r["passed"] is None for r in done), "bad_input": sum(r["exit_code"] == 2 for r in failed),
                "backend": sum(r["exit_code"] != 2 for r in failed)}
    realization: dict[str, list[int]] = {}
    for r in rows:  # as the report counts it: expect held / done (its realization_rate)
        if r["seed"] != NO_SEED:
            tally = realization.setdefault(r["scenario_name"], [0, 0, 0])
            tally[0] += r["status"] == "done" and r["passed"] == 1
            tally[1] += r["status"] == "done"
            tally[2] += r["status"] == "done" and r["passed"] is not None
    code = max([2] * bool(outcomes["bad_input"]) + [3] * bool(outcomes["backend"]) + [1] * bool(outcomes["expect_failed"]) + [0])
    if counts.get("pending") or counts.get("running"):
        code = max(code, 3)  # not everything ran: not a success
    return SweepSummary(manifest.sweep_dir, dict(counts), outcomes, {k: tuple(v) for k, v in realization.items()}, exit_code=code)


def _finish(summary: SweepSummary, formats: list[str], episodes: list[Path], reporter: LogReporter) -> None:
    """The merged datasets (one per --export format, of every done episode in path order) and
    the report; their failures become notes and count in the exit code."""
    sweep_dir = summary.sweep_dir
    if formats:
        from edgecase.export import export

        for fmt in formats:
            try:
                result = export(episodes, fmt, sweep_dir / f"dataset-{fmt}", force=True)
            except EdgecaseError as error:
                summary.notes.append(f"export {fmt} failed: {error}")
                summary.exit_code = max(summary.exit_code, error.exit_code)
                continue
            summary.datasets[fmt] = result.out
            reporter.line(str(result))
    summary.report = _report(summary, reporter)


def _report(summary: SweepSummary, reporter: LogReporter) -> Path | None:
    """DIR/report.json and report.html (edgecase.sweep.report); the HTML's path."""
    try:
        from edgecase.sweep.report import write_report
    except ModuleNotFoundError as error:
        if error.name != "edgecase.sweep.report":
            raise
        reporter.line("report: skipped (this edgecase has no edgecase.sweep.report)")
        return None
    try:
        _, html = write_report(summary.sweep_dir)
    except Exception as error:  # the episodes and the manifest are fine: say so, and that the report is not
        summary.notes.append(f"the report failed: {type(error).__name__}: {error}")
        summary.exit_code = max(summary.exit_code, 3)
        return None
    return html


def _rate(held: int, done: int, judged: int) -> str:
    if not judged:
        return f"n/a ({done} done, no expect evaluated)"
    return f"{100 * held / done:.0f}% ({held}/{done})"
