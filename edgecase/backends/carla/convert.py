"""CARLA 0.9.16's transforms and sensor buffers -> edgecase's frames, and the blueprints the bridge spawns.

The bridge hands CARLA's raw objects here and gets the same `CameraFrame` / `LidarFrame` the embedded
backend makes (edgecase.sensors.frames), so labels, records and exports cannot tell the backends
apart. Layouts (../shared/docs/labels-reference.md sections 1.3 and 3; `C:` = github
carla-simulator/carla):

* `carla.Transform.get_matrix()`: 4x4 local -> world, LibCarla's rotation (`C: LibCarla/source/carla/
  geom/Transform.h`). We rebuild it from the fields with `carla_matrix`: `transform()` and
  `inverse_transform()` overwrite their argument in the 0.9.16 wheel, so we call no carla method.
* Cameras (`C: Docs/ref_sensors.md`): `raw_data` is BGRA uint8, H x W row-major. Depth: (R + 256 G +
  65536 B) / (2^24 - 1) * 1000 m, planar along the optical axis. Semantic tag: R. Instance: R = tag,
  actor id = G + 256 B (`C: .../Carla/Game/Tagger.cpp`; the low 16 bits of the actor id, or of UE's
  object id for things that are not actors, github carla PR #8334).
* Semantic LiDAR (`sensor.lidar.ray_cast_semantic`): 24 bytes a point (x, y, z, cos_inc_angle float32;
  object_idx, object_tag uint32), sensor frame (x fwd, y right, z up), channel-major, per-channel
  counts in the header (`get_point_count(ch)`) (`C: LibCarla/source/carla/sensor/data/
  SemanticLidarData.h`; `.../Carla/Sensor/RayCastSemanticLidar.cpp`). Channel i looks at
  `upper - i (upper - lower) / (channels - 1)` from the sensor body (CreateLasers, ShootLaser).
* LiDAR (`sensor.lidar.ray_cast`): 16 bytes a point (x, y, z, intensity float32) (`C: .../LidarData.h`).

Decisions:
* Sky: CARLA's depth camera saturates at its 1000 m far limit, and `encode_depth` writes inf as
  1000 m, so depth >= SKY_DEPTH_M (999.99 m, ~170 codes below the top) decodes to inf, as the
  embedded camera gives for sky. Real surfaces that far away are lost; none is in our maps.
* LiDAR: the bridge spawns only the semantic LiDAR, which has no intensity, drop-off or noise
  (its blueprint has no such attributes: `C: .../Carla/Actor/ActorBlueprintFunctionLibrary.cpp`
  MakeLidarDefinition). A rig's `lidar.ray_cast` gets CARLA's ray-cast model here, with the embedded
  LiDAR's constants and PostprocessDetection step: intensity exp(-0.004 d), a general drop of
  dropoff_general_rate (dropping each hit with that probability is the same law as CARLA's drop of
  each ray before casting), noise along the ray, then the intensity drop-off. So both backends give
  the same kind of data; the draws come from our seeded rng, not CARLA's RandomEngine.
* sensor_tick is "0.0" for every sensor: capture at every world step (the bridge runs synchronous,
  fixed_delta_seconds = step). A tick interval equal to the step can skip steps in UE's scheduler,
  and the LiDAR sweeps `rotation_frequency * 360 * world_dt` per capture (ASensor::PostPhysTickInternal
  passes the world's delta), so a skipped step is a gap in the sweep.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from edgecase.backends.embedded.lidar import ATMOSPHERE_ATTENUATION_RATE, DROPOFF_GENERAL_RATE, _postprocess
from edgecase.sensors.frames import (SEMANTIC_LIDAR_DTYPE, CameraFrame, LidarFrame, decode_depth, decode_instance,
                                     rgb_from_bgra)
from edgecase.sensors.rig import Camera, Lidar
from edgecase.sensors.transforms import carla_matrix

SKY_DEPTH_M = 999.99  # decoded depth at or beyond this is "nothing hit" (inf)
CAMERA_BLUEPRINTS = {"rgb": "sensor.camera.rgb", "depth": "sensor.camera.depth",
                     "instance": "sensor.camera.instance_segmentation",
                     "semantic": "sensor.camera.semantic_segmentation"}
LIDAR_BLUEPRINTS = {"semantic_lidar": "sensor.lidar.ray_cast_semantic"}
#: what sensor.lidar.ray_cast_semantic accepts besides role_name/ros_name (MakeLidarDefinition, AddVariationsForSensor)
SEMANTIC_LIDAR_ATTRIBUTES = frozenset({"channels", "range", "points_per_second", "rotation_frequency", "upper_fov",
                                       "lower_fov", "horizontal_fov", "sensor_tick"})
_LIDAR_POINT = np.dtype("<f4")


def transform_matrix(transform: Any) -> np.ndarray:
    """4x4 local -> world of a carla.Transform-like object, equal to its `get_matrix()`; reads fields only."""
    loc, rot = transform.location, transform.rotation
    return carla_matrix(loc.x, loc.y, loc.z, rot.roll, rot.pitch, rot.yaw)


def image_array(image: Any) -> np.ndarray:
    """(H, W, 4) uint8 BGRA view of a carla.Image-like `raw_data` (read-only when the buffer is)."""
    data = np.frombuffer(image.raw_data, np.uint8)
    shape = (image.height, image.width, 4)
    if data.size != math.prod(shape):
        raise ValueError(f"image buffer holds {data.size} bytes; {image.width}x{image.height} BGRA needs "
                         f"{math.prod(shape)}")
    return data.reshape(shape)


def camera_frame(name: str, tick: int, t_s: float, pose: np.ndarray, intrinsics: np.ndarray,
                 rgb_bgra: np.ndarray, depth_bgra: np.ndarray, instance_bgra: np.ndarray,
                 track_of: Mapping[int, int], semantic_bgra: np.ndarray | None = None) -> CameraFrame:
    """One camera's four CARLA images -> a CameraFrame. `track_of` maps CARLA actor ids to our ids
    (anything else -> 0); the semantic camera's tags are used when given, else the instance camera's."""
    _same_size(rgb_bgra, depth_bgra, instance_bgra, semantic_bgra)
    depth = decode_depth(depth_bgra)
    depth[depth >= SKY_DEPTH_M] = np.inf
    tag, actor = decode_instance(instance_bgra)
    semantic = tag if semantic_bgra is None else np.ascontiguousarray(semantic_bgra[..., 2])
    return CameraFrame(name, tick, t_s, np.array(pose, float), np.array(intrinsics, float),
                       rgb_from_bgra(rgb_bgra), depth, semantic, instance_lut(track_of)[actor])


def _same_size(*images: np.ndarray | None) -> None:
    shapes = {img.shape for img in images if img is not None}
    if len(shapes) != 1 or next(iter(shapes))[2:] != (4,):
        raise ValueError(f"camera images must all be (H, W, 4) BGRA of one size, got {sorted(shapes)}")


def instance_lut(track_of: Mapping[int, int]) -> np.ndarray:
    """(65536,) uint16: instance-camera id -> our id. The camera keeps an actor id's low 16 bits, so
    the table is indexed by those (labels-reference 3.4: ids >= 65536 alias)."""
    lut = np.zeros(1 << 16, np.uint16)
    for actor_id, track in track_of.items():
        if not 0 <= track <= 0xFFFF:
            raise ValueError(f"track id {track} of CARLA actor {actor_id} does not fit an instance mask (uint16)")
        lut[actor_id & 0xFFFF] = track
    return lut


def map_ids(ids: np.ndarray, track_of: Mapping[int, int]) -> np.ndarray:
    """(N,) uint32: CARLA actor ids (any size) -> our ids, 0 where not in `track_of`."""
    out = np.zeros(len(ids), np.uint32)
    if track_of:
        keys = np.fromiter(track_of.keys(), np.int64, len(track_of))
        values = np.fromiter(track_of.values(), np.int64, len(track_of))
        order = np.argsort(keys)
        keys, values = keys[order], values[order]
        pos = np.minimum(np.searchsorted(keys, ids), len(keys) - 1)
        hit = keys[pos] == ids
        out[hit] = values[pos[hit]]
    return out


def semantic_points(raw: bytes | np.ndarray) -> np.ndarray:
    """sensor.lidar.ray_cast_semantic's raw_data as a structured array (SEMANTIC_LIDAR_DTYPE)."""
    return _from_buffer(raw, SEMANTIC_LIDAR_DTYPE)


