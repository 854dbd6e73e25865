"""Where a sweep's episodes run: local worker processes (the default) or Ray actors.

Both engines offer the same few calls to the scheduler (edgecase/sweep/runner.py): a fixed
number of *slots*, each one worker process bound to at most one CARLA server, that run one
episode at a time. One episode per slot makes a dead worker's loss exact: only the episode it
was running is lost and retried, and no other slot notices; the slot gets a fresh process.

Local: each slot is a single-process `ProcessPoolExecutor` started by *forkserver* (spawn where
there is none), never by fork: the embedded camera's moderngl EGL context, and a CARLA client's
threads, must not be copied into a child. The fork server is a fresh interpreter that only
imports edgecase (preloaded, so a replacement worker starts in milliseconds) and creates no
context; workers fork from it. A worker that dies breaks its pool (BrokenProcessPool): the slot
gets a new pool.

Ray: each slot is an actor (`SlotWorker`, one CPU) on a local cluster started here or the
cluster at `--ray-address`; a dead actor (RayActorError) is replaced by a new one. Episodes are
deterministic, so where they run changes no byte of them.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from edgecase.errors import BackendError, InputError
from edgecase.sweep import worker
from edgecase.sweep.jobs import Job

ENGINES = ("local", "ray")
START_TIMEOUT_S = 120.0  # a worker that has not answered by then will not (Ray may be pulling an image)
MATH_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
PRELOAD = ["edgecase.sweep.worker", "edgecase.sim.loop", "edgecase.record", "edgecase.backends.embedded"]


@dataclass(frozen=True)
class Crash:
    """A slot's worker died while running an episode (killed, out of memory, a crash in native code)."""

    message: str


Outcome = dict[str, Any] | Crash  # a worker's row, or how it died


class LocalEngine:
    """Slots as single-process pools on this machine."""

    def __init__(self, sweep_dir: str, settings: Mapping[str, Any], servers: Sequence[str | None]) -> None:
        self._args = (sweep_dir, dict(settings))
        self._servers = list(servers)
        self._context = _start_context()
        self._pools: list[ProcessPoolExecutor | None] = [None] * len(servers)
        self.names = [""] * len(servers)
        with _one_math_thread():
            hellos = [self._start(slot) for slot in range(len(servers))]  # all start at once
        try:
            for slot, hello in enumerate(hellos):
                self.names[slot] = _answer(hello, slot)
        except BackendError:
            self.close(abort=True)
            raise

    @property
    def size(self) -> int:
        return len(self._pools)

    def submit(self, slot: int, job: Job, attempt: int) -> Future:
        pool = self._pools[slot]
        assert pool is not None
        return pool.submit(worker.run_in_process, job.to_dict(), attempt)

    def wait(self, handles: Sequence[Future], timeout: float | None) -> list[tuple[Future, Outcome]]:
        done, _ = wait_futures(handles, timeout=timeout, return_when=FIRST_COMPLETED)
        return [(future, self._outcome(future)) for future in done]

    def replace(self, slot: int) -> None:
        """A fresh process for a slot whose worker died or whose episode failed in the backend."""
        old = self._pools[slot]
        if old is not None:
            old.shutdown(wait=False, cancel_futures=True)
        with _one_math_thread():
            hello = self._start(slot)
        self.names[slot] = _answer(hello, slot)

    def close(self, abort: bool = False) -> None:
        """Let idle workers exit; on `abort` (Ctrl-C, an error) end the busy ones too."""
        for pool in self._pools:
            if pool is None:
                continue
            if abort:
                _terminate(pool)
            pool.shutdown(wait=not abort, cancel_futures=True)

    def _start(self, slot: int) -> Future:
        sweep_dir, settings = self._args
        pool = ProcessPoolExecutor(max_workers=1, mp_context=self._context, initializer=worker.init_process,
                                   initargs=(sweep_dir, settings, self._servers[slot], f"local-{slot}"))
        self._pools[slot] = pool
        return pool.submit(worker.hello)

    def _outcome(self, future: Future) -> Outcome:
        try:
            return future.result()
        except BrokenProcessPool:
            return Crash("its worker process died while running it (killed, out of memory, or a crash in native code)")


