"""The one simulation loop. It owns time; a Backend only builds, steps and reports the world.

Each tick, in order: the agents (behaviors and triggers) read the state and decide controls,
the backend applies them and steps, collisions are logged, and the recorder keeps the state.
After the last tick, metrics and the scenario's `expect` oracles are computed from the trace.
The backend is closed in `finally`, so actors are removed on success, error and Ctrl-C alike.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from edgecase.plan import EpisodePlan
from edgecase.roads import RoadNetwork
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


def run_episode(plan: EpisodePlan, backend: Backend, network: RoadNetwork, progress=None) -> EpisodeResult:
    """Run `plan` on `backend` for plan.steps ticks; `progress(tick, total)` is called each tick if given."""
    names = tuple(a.name for a in plan.actors)
    recorder = TraceRecorder(names)
    try:
        state = backend.reset(plan)
        agents = Agents(plan, network)
        if not state.lights:  # a backend without its own lights starts with the agents' cycle
            state = replace(state, lights=agents.lights_at(state.t_s))
        recorder.record(state)
        touching: set[tuple[int, int]] = set()
        for _ in range(plan.steps):
            controls, events = agents.step(state)
            backend.apply(controls)
            state = backend.tick()
            events = events + _new_collisions(state, names, touching)
            recorder.record(state, events)
            if progress is not None:
                progress(state.tick, plan.steps)
    finally:
        backend.close()
    trace = recorder.finish()
    metrics = episode_metrics(plan, trace, network)
    return EpisodeResult(plan, trace, metrics, evaluate_expect(plan, trace, network))


def _new_collisions(state: WorldState, names: tuple[str, ...], touching: set[tuple[int, int]]) -> list[Event]:
    """A collision event when two boxes start touching (not again every tick while they stay in contact)."""
    now = set(collision_pairs(state.actors))
    events = [Event(state.tick, state.t_s, "collision", names[i], names[j]) for i, j in sorted(now - touching)]
    touching.clear()
    touching.update(now)
    return events
