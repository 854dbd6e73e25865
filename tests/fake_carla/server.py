"""The fake CARLA server: the world's state, simple physics, sensors that really render, injected faults.

Not part of carla's API (tests reach it as `tests.fake_carla.FakeServer`); the carla-named classes
in this package are thin handles onto it. What it models, and why that is enough:

* Actors get their own ids, from 100 up (never the plan's 1..N), so the bridge's id mapping is
  exercised. Each has a box from edgecase's blueprint catalogue (the sizes CARLA reports).
* Physics simple enough to assert on: a vehicle accelerates at throttle * FAKE_THROTTLE_MPS2 - brake *
  FAKE_BRAKE_MPS2 (speed never below 0) and turns as a bicycle with its front wheels at
  steer * max_steer_angle; a walker moves at WalkerControl.speed along its direction and faces it;
  set_target_velocity sets the velocity for the next step; props stay put. Gravity is one rule:
  at each tick every actor stands on the map's flat ground (the bridge spawns them lifted).
* `world.tick()` advances the frame by 1 and calls each listening sensor back (synchronously, in
  the caller's thread). Cameras and LiDARs deliver real data, lazily: their buffers are rendered on
  first access by the embedded backend's CameraRenderer and LidarCaster from the actors' boxes at
  that frame (a sensor does not see its own parent, as on the embedded backend), then encoded into
  CARLA's raw layouts with CARLA actor ids. Collision sensors report box overlaps as they start.
* Faults (`Faults`): an unreachable server, another server version, a refused spawn, a hanging
  tick (it waits the tick's timeout, then raises carla's time-out RuntimeError), an exception
  raised at a given tick, and a sensor frame that is never delivered.
* `live_actors()` counts what clients spawned and did not destroy; `busy_s` is the time spent
  inside the fake (every public method of its handles is timed), so a benchmark can subtract it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgecase.backends.embedded.camera import CameraRenderer, Lighting
from edgecase.backends.embedded.lidar import LidarCaster
from edgecase.backends.embedded.static_scene import build_static_scene
from edgecase.plan.blueprints import ActorClass, catalog
from edgecase.roads import RoadNetwork
from edgecase.sensors.frames import (carla_bgra, carla_semantic_points, channel_counts, encode_depth, encode_instance,
                                     encode_semantic)
from edgecase.sensors.rig import Camera, Lidar, Mount
from edgecase.sensors.transforms import carla_matrix
from edgecase.sim.boxes import Boxes
from edgecase.sim.geometry import corners, overlaps

FAKE_THROTTLE_MPS2 = 4.0  # full throttle: the car the bridge's mapping assumes
FAKE_BRAKE_MPS2 = 8.0
FIRST_ACTOR_ID = 100
SERVERS: dict[tuple[str, int], FakeServer] = {}
CAMERA_TYPES = ("sensor.camera.rgb", "sensor.camera.depth", "sensor.camera.instance_segmentation",
                "sensor.camera.semantic_segmentation")


def timeout_error(seconds: float, address: str) -> RuntimeError:
    """carla's own wording (LibCarla client/detail/Client.cpp)."""
    return RuntimeError(f"time-out of {round(seconds * 1000)}ms while waiting for the simulator, make sure the "
                        f"simulator is ready and connected to {address}")


@dataclass
class Faults:
    unreachable: bool = False  # every call times out (no server there, or the connection is lost)
    server_version: str = "0.9.16"
    refuse_spawn: str | None = None  # role_name or blueprint id: spawn_actor fails with a spawn collision
    hang_tick: int | None = None  # the Nth world.tick() (1-based) waits its timeout, then times out
    raise_at_tick: tuple[int, BaseException] | None = None  # the Nth world.tick() raises this
    drop_frame: tuple[str, int] | None = None  # (sensor blueprint id, Nth tick): that measurement never arrives