def lidar_points(raw: bytes | np.ndarray) -> np.ndarray:
    """sensor.lidar.ray_cast's raw_data -> (N, 4) float32 x, y, z, intensity (a copy)."""
    return _from_buffer(raw, _LIDAR_POINT).reshape(-1, 4).copy()


def _from_buffer(raw: Any, dtype: np.dtype) -> np.ndarray:
    if isinstance(raw, np.ndarray):
        if raw.dtype == dtype:
            return raw.reshape(-1)
        raw = np.ascontiguousarray(raw)
    return np.frombuffer(raw, dtype)


def lidar_frame(name: str, tick: int, t_s: float, pose: np.ndarray, semantic_raw: bytes | np.ndarray,
                channels: int, track_of: Mapping[int, int], lidar: Lidar | None = None,
                rng: np.random.Generator | None = None,
                channel_counts: Sequence[int] | None = None) -> LidarFrame:
    """One semantic LiDAR measurement -> a LidarFrame. Channels come from `channel_counts`
    (`[m.get_point_count(i) for i in range(channels)]`, preferred) or from each point's elevation
    (needs `lidar` when channels > 1). A `lidar.ray_cast` rig LiDAR with an rng gets CARLA's
    drop-off and noise; no rng (or the semantic type) keeps every point as it is."""
    if lidar is not None and lidar.channels != channels:
        raise ValueError(f"channels={channels} but the rig's LiDAR has {lidar.channels}")
    pts = semantic_points(semantic_raw)
    xyz = np.stack([pts["x"], pts["y"], pts["z"]], 1).astype(np.float32)
    channel = _channels(xyz, channels, lidar, channel_counts)
    dist = np.linalg.norm(xyz.astype(np.float64), axis=1)
    intensity = np.exp(-ATMOSPHERE_ATTENUATION_RATE * dist)
    rows = np.arange(len(pts))
    if rng is not None and lidar is not None and lidar.type == "lidar.ray_cast":
        rows, xyz = _ray_cast_model(xyz, dist, intensity, lidar, rng)
    return LidarFrame(name, tick, t_s, np.array(pose, float), xyz, intensity[rows].astype(np.float32),
                      channel[rows], pts["cos_inc_angle"][rows].astype(np.float32),
                      map_ids(pts["object_idx"][rows], track_of), pts["object_tag"][rows].astype(np.uint32))


