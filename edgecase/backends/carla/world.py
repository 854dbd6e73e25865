"""The server's world for one episode: the plan's map, synchronous stepping, the Traffic Manager,
the weather; and how to put the server back as we found it.

Why synchronous mode with fixed_delta_seconds = the plan's step: the loop owns time. CARLA then waits
for our `world.tick()`, every step is exactly `step_s` of simulated time, and sensors capture at each
step, so the bridge's ticks line up one for one with the embedded backend's.
Why no_rendering_mode without cameras: the server skips drawing entirely, which is most of its work,
and a LiDAR (ray casts against collision geometry) does not need it.
Why the Traffic Manager too: it must tick in lockstep with a synchronous world or it deadlocks the
server as soon as anything uses autopilot; its seed keeps whatever it does reproducible.

Maps: `carla:TownXX` loads the server's own town (only when another one is loaded); anything else
is OpenDRIVE text that the server turns into a world with `generate_opendrive_world` (again only when
the loaded map's OpenDRIVE differs, because generating a mesh takes seconds). The settings are read
before the map changes, and `restore()` applies exactly those again.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from edgecase.backends.carla.connection import Address, carla_errors
from edgecase.errors import BackendError
from edgecase.plan import EpisodePlan

TM_PORT = 8000  # carla.Client.get_trafficmanager's default port
# CARLA's PythonAPI/util/config.py values for standalone OpenDRIVE worlds: 2 m mesh vertices, 500 m
# road pieces, no walls at the road's edge (walkers cross kerbs), 0.6 m of extra width, smooth junctions.
XODR_VERTEX_DISTANCE_M = 2.0
XODR_MAX_ROAD_LENGTH_M = 500.0
XODR_WALL_HEIGHT_M = 0.0
XODR_EXTRA_WIDTH_M = 0.6
# PhysX substeps (CARLA's Docs/adv_synchrony_timestep.md): max_substep_delta_time * max_substeps must
# cover fixed_delta_seconds, substeps of at most 0.01 s are recommended, and at most 16 substeps are allowed.
SUBSTEP_S = 0.01
MAX_SUBSTEPS = 16


def substeps(step_s: float) -> tuple[float, int]:
    """(max_substep_delta_time, max_substeps) covering one step: 0.01 s substeps while 16 suffice."""
    count = min(MAX_SUBSTEPS, max(10, math.ceil(step_s / SUBSTEP_S - 1e-9)))
    return max(SUBSTEP_S, step_s / count), count


def map_basename(name: str) -> str:
    """'Carla/Maps/Town10HD_Opt' -> 'Town10HD' (the _Opt layered variant is the same town)."""
    return name.rsplit("/", 1)[-1].removesuffix("_Opt")


class WorldSession:
    """Holds what `prepare` changed on the server so `restore` can undo it, once."""

    def __init__(self, carla: Any, client: Any, address: Address, timeout_s: float) -> None:
        self.carla, self.client, self.address, self.timeout_s = carla, client, address, timeout_s
        self.world: Any = None
        self.traffic_manager: Any = None
        self._original_settings: Any = None

    def prepare(self, plan: EpisodePlan, xodr_text: str | None, has_camera: bool) -> Any:
        """Load the plan's map if needed, then synchronous stepping, the TM and the weather; the world."""
        carla = self.carla
        with carla_errors("read the world's settings", self.address, self.timeout_s):
            world = self.client.get_world()
            if self._original_settings is None:  # the first episode's view of the server is the one to restore
                self._original_settings = world.get_settings()
        with carla_errors(f"load the map {plan.map.source!r}", self.address, self.timeout_s):
            world = self._load_map(world, plan, xodr_text)
        with carla_errors("switch the world to synchronous mode", self.address, self.timeout_s):
            settings = world.get_settings()
            settings.synchronous_mode = True
            settings.fixed_delta_seconds = plan.step_s
            settings.no_rendering_mode = not has_camera
            settings.max_substep_delta_time, settings.max_substeps = substeps(plan.step_s)
            world.apply_settings(settings)
            self.traffic_manager = self.client.get_trafficmanager(TM_PORT)
            self.traffic_manager.set_synchronous_mode(True)
            self.traffic_manager.set_random_device_seed(plan.seed)
            world.set_weather(carla.WeatherParameters(**plan.weather.params))
        self.world = world
        return world

    def _load_map(self, world: Any, plan: EpisodePlan, xodr_text: str | None) -> Any:
        carla = self.carla
        source = plan.map.source
        if source.startswith("carla:"):
            town = source.removeprefix("carla:")
            if map_basename(world.get_map().name) == map_basename(town):
                return world
            return self.client.load_world(town)
        if xodr_text is None:
            raise BackendError(f"the map {source!r} needs its OpenDRIVE text (pass the plan's road network)")
        if hashlib.sha256(world.get_map().to_opendrive().encode()).hexdigest() == plan.map.sha256:
            return world  # already this map: skip regenerating its mesh
        parameters = carla.OpendriveGenerationParameters(
            vertex_distance=XODR_VERTEX_DISTANCE_M, max_road_length=XODR_MAX_ROAD_LENGTH_M,
            wall_height=XODR_WALL_HEIGHT_M, additional_width=XODR_EXTRA_WIDTH_M,
            smooth_junctions=True, enable_mesh_visibility=True, enable_pedestrian_navigation=True)
        return self.client.generate_opendrive_world(xodr_text, parameters)

    def restore(self) -> list[str]:
        """The Traffic Manager back to asynchronous, the world's settings as we found them; returns
        what failed (close() must finish its work whatever the server does)."""
        problems: list[str] = []
        if self.traffic_manager is not None:
            try:
                self.traffic_manager.set_synchronous_mode(False)
            except RuntimeError as err:
                problems.append(f"traffic manager back to asynchronous: {err}")
            self.traffic_manager = None
        if self._original_settings is not None:
            try:
                self.client.get_world().apply_settings(self._original_settings)
            except RuntimeError as err:
                problems.append(f"world settings not restored: {err}")
            self._original_settings = None
        return problems