@dataclass(eq=False)
class Body:
    """One actor's state on the fake server."""

    id: int
    type_id: str
    kind: str  # vehicle, walker, prop, sensor, trigger, traffic_light, spectator
    attributes: dict[str, str]
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    yaw: float = 0.0  # degrees
    pitch: float = 0.0
    roll: float = 0.0
    vx: float = 0.0
    vy: float = 0.0
    ax: float = 0.0
    ay: float = 0.0
    extent: tuple[float, float, float] = (0.0, 0.0, 0.0)
    box_z: float = 0.0  # bounding_box.location.z: the box centre above the origin (h/2 for vehicles, 0 walkers)
    tag: int = 0
    wheelbase: float = 0.0
    max_steer_deg: float = 70.0
    control: Any = None
    target_velocity: tuple[float, float] | None = None
    light_state: int = 0
    doors: set[int] = field(default_factory=set)
    parent: int | None = None
    relative: Mount | None = None  # sensors: the pose on the parent
    alive: bool = True
    callback: Callable[[Any], None] | None = None
    first_frame: int = 0  # sensors: the frame of their first tick
    light_color: int = 2  # traffic lights: TrafficLightState value (Green)
    frozen: bool = False
    opendrive_id: str = ""
    touching: set[int] = field(default_factory=set)  # collision sensors: bodies overlapping the parent last tick

    def matrix(self) -> np.ndarray:
        return carla_matrix(self.x, self.y, self.z, self.roll, self.pitch, self.yaw)


@functools.lru_cache(maxsize=8)
def _static_scene(network: RoadNetwork):
    return build_static_scene(network)


@functools.lru_cache(maxsize=16)
def _network_of(xodr_text: str) -> RoadNetwork:
    """The map's RoadNetwork, through a file named by its hash (RoadNetwork.load caches files)."""
    folder = Path(tempfile.gettempdir()) / "edgecase-fake-carla"
    folder.mkdir(exist_ok=True)
    path = folder / f"{hashlib.sha256(xodr_text.encode()).hexdigest()[:16]}.xodr"
    if not path.exists():
        path.write_text(xodr_text)
    return RoadNetwork.load(str(path))


