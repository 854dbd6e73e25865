"""What a sweep runs: one `Job` per (scenario, seed, grid point), named by a key that does not
depend on the order of the command line, so that `--resume` and `--shard I/N` can rely on it.

The key is `scenario_sha256:seed:overrides_sha256[:12]` (edgecase/sweep/schema.py): the scenario's
content hash, not its path, so that renaming a file or listing files in another order names the
same episodes. Where an episode lands is `episodes/<scenario name>/s<seed>[-<grid hash 8>]`
under the sweep directory.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgecase.errors import EdgecaseError, InputError
from edgecase.scenario import Scenario, load_scenario
from edgecase.scenario.loader import scenario_files

NO_SEED = -1  # the seed of the one row that records a scenario file which did not load


@dataclass(frozen=True, eq=False)
class Job:
    """One episode of a sweep (or, with seed -1, a scenario file that could not be read)."""

    key: str
    scenario_path: str  # resolved, so a worker in another directory (or on a Ray node) finds it
    scenario_name: str
    scenario_sha256: str
    seed: int
    overrides: Mapping[str, Any] = field(default_factory=dict)  # the grid point: param -> value
    out_path: str | None = None  # relative to the sweep directory; None for a file that did not load

    @property
    def label(self) -> str:
        """How log lines name it: `occluded_child_dartout s11` (with the grid point when there is one)."""
        if self.seed == NO_SEED:
            return self.scenario_path
        grid = " ".join(f"{k}={v}" for k, v in self.overrides.items())
        return f"{self.scenario_name} s{self.seed}" + (f" [{grid}]" if grid else "")

    def to_dict(self) -> dict[str, Any]:
        """Plain values, as they travel to a worker process or a Ray actor."""
        return {"key": self.key, "scenario_path": self.scenario_path, "scenario_name": self.scenario_name,
                "scenario_sha256": self.scenario_sha256, "seed": self.seed, "overrides": dict(self.overrides),
                "out_path": self.out_path}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        return cls(**{k: data[k] for k in ("key", "scenario_path", "scenario_name", "scenario_sha256", "seed", "overrides", "out_path")})


@dataclass(frozen=True)
class BadScenario:
    """A scenario file that did not load: it becomes one failed manifest row, and the others still run."""

    job: Job
    error: EdgecaseError


def canonical(overrides: Mapping[str, Any]) -> str:
    """The overrides as JSON with sorted keys: the same grid point always gives the same text and hash."""
    return json.dumps(dict(overrides), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def make_job(path: Path | str, name: str, sha256: str, seed: int, overrides: Mapping[str, Any] | None = None) -> Job:
    overrides = dict(overrides or {})
    grid_hash = hashlib.sha256(canonical(overrides).encode()).hexdigest()
    key = f"{sha256}:{seed}:{grid_hash[:12]}"
    out = f"episodes/{name}/s{seed}" + (f"-{grid_hash[:8]}" if overrides else "")
    return Job(key, str(path), name, sha256, seed, overrides, out if seed != NO_SEED else None)


def parse_seeds(text: str) -> range:
    """`A:B` -> seeds A..B-1 (half-open, like `--episodes N` = 0:N and Python's slices)."""
    start, sep, stop = text.partition(":")
    try:
        seeds = range(int(start), int(stop)) if sep else None
    except ValueError:
        seeds = None
    if seeds is None or seeds.start < 0 or len(seeds) == 0:
        raise InputError(f"--seeds takes A:B with 0 <= A < B (seeds A..B-1), got '{text}'")
    return seeds


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` -> (I, N) with 0 <= I < N: this machine runs the I-th of N disjoint parts."""
    index, sep, count = text.partition("/")
    try:
        shard = (int(index), int(count)) if sep else None
    except ValueError:
        shard = None
    if shard is None or not 0 <= shard[0] < shard[1]:
        raise InputError(f"--shard takes I/N with 0 <= I < N (e.g. 0/3, 1/3, 2/3), got '{text}'")
    return shard


def in_shard(key: str, shard: tuple[int, int] | None) -> bool:
    """Whether the episode `key` belongs to `shard`: a hash of the key alone, so every machine
    agrees on the split without talking to the others, whatever order it listed the files in."""
    if shard is None:
        return True
    index, count = shard
    return int(hashlib.sha256(key.encode()).hexdigest()[:16], 16) % count == index


def expand(paths: Sequence[Path | str], seeds: range | None = None,
           shard: tuple[int, int] | None = None) -> tuple[list[Job], list[BadScenario]]:
    """Every episode of the sweep, in command-line order, and the files that did not load.

    `seeds` (from --episodes / --seeds) replaces each scenario's `sweep:` block: those seeds, the
    params drawn per seed. Without it, a scenario's `sweep:` block says what to run: its grid
    (every combination of the listed param values) times its seed range; a block without a grid
    draws the params per seed. A file that has neither is a usage error for the whole sweep.
    """
    jobs: dict[str, Job] = {}
    bad: list[BadScenario] = []
    unswept: list[str] = []
    for path in scenario_files(paths):
        resolved = path.resolve()
        try:
            scenario = load_scenario(resolved)
        except InputError as error:
            if all(b.job.scenario_path != str(resolved) for b in bad):
                bad.append(BadScenario(_bad_file_job(resolved), error))
            continue
        if seeds is None and scenario.spec.sweep is None:
            unswept.append(str(path))
            continue
        for job in _episodes(scenario, resolved, seeds):
            jobs.setdefault(job.key, job)  # the same file twice (a directory and the file in it): once
    if unswept:
        raise InputError(f"no seeds for {', '.join(unswept)}: the scenario has no `sweep:` block",
                         hint="pass --episodes N or --seeds A:B, or add `sweep: {seeds: N}` to the file")
    _check_unique_outputs(jobs.values())
    # A file that did not load is no episode: every shard reports it (each machine says why it exits 2).
    return [j for j in jobs.values() if in_shard(j.key, shard)], bad


def _episodes(scenario: Scenario, path: Path, seeds: range | None) -> Iterable[Job]:
    sweep = scenario.spec.sweep
    if seeds is None:
        assert sweep is not None
        seeds = range(sweep.seeds.start, sweep.seeds.start + sweep.seeds.count)
        grid = sweep.grid
    else:
        grid = {}
    names = list(grid)
    for values in itertools.product(*(grid[n] for n in names)):
        overrides = dict(zip(names, values))
        for seed in seeds:
            yield make_job(path, scenario.name, scenario.sha256, seed, overrides)


def _bad_file_job(path: Path) -> Job:
    """The row of a file that did not load, keyed by its path and bytes: it has no canonical
    content, and two broken files with the same bytes are still two rows."""
    try:
        content = path.read_bytes()
    except OSError:
        content = b""
    digest = hashlib.sha256(str(path).encode() + b"\0" + content).hexdigest()
    return make_job(path, path.stem, digest, NO_SEED)


def _check_unique_outputs(jobs: Iterable[Job]) -> None:
    """Two different scenarios with the same `name:` would write into the same episode directories."""
    owner: dict[str, Job] = {}
    for job in jobs:
        other = owner.setdefault(job.out_path or job.key, job)
        if other.key != job.key:
            raise InputError(f"{other.scenario_path} and {job.scenario_path} are different scenarios with the same "
                             f"name '{job.scenario_name}'", hint="names must be unique within a sweep")
