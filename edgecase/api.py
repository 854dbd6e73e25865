"""The public Python API: what the CLI does, for scripts and notebooks.

    import edgecase
    scenario = edgecase.load("scenarios/occluded_child_dartout.yaml")
    plan = edgecase.compile(scenario, seed=7)
    plan.content_hash(), plan.actors[0].pose
    result = edgecase.run(scenario, seed=7, out="out/child-7")   # simulate; writes the episode directory
    result.passed, result.oracles, result.metrics
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from edgecase.errors import InputError
from edgecase.plan import EpisodePlan, compile_plan
from edgecase.plan.sampling import Scalar
from edgecase.roads import RoadNetwork
from edgecase.scenario import Scenario, load_scenario, loads_scenario

if TYPE_CHECKING:
    from edgecase.sim.backend import Backend
    from edgecase.sim.loop import EpisodeResult

BACKENDS = ("embedded",)


def make_backend(name: str) -> Backend:
    """A fresh backend by name; imported on use, so loading and compiling never pay for simulation."""
    if name == "embedded":
        from edgecase.backends.embedded import EmbeddedBackend

        return EmbeddedBackend()
    raise InputError(f"unknown backend '{name}' (available: {', '.join(BACKENDS)})")


def load(path: str | Path) -> Scenario:
    """Read and check a scenario file; bad input raises `edgecase.errors.InputError` with file:line:col."""
    return load_scenario(path)


def loads(text: str, name: str = "<string>", base_dir: str | Path | None = None) -> Scenario:
    """A scenario from YAML text; `extends:` and relative map paths resolve against base_dir (default: cwd)."""
    return loads_scenario(text, name, base_dir=Path(base_dir) if base_dir else None)


def compile(scenario: Scenario | str | Path, seed: int, overrides: Mapping[str, Scalar] | None = None) -> EpisodePlan:  # noqa: A001
    """The episode plan for one seed; `overrides` fixes params (as a sweep grid does)."""
    if not isinstance(scenario, Scenario):
        scenario = load(scenario)
    return compile_plan(scenario, seed, overrides)


def run(
    scenario: Scenario | str | Path,
    seed: int = 0,
    out: str | Path | None = None,
    backend: str = "embedded",
    overrides: Mapping[str, Scalar] | None = None,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> EpisodeResult:
    """Compile and simulate one episode; with `out`, write its episode directory (atomically)."""
    from edgecase.record import write_episode
    from edgecase.sim.loop import run_episode

    runner = make_backend(backend)
    if not isinstance(scenario, Scenario):
        scenario = load(scenario)
    plan = compile_plan(scenario, seed, overrides)
    network = RoadNetwork.load(plan.map.source, base_dir=scenario.base_dir, pos=scenario.pos("map"))
    started_utc, started = datetime.now(timezone.utc).isoformat(), time.perf_counter()
    result = run_episode(plan, runner, network, progress)
    if out is not None:
        wall_clock = {"started_utc": started_utc, "sim_wall_s": round(time.perf_counter() - started, 4)}
        write_episode(result, Path(out), backend, wall_clock, force=force)
    return result