def _channels(xyz: np.ndarray, channels: int, lidar: Lidar | None,
              channel_counts: Sequence[int] | None) -> np.ndarray:
    """(N,) uint8 laser index of channel-major points: from the per-channel counts, else the nearest
    laser elevation (exact while the lasers are far more than float32 rounding apart)."""
    if channel_counts is not None:
        counts = np.asarray(channel_counts, np.int64)
        if len(counts) != channels or counts.sum() != len(xyz) or np.any(counts < 0):
            raise ValueError(f"channel_counts {counts.tolist()} do not split {len(xyz)} points into "
                             f"{channels} channels")
        return np.repeat(np.arange(channels, dtype=np.uint8), counts)
    if channels == 1:
        return np.zeros(len(xyz), np.uint8)
    if lidar is None:
        raise ValueError("a LiDAR with several channels needs `lidar` (elevations) or `channel_counts`")
    p = xyz.astype(np.float64)
    elev = np.degrees(np.arctan2(p[:, 2], np.hypot(p[:, 0], p[:, 1])))
    step = (lidar.upper_fov_deg - lidar.lower_fov_deg) / (channels - 1)
    return np.clip(np.rint((lidar.upper_fov_deg - elev) / step), 0, channels - 1).astype(np.uint8)


def _ray_cast_model(xyz: np.ndarray, dist: np.ndarray, intensity: np.ndarray, lidar: Lidar,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(kept rows, their xyz): CARLA's general drop-off, then PostprocessDetection (noise along the
    ray, intensity drop-off) from the embedded LiDAR, in its draw order."""
    rate = DROPOFF_GENERAL_RATE if lidar.dropoff_general_rate is None else lidar.dropoff_general_rate
    rows = np.arange(len(dist))
    if rate > np.finfo(np.float32).eps:
        rows = rows[rng.random(len(rows)) >= rate]
    reach, keep = _postprocess(dist[rows], intensity[rows], lidar.noise_stddev_m or 0.0, rng)
    rows, reach = rows[keep], reach[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(dist[rows] > 0, reach / dist[rows], 1.0)
    return rows, (xyz[rows] * scale[:, None]).astype(np.float32)


def sensor_blueprints(sensor: Camera | Lidar) -> dict[str, str]:
    """Role -> CARLA blueprint id of what the bridge spawns at this mount: every camera is rendered in
    all four channels (frames.py); every LiDAR is the semantic one (the ray-cast model is applied here)."""
    return dict(CAMERA_BLUEPRINTS if isinstance(sensor, Camera) else LIDAR_BLUEPRINTS)


def blueprint_attributes(sensor: Camera | Lidar, step_s: float) -> dict[str, str]:
    """Every blueprint attribute the bridge sets, as strings with CARLA's names. `step_s` is the
    world's fixed step; sensors capture at each one (sensor_tick "0.0", see the module docstring).
    The semantic LiDAR takes no drop-off or noise attributes: those stay with `lidar_frame`."""
    if not step_s > 0:
        raise ValueError(f"step_s must be > 0, got {step_s}")
    out = sensor.carla_attributes()
    if isinstance(sensor, Lidar):
        out = {k: v for k, v in out.items() if k in SEMANTIC_LIDAR_ATTRIBUTES}
        out["horizontal_fov"] = "360.0"  # our LiDAR model always sweeps 360 deg (CARLA's default)
    out["sensor_tick"] = "0.0"
    return out