class FakeServer:
    """One fake CARLA server listening at host:port (in this process)."""

    def __init__(self, host: str = "localhost", port: int = 2000, faults: Faults | None = None) -> None:
        from tests.fake_carla.values import WeatherParameters, WorldSettings

        self.host, self.port = host, port
        self.faults = faults or Faults()
        self.bodies: dict[int, Body] = {}
        self.frame = 1000  # a running server's frame counter is never 0
        self.ticks = 0
        self.settings = WorldSettings()
        self.original_settings = WorldSettings()
        self.weather = WeatherParameters()
        self.map_name = "Carla/Maps/Town10HD_Opt"
        self.xodr = ""
        self.network: RoadNetwork | None = None
        self.towns: dict[str, str] = {}  # map name -> OpenDRIVE text, for load_world
        self.tm_sync = False
        self.tm_seed: int | None = None
        self.recording: Path | None = None
        self.recorded: list[str] = []  # every recording file ever started
        self.replays: list[tuple] = []  # replay_file and stop_replayer calls, with the frame they came at
        self.busy_s = 0.0
        self._depth = 0
        self._next_id = FIRST_ACTOR_ID
        self._renderers: dict[tuple[int, int, float], CameraRenderer] = {}
        self._renders: dict[tuple, Any] = {}
        self._casters: dict[int, LidarCaster] = {}
        self._scene: dict[int, Boxes] = {}  # frame -> every actor's box then
        self.spectator = self._add("spectator", "spectator", {})
        SERVERS[(host, port)] = self

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def shutdown(self) -> None:
        SERVERS.pop((self.host, self.port), None)
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()

    # --- accounting ---------------------------------------------------------------------------

    def timed(self, fn: Callable[[], Any]) -> Any:
        """Run fn, adding its time to busy_s unless an outer fake call is already timing."""
        if self._depth:
            return fn()
        self._depth += 1
        started = time.perf_counter()
        try:
            return fn()
        finally:
            self.busy_s += time.perf_counter() - started
            self._depth -= 1

    def check_reachable(self, timeout_s: float) -> None:
        if self.faults.unreachable:
            raise timeout_error(timeout_s, self.address)

    # --- actors -------------------------------------------------------------------------------

    def live_actors(self) -> int:
        """Actors clients spawned and have not destroyed (not the spectator or the map's lights)."""
        return sum(1 for b in self.bodies.values() if b.alive and b.kind not in ("spectator", "traffic_light"))

    def alive(self, kind: str | None = None) -> list[Body]:
        return [b for b in self.bodies.values() if b.alive and (kind is None or b.kind == kind)]

    def _add(self, type_id: str, kind: str, attributes: dict[str, str]) -> Body:
        body = Body(self._next_id, type_id, kind, dict(attributes))
        self._next_id += 1
        self.bodies[body.id] = body
        return body

    def spawn(self, blueprint: Any, transform: Any, parent: Body | None) -> Body:
        """A new actor, or carla's RuntimeError on a spawn collision (injected, or a real box overlap)."""
        attributes = blueprint._attributes
        role = attributes.get("role_name", "")
        blocks = parent is None and not blueprint.id.startswith("static.trigger.")  # a trigger volume overlaps anything
        if self.faults.refuse_spawn in (role, blueprint.id) or (blocks and self._blocked(blueprint, transform)):
            raise RuntimeError("Spawn failed because of collision at spawn position")
        kind = ("sensor" if blueprint.id.startswith("sensor.") else "vehicle" if blueprint.id.startswith("vehicle.")
                else "walker" if blueprint.id.startswith("walker.") else "trigger" if blueprint.id.startswith("static.trigger.")
                else "prop")
        body = self._add(blueprint.id, kind, attributes)
        loc, rot = transform.location, transform.rotation
        if kind == "trigger":  # a box volume, no physics body: extent_* are half sizes in cm
            body.x, body.y, body.z, body.yaw = loc.x, loc.y, loc.z, rot.yaw
            body.extent = tuple(float(attributes[f"extent_{k}"]) / 100.0 for k in "xyz")
        elif parent is not None:
            body.parent, body.first_frame = parent.id, self.frame + 1
            body.relative = Mount(x_m=loc.x, y_m=loc.y, z_m=loc.z, roll_deg=rot.roll, pitch_deg=rot.pitch,
                                  yaw_deg=rot.yaw)
            self._follow(body)
        else:
            body.x, body.y, body.z, body.yaw = loc.x, loc.y, loc.z, rot.yaw
            self._shape(body)
        return body

    def _shape(self, body: Body) -> None:
        entry = catalog().get(body.type_id)
        body.extent = (entry.length_m / 2, entry.width_m / 2, entry.height_m / 2)
        body.box_z = 0.0 if body.kind == "walker" else entry.height_m / 2
        body.tag = int(entry.semantic_tag)
        body.wheelbase = entry.wheelbase_m or 0.6 * entry.length_m
        if entry.actor_class in (ActorClass.BICYCLE, ActorClass.MOTORCYCLE):
            body.max_steer_deg = 45.0

    def _blocked(self, blueprint: Any, transform: Any) -> bool:
        """Whether the new actor's footprint (shrunk 5 cm) overlaps a live actor's."""
        entry = catalog().get(blueprint.id)
        yaw = math.radians(transform.rotation.yaw)
        mine = corners(transform.location.x, transform.location.y, yaw, entry.length_m - 0.1, entry.width_m - 0.1)
        others = [b for b in self.alive() if b.kind in ("vehicle", "walker", "prop")]
        if not others:
            return False
        theirs = corners([b.x for b in others], [b.y for b in others], [math.radians(b.yaw) for b in others],
                         [2 * b.extent[0] for b in others], [2 * b.extent[1] for b in others])
        return bool(overlaps(mine, theirs).any())

    def destroy(self, actor_id: int) -> bool:
        body = self.bodies.get(actor_id)
        if body is None or not body.alive:
            return False
        body.alive = False
        body.callback = None
        return True

    def _follow(self, body: Body) -> None:
        """A sensor's world pose = its parent's pose @ its mount (CARLA's rigid attachment)."""
        parent = self.bodies[body.parent]
        m = parent.matrix() @ body.relative.matrix()
        body.x, body.y, body.z = m[:3, 3]
        body.yaw = math.degrees(math.atan2(m[1, 0], m[0, 0]))
        body.pitch = math.degrees(math.asin(max(-1.0, min(1.0, m[2, 0]))))
        body.roll = math.degrees(math.atan2(-m[2, 1], m[2, 2]))

    # --- the map ------------------------------------------------------------------------------

    def load_xodr(self, text: str, name: str = "Carla/Maps/OpenDriveMap") -> None:
        """A new world: every actor gone, traffic lights from the map's signals, default settings."""
        from tests.fake_carla.values import WorldSettings

        for body in self.alive():
            if body.kind != "spectator":
                body.alive = False
        self.xodr, self.map_name = text, name
        self.network = _network_of(text) if text else None
        self.settings = WorldSettings()
        if self.network is not None:
            for signal in self.network.xodr.signals:
                if signal.type == "1000001" and not signal.is_reference:
                    self._add("traffic.traffic_light", "traffic_light", {}).opendrive_id = signal.id

    # --- stepping -----------------------------------------------------------------------------

    def tick(self, seconds: float) -> int:
        self.ticks += 1
        faults = self.faults
        if faults.hang_tick == self.ticks:
            time.sleep(seconds)
            raise timeout_error(seconds, self.address)
        if faults.raise_at_tick and faults.raise_at_tick[0] == self.ticks:
            raise faults.raise_at_tick[1]
        dt = self.settings.fixed_delta_seconds or 0.05
        for body in self.alive():
            if body.kind == "vehicle":
                self._drive(body, dt)
            elif body.kind == "walker":
                self._walk(body, dt)
            if body.kind in ("vehicle", "walker", "prop"):
                body.z = self._ground() + (body.extent[2] if body.kind == "walker" else 0.0)
        for body in self.alive("sensor"):
            self._follow(body)
        self.frame += 1
        if self.recording is not None:
            with self.recording.open("a") as out:
                out.write(f"frame {self.frame}: {len(self.alive())} actors\n")
        self._scene[self.frame] = self._boxes()
        self._scene.pop(self.frame - 8, None)
        self._deliver()
        return self.frame

    def _ground(self) -> float:
        return _static_scene(self.network).ground_z_m if self.network is not None else 0.0

    def _drive(self, body: Body, dt: float) -> None:
        speed = math.hypot(body.vx, body.vy)
        if body.target_velocity is not None:
            body.vx, body.vy = body.target_velocity
            body.target_velocity = None
            speed = math.hypot(body.vx, body.vy)
            accel = 0.0
        else:
            c = body.control
            accel = 0.0 if c is None else c.throttle * FAKE_THROTTLE_MPS2 - c.brake * FAKE_BRAKE_MPS2
        steer = 0.0 if body.control is None else math.radians(body.control.steer * body.max_steer_deg)
        new_speed = max(0.0, speed + accel * dt)
        mean = 0.5 * (speed + new_speed)
        yaw = math.radians(body.yaw)
        turn = mean * math.tan(steer) / body.wheelbase * dt
        heading = yaw + 0.5 * turn
        body.x += mean * dt * math.cos(heading)
        body.y += mean * dt * math.sin(heading)
        yaw += turn
        body.yaw = math.degrees(math.remainder(yaw, 2 * math.pi))
        body.ax, body.ay = ((new_speed - speed) / dt * math.cos(yaw), (new_speed - speed) / dt * math.sin(yaw))
        body.vx, body.vy = new_speed * math.cos(yaw), new_speed * math.sin(yaw)

    def _walk(self, body: Body, dt: float) -> None:
        c = body.control
        if body.target_velocity is not None:
            vx, vy = body.target_velocity
            body.target_velocity = None
        elif c is not None:
            norm = math.hypot(c.direction.x, c.direction.y) or 1.0
            vx, vy = c.speed * c.direction.x / norm, c.speed * c.direction.y / norm
        else:
            vx = vy = 0.0
        body.ax, body.ay = (vx - body.vx) / dt, (vy - body.vy) / dt
        body.vx, body.vy = vx, vy
        body.x += vx * dt
        body.y += vy * dt
        if math.hypot(vx, vy) > 1e-9:
            body.yaw = math.degrees(math.atan2(vy, vx))

    def _boxes(self) -> Boxes:
        """Every actor's box now, in the embedded renderer's terms, with CARLA actor ids."""
        solid = [b for b in self.alive() if b.kind in ("vehicle", "walker", "prop")]
        yaw = np.radians([b.yaw for b in solid])
        centre = np.array([[b.x, b.y, b.z + b.box_z] for b in solid]).reshape(-1, 3)
        extent = np.array([b.extent for b in solid], float).reshape(-1, 3)
        return Boxes(centre, extent, yaw, np.array([b.id for b in solid], np.uint32),
                     np.array([b.tag for b in solid], np.uint8), np.ones(len(solid), bool))

    # --- sensors ------------------------------------------------------------------------------

    def _deliver(self) -> None:
        from tests.fake_carla import data

        drop = self.faults.drop_frame
        for body in self.alive("sensor"):
            if body.callback is None:
                continue
            if drop is not None and drop == (body.type_id, self.ticks):
                continue
            if body.type_id in CAMERA_TYPES:
                body.callback(data.Image._of(self, body, self.frame))
            elif body.type_id == "sensor.lidar.ray_cast_semantic":
                body.callback(data.SemanticLidarMeasurement._of(self, body, self.frame))
            elif body.type_id == "sensor.other.collision":
                for event in self._collisions(body):
                    body.callback(event)

    def _collisions(self, sensor: Body) -> list[Any]:
        from tests.fake_carla import data

        parent = self.bodies[sensor.parent]
        others = [b for b in self.alive() if b.kind in ("vehicle", "walker", "prop") and b.id != parent.id]
        now: set[int] = set()
        if others:
            mine = corners(parent.x, parent.y, math.radians(parent.yaw), 2 * parent.extent[0], 2 * parent.extent[1])
            theirs = corners([b.x for b in others], [b.y for b in others], [math.radians(b.yaw) for b in others],
                             [2 * b.extent[0] for b in others], [2 * b.extent[1] for b in others])
            now = {b.id for b, hit in zip(others, overlaps(mine, theirs)) if hit}
        new = sorted(now - sensor.touching)
        sensor.touching = now
        return [data.CollisionEvent._of(self, sensor, other, self.frame) for other in new]

    def emit_lane_invasion(self, markings: tuple[str, ...] = ("Solid",)) -> None:
        """Call every lane-invasion sensor back now, as if its car had just crossed these markings
        (the fake does not trace lane markings itself)."""
        from tests.fake_carla import data
        from tests.fake_carla.values import LaneMarking

        for body in self.alive("sensor"):
            if body.type_id == "sensor.other.lane_invasion" and body.callback is not None:
                body.callback(data.LaneInvasionEvent(self, body, self.frame, [LaneMarking(m) for m in markings]))

    def sensor_boxes(self, sensor: Body, frame: int) -> Boxes:
        """The boxes at `frame` without the sensor's parent (a sensor does not see its own car)."""
        boxes = self._scene[frame]
        return dataclasses.replace(boxes, active=boxes.actor_id != sensor.parent)

    def lighting(self) -> Lighting:
        from tests.fake_carla.values import WEATHER_FIELDS

        return Lighting.from_weather({name: getattr(self.weather, name) for name in WEATHER_FIELDS})

    def render_camera(self, sensor: Body, frame: int, pose: np.ndarray) -> Any:
        """The embedded renderer's CameraFrame for this sensor's mount at `frame` (shared by the four
        cameras the bridge puts on one mount)."""
        a = sensor.attributes
        size = (int(a["image_size_x"]), int(a["image_size_y"]), float(a["fov"]))
        key = (frame, sensor.parent, tuple(np.round(pose, 6).ravel()), size)
        if key not in self._renders:
            if size not in self._renderers:
                camera = Camera(type="camera.rgb", mount=Mount(), width_px=size[0], height_px=size[1], fov_deg=size[2])
                self._renderers[size] = CameraRenderer(_static_scene(self.network), {"cam": camera})
            renderer = self._renderers[size]
            if len(self._renders) > 8:
                self._renders.pop(next(iter(self._renders)))
            self._renders[key] = renderer.render("cam", pose, self.sensor_boxes(sensor, frame), self.lighting(),
                                                 frame, 0.0)
        return self._renders[key]

    def camera_bytes(self, sensor: Body, frame: int, pose: np.ndarray) -> bytes:
        """The sensor's raw_data in CARLA's BGRA layout for its type."""
        image = self.render_camera(sensor, frame, pose)
        if sensor.type_id == "sensor.camera.rgb":
            out = carla_bgra(image.rgb)
        elif sensor.type_id == "sensor.camera.depth":
            out = encode_depth(image.depth_m)
        elif sensor.type_id == "sensor.camera.instance_segmentation":
            out = encode_instance(image.semantic, image.instance)
        else:
            out = encode_semantic(image.semantic)
        return out.tobytes()

    def lidar_scan(self, sensor: Body, frame: int, pose: np.ndarray) -> tuple[bytes, list[int], int]:
        """(raw_data, points per channel, channels) of a semantic LiDAR at `frame`."""
        a = sensor.attributes
        if sensor.id not in self._casters:
            lidar = Lidar(type="lidar.ray_cast_semantic", mount=Mount(), channels=int(a["channels"]),
                          range_m=float(a["range"]), points_per_second=int(a["points_per_second"]),
                          rotation_frequency_hz=float(a["rotation_frequency"]), upper_fov_deg=float(a["upper_fov"]),
                          lower_fov_deg=float(a["lower_fov"]))
            self._casters[sensor.id] = LidarCaster(lidar, self.settings.fixed_delta_seconds or 0.05)
        caster = self._casters[sensor.id]
        scan = caster.scan(pose, self.sensor_boxes(sensor, frame), _static_scene(self.network),
                           frame - sensor.first_frame, 0.0)
        channels = caster.lidar.channels
        return carla_semantic_points(scan).tobytes(), channel_counts(scan, channels).tolist(), channels
