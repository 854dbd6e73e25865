"""The embedded backend's sensors: a rig on the ego, rendered on the CPU from the world's state.

Each capture builds the actors' boxes once (`sim.boxes.world_boxes`, the same boxes the annotator
labels), places every sensor at ego pose x mount (CARLA's attachment: sensor -> world =
actor -> world @ sensor -> actor), and asks the camera renderer and the LiDAR casters for
frames in CARLA's layouts. The map's static scene is built once per map and cached, since every
episode on that map shares it.

Randomness (camera noise, LiDAR drop-off and noise) draws from a generator seeded by
(plan seed, tick, sensor index), so an episode's frames are the same on every run and machine.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from edgecase.backends.embedded.camera import CameraRenderer, Lighting
from edgecase.backends.embedded.lidar import LidarCaster
from edgecase.backends.embedded.scene import StaticScene
from edgecase.backends.embedded.static_scene import build_static_scene
from edgecase.plan import EpisodePlan
from edgecase.roads import RoadNetwork
from edgecase.sensors import Rig
from edgecase.sensors.frames import SensorFrames
from edgecase.sim.boxes import Boxes, actor_pose, ground_z, world_boxes
from edgecase.sim.state import WorldState


@functools.lru_cache(maxsize=8)
def _static_scene(network: RoadNetwork) -> StaticScene:
    return build_static_scene(network)


class EmbeddedSensors:
    """One rig on one episode's ego; `capture(state)` renders every sensor at that state."""

    def __init__(self, plan: EpisodePlan, rig: Rig, network: RoadNetwork, camera_engine: str = "auto") -> None:
        self.plan, self.rig = plan, rig
        self._ego = next(i for i, a in enumerate(plan.actors) if a.role == "ego")
        self._bottom_z = ground_z(plan)
        self._static = _static_scene(network)
        self._lighting = Lighting.from_weather(plan.weather.params)
        self._mounts = {name: sensor.mount.matrix() for name, sensor in rig.sensors.items()}
        self._cameras = CameraRenderer(self._static, rig.cameras, engine=camera_engine) if rig.cameras else None
        self._lidars = {name: LidarCaster(lidar, plan.step_s, name) for name, lidar in rig.lidars.items()}
        self._index = {name: i for i, name in enumerate(rig.sensors)}

    @property
    def renderer(self) -> dict[str, str | None]:
        """Which camera engine runs, and why the fast one does not (None when it does)."""
        if self._cameras is None:
            return {"camera_engine": None, "fallback_reason": None}
        return {"camera_engine": self._cameras.engine_name, "fallback_reason": self._cameras.fallback_reason}

    def capture(self, state: WorldState) -> SensorFrames:
        boxes = self._without_ego(world_boxes(self.plan, state.actors, self._bottom_z))
        ego = actor_pose(self.plan, state.actors, self._ego)
        cameras = {name: self._cameras.render(name, ego @ self._mounts[name], boxes, self._lighting,
                                              state.tick, state.t_s, self._rng(state.tick, name))
                   for name in self.rig.cameras} if self._cameras else {}
        lidars = {name: caster.scan(ego @ self._mounts[name], boxes, self._static, state.tick, state.t_s,
                                    self._rng(state.tick, name))
                  for name, caster in self._lidars.items()}
        return SensorFrames(state.tick, state.t_s, cameras, lidars)

    def _without_ego(self, boxes: Boxes) -> Boxes:
        """The rig does not see its own car: CARLA users mount sensors clear of it or filter it out,
        and a camera or LiDAR whose mount sits inside the ego's box would see only that box."""
        active = boxes.active.copy()
        active[self._ego] = False
        return dataclasses.replace(boxes, active=active)

    def close(self) -> None:
        if self._cameras is not None:
            self._cameras.close()
            self._cameras = None

    def _rng(self, tick: int, name: str) -> np.random.Generator:
        return np.random.default_rng([self.plan.seed, tick, self._index[name]])
