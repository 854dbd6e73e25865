"""The rig on a CARLA ego: sensors spawned at their mounts, each listening into a queue, and one tick's
data gathered by frame id and converted (convert.py) into the SensorFrames the annotator reads.

Why a queue per sensor and frame ids: CARLA calls each sensor's callback on its own thread when the
data is ready, which may be after `world.tick()` has returned, and a slow consumer can find older
frames still queued. So `take(frame)` blocks (up to a timeout) for exactly the frame the last tick
produced, dropping anything older; a frame that never comes is a BackendError naming the sensor,
never a hang and never a frame from the wrong tick silently paired with this tick's labels.
The loop reads sensors only on recorded ticks, so `discard_before` empties the queues every tick.

Per rig camera the bridge spawns the four cameras of `convert.sensor_blueprints` (RGB, depth,
instance and semantic segmentation) at the same mount, since labels need the ground-truth channels;
per rig LiDAR one semantic LiDAR (convert.lidar_frame adds the ray-cast model). Collision and
lane-invasion sensors on the ego record events (`EventSensors`), which the backend exposes as
`sensor_events` and which the recorded episode lists beside the trace's own events.
"""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgecase.backends.carla import convert
from edgecase.errors import BackendError
from edgecase.plan import EpisodePlan
from edgecase.sensors import Camera, Lidar, Rig
from edgecase.sensors.frames import CameraFrame, LidarFrame, SensorFrames
from edgecase.sensors.rig import Mount
from edgecase.sim.trace import Event