def _start_context() -> multiprocessing.context.BaseContext:
    """forkserver with edgecase preloaded; spawn where the platform has no forkserver (never fork)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)  # instead of the default ['__main__']: the server needs edgecase only
    return context


@contextmanager
def _one_math_thread() -> Iterator[None]:
    """Single-threaded BLAS/OpenMP in the workers started inside (unless the user chose): the
    workers already fill the cores, and a BLAS pool in each oversubscribes them (2 workers on 2
    cores: 58 -> 45 ms an episode). Set in this process's environment only while the workers (or
    the fork server they come from) start, as the libraries read it once, when they load."""
    chosen = {name: os.environ.get(name) for name in MATH_THREADS}
    os.environ.update({name: "1" for name, value in chosen.items() if value is None})
    try:
        yield
    finally:
        for name, value in chosen.items():
            if value is None:
                os.environ.pop(name, None)


def _answer(hello: Future, slot: int) -> str:
    try:
        return hello.result(timeout=START_TIMEOUT_S)
    except Exception as error:  # BrokenProcessPool, a timeout, the initializer's error
        raise BackendError(f"worker {slot} did not start: {type(error).__name__}: {error}") from None


def _terminate(pool: ProcessPoolExecutor) -> None:
    """End a pool's busy worker now. The executor has no public call for it; its `_processes`
    (pid -> Process) has been there since Python 3.2, and without it the worker just finishes
    its episode first."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()


class RayEngine:
    """Slots as Ray actors: one CPU each, one CARLA server each."""

    def __init__(self, sweep_dir: str, settings: Mapping[str, Any], servers: Sequence[str | None], address: str | None) -> None:
        try:
            import ray
        except ImportError:
            raise InputError("--engine ray needs Ray", hint="pip install 'edgecase[ray]'") from None
        self._ray = ray
        self._started_here = not ray.is_initialized()
        if self._started_here:  # a local cluster sized to the sweep, or the one at the address
            ray.init(address=address, num_cpus=None if address else len(servers), include_dashboard=False)
        cpus = ray.cluster_resources().get("CPU", 0)
        if cpus < len(servers):
            self.close()
            raise InputError(f"the Ray cluster has {cpus:g} CPUs; {len(servers)} workers need one each", hint="pass fewer --workers")
        self._actor = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(worker.SlotWorker)
        self._args = (sweep_dir, dict(settings))
        self._servers = list(servers)
        self._actors: list[Any] = [self._new(slot) for slot in range(len(servers))]
        self.names = self._hello(range(len(servers)))

    @property
    def size(self) -> int:
        return len(self._actors)

    def submit(self, slot: int, job: Job, attempt: int) -> Any:
        return self._actors[slot].run.remote(job.to_dict(), attempt)

    def wait(self, handles: Sequence[Any], timeout: float | None) -> list[tuple[Any, Outcome]]:
        ready, _ = self._ray.wait(list(handles), num_returns=1, timeout=timeout)
        return [(ref, self._outcome(ref)) for ref in ready]

    def replace(self, slot: int) -> None:
        self._ray.kill(self._actors[slot], no_restart=True)
        self._actors[slot] = self._new(slot)
        self.names[slot] = self._hello([slot])[0]

    def close(self, abort: bool = False) -> None:
        for actor in getattr(self, "_actors", []):
            self._ray.kill(actor, no_restart=True)
        if self._started_here:
            self._ray.shutdown()

    def _new(self, slot: int) -> Any:
        sweep_dir, settings = self._args
        return self._actor.remote(sweep_dir, {**settings, "engine": "ray"}, self._servers[slot], f"ray-{slot}")

    def _hello(self, slots: Sequence[int]) -> list[str]:
        try:
            return self._ray.get([self._actors[s].hello.remote() for s in slots], timeout=START_TIMEOUT_S)
        except Exception as error:
            raise BackendError(f"Ray workers did not start: {type(error).__name__}: {error}") from None

    def _outcome(self, ref: Any) -> Outcome:
        try:
            return self._ray.get(ref)
        except (self._ray.exceptions.RayActorError, self._ray.exceptions.WorkerCrashedError) as error:
            return Crash(f"its Ray worker died while running it: {type(error).__name__}: {str(error).splitlines()[0]}")


def make_engine(name: str, sweep_dir: str, settings: Mapping[str, Any], servers: Sequence[str | None],
                ray_address: str | None = None) -> LocalEngine | RayEngine:
    """The engine by name, its slots started (one per entry of `servers`; None: no CARLA server)."""
    if name == "local":
        return LocalEngine(sweep_dir, settings, servers)
    if name == "ray":
        return RayEngine(sweep_dir, settings, servers, ray_address)
    raise InputError(f"unknown engine '{name}' (engines: {', '.join(ENGINES)})")
