"""The public Python API: what the CLI does, for scripts and notebooks.

    import edgecase
    scenario = edgecase.load("scenarios/occluded_child_dartout.yaml")
    plan = edgecase.compile(scenario, seed=7)
    plan.content_hash(), plan.actors[0].pose
    result = edgecase.run(scenario, seed=7, out="out/child-7")   # simulate; writes the episode directory
    result.passed, result.oracles, result.metrics
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecase.errors import InputError
from edgecase.plan import EpisodePlan, compile_plan
from edgecase.plan.modifiers import Modifiers, modify_plan, modify_rig
from edgecase.plan.sampling import Scalar
from edgecase.roads import RoadNetwork
from edgecase.scenario import Scenario, load_scenario, loads_scenario
from edgecase.sensors import Rig, load_rig

if TYPE_CHECKING:
    from edgecase.sim.backend import Backend
    from edgecase.sim.loop import EpisodeResult

BACKENDS = ("embedded", "carla")
CARLA_RECORDING = "carla_recording.log"  # CARLA's recorder file in the episode directory (carla backend)


def make_backend(name: str, rig: Rig | None = None, network: RoadNetwork | None = None,
                 episode_dir: Path | None = None, **options: Any) -> Backend:
    """A fresh backend by name (with the sensor rig it renders, if any); imported on use, so
    loading and compiling never pay for simulation. `episode_dir` is the episode's (temporary)
    directory, where a backend may leave files of its own (CARLA's recorder); `options` go to the
    backend (carla: host, port, timeout_s, sensor_timeout_s, carla_module)."""
    _check_backend(name)
    if name == "carla":
        from edgecase.backends.carla import CarlaBackend

        recording = Path(episode_dir) / CARLA_RECORDING if episode_dir is not None else None
        return CarlaBackend(rig=rig, network=network, recording=recording, **options)
    if options:
        raise InputError(f"the {name} backend takes no options (got {', '.join(sorted(options))})")
    from edgecase.backends.embedded import EmbeddedBackend

    return EmbeddedBackend(rig=rig, network=network)


def _check_backend(name: str) -> None:
    if name not in BACKENDS:
        raise InputError(f"unknown backend '{name}' (available: {', '.join(BACKENDS)})")


def load(path: str | Path) -> Scenario:
    """Read and check a scenario file; bad input raises `edgecase.errors.InputError` with file:line:col."""
    return load_scenario(path)


def loads(text: str, name: str = "<string>", base_dir: str | Path | None = None) -> Scenario:
    """A scenario from YAML text; `extends:` and relative map paths resolve against base_dir (default: cwd)."""
    return loads_scenario(text, name, base_dir=Path(base_dir) if base_dir else None)


def compile(scenario: Scenario | str | Path, seed: int, overrides: Mapping[str, Scalar] | None = None,  # noqa: A001
            modifiers: Modifiers | None = None) -> EpisodePlan:
    """The episode plan for one seed; `overrides` fixes params (as a sweep grid does); `modifiers`
    rewrite its weather and add background traffic (as `run` does)."""
    if not isinstance(scenario, Scenario):
        scenario = load(scenario)
    plan = compile_plan(scenario, seed, overrides)
    return modify_plan(plan, modifiers, _network(scenario, plan) if modifiers is not None and modifiers.adds_traffic else None)


def run(
    scenario: Scenario | str | Path,
    seed: int = 0,
    out: str | Path | None = None,
    backend: str = "embedded",
    overrides: Mapping[str, Scalar] | None = None,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
    sensors: str | Path | bool | None = None,
    frame_every: int | None = None,
    lossless: bool = False,
    backend_options: Mapping[str, Any] | None = None,
    modifiers: Modifiers | Mapping[str, Any] | None = None,
) -> EpisodeResult:
    """Compile and simulate one episode; with `out`, write its episode directory (atomically).

    `sensors` names a rig (a name from sensors/ or a path; None: the one the scenario's ego
    carries, if any; False: none); with a rig and `out`, frames, labels and calibration are recorded every
    `frame_every` ticks (default: 10 Hz). `backend_options` go to the backend (`make_backend`); the
    carla backend's collision and lane-invasion events join the recorded trace's events.
    `modifiers` (`edgecase.plan.modifiers.Modifiers`, or its fields as a mapping) change the
    weather of the compiled plan and degrade the rig's sensors (docs/library.md).
    """
    from edgecase.record import EpisodeWriter
    from edgecase.sim.loop import run_episode
    from edgecase.sim.oracles import evaluate_expect

    _check_backend(backend)
    options = dict(backend_options or {})
    if not isinstance(scenario, Scenario):
        scenario = load(scenario)
    mods = Modifiers.model_validate(modifiers) if isinstance(modifiers, Mapping) else modifiers
    plan = compile_plan(scenario, seed, overrides)
    network = _network(scenario, plan)
    plan = modify_plan(plan, mods, network)
    rig = modify_rig(_rig(scenario, plan, sensors), mods) if out is not None else None
    every = frame_every or max(1, round(0.1 / plan.step_s))
    started_utc, started = datetime.now(timezone.utc).isoformat(), time.perf_counter()
    if out is None:
        runner = make_backend(backend, None, network, **options)
        return _with_sensor_events(run_episode(plan, runner, network, progress), runner)
    with EpisodeWriter(Path(out), force) as writer:
        runner = make_backend(backend, rig, network, episode_dir=writer.tmp, **options)
        frames = writer.record_sensors(plan, rig, every, lossless) if rig is not None else None
        result = run_episode(plan, runner, network, progress, on_frames=frames and frames.submit, frame_every=every)
        result = _with_sensor_events(result, runner)
        if frames is not None:  # the cameras measured visibility: the oracles that need it can now be judged
            frames.close()
            oracles = evaluate_expect(plan, result.trace, network, frames.visibility())
            result = dataclasses.replace(result, oracles=oracles)
        wall_clock = {"started_utc": started_utc, "sim_wall_s": round(time.perf_counter() - started, 4)}
        writer.finish(result, backend, wall_clock, getattr(runner, "renderer", None))
    return result


def _network(scenario: Scenario, plan: EpisodePlan) -> RoadNetwork:
    return RoadNetwork.load(plan.map.source, base_dir=scenario.base_dir, pos=scenario.pos("map"))


def _with_sensor_events(result: EpisodeResult, runner: Backend) -> EpisodeResult:
    """The backend's own sensor events (CARLA's collision and lane-invasion sensors) in the trace's
    event list, by tick; metrics and oracles were computed without them and stay as they are."""
    extra = getattr(runner, "sensor_events", None)
    if not extra:
        return result
    events = tuple(sorted(result.trace.events + tuple(extra), key=lambda e: e.tick))
    return dataclasses.replace(result, trace=dataclasses.replace(result.trace, events=events))


def _rig(scenario: Scenario, plan: EpisodePlan, sensors: str | Path | bool | None) -> Rig | None:
    """The rig asked for, else the ego's own (`sensors:` in the scenario), else none."""
    if sensors is False:
        return None
    if sensors is not None and sensors is not True:
        return load_rig(sensors, base_dir=None)
    ref = plan.ego.sensors
    if ref is None:
        return None
    is_path = "/" in ref or ref.endswith((".yaml", ".yml"))  # as the compiler resolves it
    return load_rig(Path(scenario.base_dir or ".") / ref if is_path else ref)
