"""EmbeddedBackend: the Backend protocol over the pure kinematics, no simulator process needed.

It holds only what one episode needs between calls (the limits built from the plan, the last
state, the last controls and the tick count); each `tick()` is one call of the pure
`kinematics.step`, so the same plan and the same controls give byte-identical states. Traffic
lights are run by the sim side: the backend reports the lights of the last `apply` as they are.
"""

from __future__ import annotations

from edgecase.backends.embedded.kinematics import LimitArrays, initial_states, neutral_controls, step
from edgecase.plan import EpisodePlan
from edgecase.sim.state import ActorStates, Controls, LightState, WorldState

CONTROL_FIELDS = ("accel_mps2", "steer_rad", "heading_rad", "width_m", "active", "box_offset_m", "light_state")


class EmbeddedBackend:
    """Kinematic bicycles, walkers and props integrated with numpy; see `kinematics` for the model."""

    name = "embedded"

    def __init__(self) -> None:
        self._limits: LimitArrays | None = None
        self._step_s = 0.0
        self._tick = 0
        self._actors: ActorStates | None = None
        self._controls: Controls | None = None
        self._lights: tuple[LightState, ...] = ()

    def reset(self, plan: EpisodePlan) -> WorldState:
        """The plan's actors at their poses and speeds, wheels straight, present unless spawned
        'dropped' (cargo); tick 0, no lights."""
        self._limits = LimitArrays.from_plan(plan)
        self._step_s = plan.step_s
        self._tick = 0
        self._actors = initial_states(plan, self._limits)
        self._controls = neutral_controls(len(plan.actors), self._actors.active)
        self._lights = ()
        return WorldState(tick=0, t_s=0.0, actors=self._actors, lights=self._lights)

    def apply(self, controls: Controls) -> None:
        """Controls hold until the next apply (as CARLA's do); clipping happens in the step."""
        actors = self._started()
        for name in CONTROL_FIELDS:
            shape = getattr(controls, name).shape
            if shape != (len(actors),):
                raise ValueError(f"Controls.{name} has shape {shape}; the episode has {len(actors)} actors")
        self._controls = controls
        self._lights = controls.lights

    def tick(self) -> WorldState:
        """One step of plan.step_s; t_s is tick * step_s, so time never drifts by accumulation."""
        self._actors = step(self._started(), self._controls, self._step_s, self._limits)
        self._tick += 1
        return WorldState(tick=self._tick, t_s=self._tick * self._step_s, actors=self._actors, lights=self._lights)

    def close(self) -> None:
        """Forget the episode; safe to call twice, or without a reset."""
        self._limits = None
        self._actors = None
        self._controls = None
        self._lights = ()

    def _started(self) -> ActorStates:
        if self._actors is None:
            raise RuntimeError("EmbeddedBackend: call reset(plan) before apply() or tick()")
        return self._actors