class FrameQueue:
    """One sensor's measurements as they arrive; `put` is the sensor's listen callback."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._queue: queue.Queue[Any] = queue.Queue()
        self._held: Any = None  # a measurement newer than the frame last asked for

    def put(self, data: Any) -> None:
        self._queue.put(data)

    def take(self, frame: int, timeout_s: float) -> Any:
        """The measurement of `frame`; older ones are dropped. BackendError if it is not here in time."""
        deadline = time.monotonic() + timeout_s
        while True:
            data, self._held = self._held, None
            if data is None:
                try:
                    data = self._queue.get(timeout=max(deadline - time.monotonic(), 0.0))
                except queue.Empty:
                    raise self._missing(frame, f"nothing arrived within {timeout_s:g} s") from None
            if data.frame == frame:
                return data
            if data.frame > frame:  # the frame was skipped: keep the newer one for the next call
                self._held = data
                raise self._missing(frame, f"the next measurement is frame {data.frame}")

    def discard_before(self, frame: int) -> None:
        """Drop what is already queued from frames before `frame`, without waiting."""
        while True:
            data, self._held = self._held, None
            if data is None:
                try:
                    data = self._queue.get_nowait()
                except queue.Empty:
                    return
            if data.frame >= frame:
                self._held = data
                return

    def _missing(self, frame: int, why: str) -> BackendError:
        return BackendError(f"sensor {self.label}: no measurement for frame {frame} ({why})",
                            hint="the CARLA server dropped or delayed it; a retry may succeed")


@dataclass(eq=False)
class SpawnedSensor:
    name: str  # the rig's sensor name
    role: str  # rgb, depth, instance, semantic, semantic_lidar, collision, lane_invasion
    actor: Any
    queue: FrameQueue


def mount_transform(carla: Any, mount: Mount) -> Any:
    """The mount as a carla.Transform relative to the vehicle (CARLA's attachment frame)."""
    return carla.Transform(carla.Location(x=mount.x_m, y=mount.y_m, z=mount.z_m),
                           carla.Rotation(pitch=mount.pitch_deg, yaw=mount.yaw_deg, roll=mount.roll_deg))


def spawn_sensor(carla: Any, world: Any, library: Any, blueprint_id: str, attributes: dict[str, str],
                 transform: Any, parent: Any, role: str) -> Any:
    try:
        blueprint = library.find(blueprint_id)
    except IndexError:
        raise BackendError(f"the CARLA server has no sensor blueprint {blueprint_id!r}") from None
    for key, value in {"role_name": role, **attributes}.items():
        if not blueprint.has_attribute(key):
            raise BackendError(f"CARLA's {blueprint_id} has no attribute {key!r} (is the server 0.9.16?)")
        blueprint.set_attribute(key, value)
    return world.spawn_actor(blueprint, transform, attach_to=parent)


class RigSensors:
    """Every sensor of one rig on one ego; `capture` converts one tick's measurements."""

    def __init__(self, carla: Any, rig: Rig, plan: EpisodePlan) -> None:
        self.carla, self.rig, self.plan = carla, rig, plan
        self.spawned: list[SpawnedSensor] = []
        self._index = {name: i for i, name in enumerate(rig.sensors)}  # rng streams, as the embedded backend

    def spawn(self, world: Any, library: Any, ego: Any) -> None:
        """The rig's sensors in rig order, attached to the ego, each listening into its queue."""
        carla = self.carla
        for name, sensor in self.rig.sensors.items():
            attributes = convert.blueprint_attributes(sensor, self.plan.step_s)
            for role, blueprint_id in convert.sensor_blueprints(sensor).items():
                actor = spawn_sensor(carla, world, library, blueprint_id, attributes,
                                     mount_transform(carla, sensor.mount), ego, f"{name}.{role}")
                spawned = SpawnedSensor(name, role, actor, FrameQueue(f"'{name}' {role} ({blueprint_id})"))
                self.spawned.append(spawned)
                actor.listen(spawned.queue.put)

    def discard_before(self, frame: int) -> None:
        for sensor in self.spawned:
            sensor.queue.discard_before(frame)

    def capture(self, tick: int, t_s: float, frame: int, track_of: dict[int, int], timeout_s: float) -> SensorFrames:
        """Every sensor's measurement of `frame`, converted; BackendError naming a sensor that has none."""
        deadline = time.monotonic() + timeout_s
        data: dict[str, dict[str, Any]] = {}
        for sensor in self.spawned:
            remaining = max(deadline - time.monotonic(), 0.0)
            data.setdefault(sensor.name, {})[sensor.role] = sensor.queue.take(frame, remaining)
        cameras: dict[str, CameraFrame] = {}
        lidars: dict[str, LidarFrame] = {}
        for name, sensor in self.rig.sensors.items():
            got = data[name]
            if isinstance(sensor, Camera):
                cameras[name] = self._camera(name, sensor, got, tick, t_s, track_of)
            elif isinstance(sensor, Lidar):
                lidars[name] = self._lidar(name, sensor, got["semantic_lidar"], tick, t_s, track_of)
        return SensorFrames(tick, t_s, cameras, lidars)

    def _camera(self, name: str, camera: Camera, got: dict[str, Any], tick: int, t_s: float,
                track_of: dict[int, int]) -> CameraFrame:
        rgb = got["rgb"]
        semantic = got.get("semantic")
        return convert.camera_frame(name, tick, t_s, convert.transform_matrix(rgb.transform), camera.intrinsics(),
                                    convert.image_array(rgb), convert.image_array(got["depth"]),
                                    convert.image_array(got["instance"]), track_of,
                                    semantic_bgra=None if semantic is None else convert.image_array(semantic))

    def _lidar(self, name: str, lidar: Lidar, measurement: Any, tick: int, t_s: float,
               track_of: dict[int, int]) -> LidarFrame:
        channels = measurement.channels
        counts = [measurement.get_point_count(channel) for channel in range(channels)]
        rng = np.random.default_rng([self.plan.seed, tick, self._index[name]])
        return convert.lidar_frame(name, tick, t_s, convert.transform_matrix(measurement.transform),
                                   measurement.raw_data, channels, track_of, lidar=lidar, rng=rng,
                                   channel_counts=counts)

    def stop(self) -> None:
        for sensor in self.spawned:
            sensor.actor.stop()


class EventSensors:
    """Collision and lane-invasion sensors on the ego: what CARLA's physics saw, as trace Events."""

    BLUEPRINTS = {"collision": "sensor.other.collision", "lane_invasion": "sensor.other.lane_invasion"}

    def __init__(self, carla: Any, ego_name: str) -> None:
        self.carla, self.ego_name = carla, ego_name
        self.spawned: list[Any] = []
        # (frame, kind, other actor id or None, detail), appended from CARLA's callback threads
        self._raw: list[tuple[int, str, Any, str]] = []

    def spawn(self, world: Any, library: Any, ego: Any) -> None:
        carla = self.carla
        origin = carla.Transform(carla.Location(x=0.0, y=0.0, z=0.0), carla.Rotation(pitch=0.0, yaw=0.0, roll=0.0))
        for role, blueprint_id in self.BLUEPRINTS.items():
            actor = spawn_sensor(carla, world, library, blueprint_id, {}, origin, ego, f"ego.{role}")
            self.spawned.append(actor)
            actor.listen(self._on_collision if role == "collision" else self._on_lane_invasion)

    def _on_collision(self, event: Any) -> None:
        other = event.other_actor
        self._raw.append((event.frame, "carla_collision", None if other is None else other.id,
                          "" if other is None else other.type_id))

    def _on_lane_invasion(self, event: Any) -> None:
        markings = sorted({str(marking.type) for marking in event.crossed_lane_markings})
        self._raw.append((event.frame, "carla_lane_invasion", None, ",".join(markings)))

    def events(self, first_frame: int, step_s: float, names: dict[int, str]) -> list[Event]:
        """The events so far, ticks counted from `first_frame` (tick 0); the other actor by its plan name
        when it is one of ours, else by its CARLA blueprint (a building is 'static.*' or empty)."""
        out = []
        for frame, kind, other_id, detail in list(self._raw):
            tick = frame - first_frame
            out.append(Event(tick, tick * step_s, kind, self.ego_name, names.get(other_id, detail)))
        return out

    def stop(self) -> None:
        for actor in self.spawned:
            actor.stop()
