"""EmbeddedBackend: the Backend protocol over the pure kinematics, no simulator process needed.

It holds only what one episode needs between calls (the limits built from the plan, the last
state, the last controls and the tick count); each `tick()` is one call of the pure
`kinematics.step`, so the same plan and the same controls give byte-identical states. Traffic
lights are run by the sim side: the backend reports the lights of the last `apply` as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgecase.backends.embedded.kinematics import LimitArrays, initial_states, neutral_controls, step
from edgecase.plan import EpisodePlan
from edgecase.sensors.frames import SensorFrames
from edgecase.sim.state import ActorStates, Controls, LightState, WorldState

if TYPE_CHECKING:
    from edgecase.backends.embedded.sensing import EmbeddedSensors
    from edgecase.roads import RoadNetwork
    from edgecase.sensors import Rig

CONTROL_FIELDS = ("accel_mps2", "steer_rad", "heading_rad", "width_m", "active", "box_offset_m", "light_state")


class EmbeddedBackend:
    """Kinematic bicycles, walkers and props integrated with numpy; see `kinematics` for the model."""

    name = "embedded"

    def __init__(self, rig: Rig | None = None, network: RoadNetwork | None = None, camera_engine: str = "auto") -> None:
        """With a rig (and the plan's road network, which the sensors see), `sense()` renders it."""
        if rig is not None and network is None:
            raise ValueError("EmbeddedBackend: a rig needs the road network to render")
        self.rig, self._network, self._camera_engine = rig, network, camera_engine
        self._sensors: EmbeddedSensors | None = None
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
        self._close_sensors()
        if self.rig is not None:  # imported here: runs without a rig never load the renderers
            from edgecase.backends.embedded.sensing import EmbeddedSensors

            self._sensors = EmbeddedSensors(plan, self.rig, self._network, self._camera_engine)
        self._state = WorldState(tick=0, t_s=0.0, actors=self._actors, lights=self._lights)
        return self._state

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
        self._state = WorldState(tick=self._tick, t_s=self._tick * self._step_s, actors=self._actors, lights=self._lights)
        return self._state

    def sense(self) -> SensorFrames:
        """The rig's frames at the last state (reset or tick)."""
        if self._sensors is None:
            raise RuntimeError("EmbeddedBackend: sense() needs a rig and a reset(plan)")
        return self._sensors.capture(self._state)

    @property
    def renderer(self) -> dict[str, str | None]:
        return self._sensors.renderer if self._sensors is not None else {}

    def close(self) -> None:
        """Forget the episode; safe to call twice, or without a reset."""
        self._limits = None
        self._actors = None
        self._controls = None
        self._lights = ()
        self._close_sensors()

    def _close_sensors(self) -> None:
        if self._sensors is not None:
            self._sensors.close()
            self._sensors = None

    def _started(self) -> ActorStates:
        if self._actors is None:
            raise RuntimeError("EmbeddedBackend: call reset(plan) before apply() or tick()")
        return self._actors
