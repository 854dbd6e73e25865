"""The one simulation loop. It owns time; a Backend only builds, steps and reports the world.

Each tick, in order: the agents (behaviors and triggers) read the state and decide controls,
the backend applies them and steps, collisions are logged, and the recorder keeps the state.
After the last tick, metrics and the scenario's `expect` oracles are computed from the trace.
The backend is closed in `finally`, so actors are removed on success, error and Ctrl-C alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from edgecase.plan import EpisodePlan
from edgecase.roads import RoadNetwork
from edgecase.sensors.frames import SensorFrames
from edgecase.sim.agents import Agents
from edgecase.sim.backend import Backend
from edgecase.sim.metrics import EpisodeMetrics, collision_pairs, episode_metrics
from edgecase.sim.oracles import OracleResult, evaluate_expect, verdict
from edgecase.sim.state import WorldState
from edgecase.sim.trace import Event, Trace, TraceRecorder


@dataclass(frozen=True)
class EpisodeResult:
    plan: EpisodePlan
    trace: Trace
    metrics: EpisodeMetrics
    oracles: tuple[OracleResult, ...]

    @property
    def passed(self) -> bool:
        """Every evaluated oracle held (oracles that need sensors not present are not counted)."""
        return verdict(self.oracles)


FramesSink = Callable[[WorldState, SensorFrames], None]


def run_episode(plan: EpisodePlan, backend: Backend, network: RoadNetwork, progress=None,
                on_frames: FramesSink | None = None, frame_every: int = 1) -> EpisodeResult:
    """Run `plan` on `backend` for plan.steps ticks; `progress(tick, total)` is called each tick if given.

    With `on_frames`, the backend's rig is read (`backend.sense()`) at tick 0 and every
    `frame_every` ticks after, and each state with its frames goes to `on_frames` (the recorder).
    """
    names = tuple(a.name for a in plan.actors)
    recorder = TraceRecorder(names)
    try:
        state = backend.reset(plan)
        agents = Agents(plan, network)
        if not state.lights:  # a backend without its own lights starts with the agents' cycle
            state = replace(state, lights=agents.lights_at(state.t_s))
        recorder.record(state)
        _sense(backend, state, on_frames, frame_every)
        touching: set[tuple[int, int]] = set()
        for _ in range(plan.steps):
            controls, events = agents.step(state)
            backend.apply(controls)
            state = backend.tick()
            events = events + _new_collisions(state, names, touching)
            recorder.record(state, events)
            _sense(backend, state, on_frames, frame_every)
            if progress is not None:
                progress(state.tick, plan.steps)
    finally:
        backend.close()
    trace = recorder.finish()
    metrics = episode_metrics(plan, trace, network)
    return EpisodeResult(plan, trace, metrics, evaluate_expect(plan, trace, network))


def _sense(backend: Backend, state: WorldState, on_frames: FramesSink | None, every: int) -> None:
    if on_frames is not None and state.tick % every == 0:
        on_frames(state, backend.sense())


def _new_collisions(state: WorldState, names: tuple[str, ...], touching: set[tuple[int, int]]) -> list[Event]:
    """A collision event when two boxes start touching (not again every tick while they stay in contact)."""
    now = set(collision_pairs(state.actors))
    events = [Event(state.tick, state.t_s, "collision", names[i], names[j]) for i, j in sorted(now - touching)]
    touching.clear()
    touching.update(now)
    return events
