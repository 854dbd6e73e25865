"""What sensors produce at one tick, in CARLA 0.9.16's conventions, whichever backend made it.

The embedded renderer and the CARLA bridge both fill these values, so the annotator, the writer
and the exports read one thing. Arrays are the decoded content of CARLA's buffers
(../shared/docs/labels-reference.md section 3); `carla_*` functions give the raw layouts back:

* camera: `rgb` (H, W, 3) uint8 RGB; `depth_m` (H, W) float32 planar depth along the optical axis,
  inf where nothing is hit (sky); `semantic` (H, W) uint8 CARLA tag (`carla.CityObjectLabel`);
  `instance` (H, W) uint16 actor id (0 = no registered actor). Every camera is rendered in all
  four channels, whatever its `type`: depth and instance are the ground truth labels need (the
  bridge spawns hidden depth and instance cameras at the same mount).
* LiDAR: one row per returned point, channel-major as CARLA stores them; `xyz_m` in the sensor's
  frame (x fwd, y right, z up: CARLA's, left-handed), `intensity` = exp(-0.004 d), and the
  semantic LiDAR's `cos_inc`, `object_idx` (actor id, 0 if none) and `object_tag` for every point.
* `pose` is the sensor's 4x4 sensor -> world matrix at capture (CARLA's `data.transform`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import cv2
import numpy as np

#: sensor.lidar.ray_cast_semantic's point layout (24 bytes; labels-reference 3.6)
SEMANTIC_LIDAR_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("cos_inc_angle", "<f4"),
                                 ("object_idx", "<u4"), ("object_tag", "<u4")])
DEPTH_MAX_M = 1000.0  # CARLA's depth camera encodes 0..1000 m


@dataclass(frozen=True, eq=False)
class CameraFrame:
    name: str
    tick: int
    t_s: float
    pose: np.ndarray  # (4, 4) sensor -> world
    intrinsics: np.ndarray  # (3, 3) K
    rgb: np.ndarray  # (H, W, 3) uint8, RGB order
    depth_m: np.ndarray  # (H, W) float32, inf = nothing hit
    semantic: np.ndarray  # (H, W) uint8 CARLA tag
    instance: np.ndarray  # (H, W) uint16 actor id, 0 = none

    @property
    def size_px(self) -> tuple[int, int]:
        """(width, height)"""
        return self.rgb.shape[1], self.rgb.shape[0]


@dataclass(frozen=True, eq=False)
class LidarFrame:
    name: str
    tick: int
    t_s: float
    pose: np.ndarray  # (4, 4) sensor -> world
    xyz_m: np.ndarray  # (N, 3) float32, sensor frame (CARLA: x fwd, y right, z up)
    intensity: np.ndarray  # (N,) float32
    channel: np.ndarray  # (N,) uint8 laser index (0 = top); nuScenes' ring index
    cos_inc: np.ndarray  # (N,) float32
    object_idx: np.ndarray  # (N,) uint32 actor id, 0 = not an actor
    object_tag: np.ndarray  # (N,) uint32 CARLA tag

    def __len__(self) -> int:
        return len(self.xyz_m)


@dataclass(frozen=True, eq=False)
class SensorFrames:
    """Everything the rig saw at one tick, by sensor name."""

    tick: int
    t_s: float
    cameras: Mapping[str, CameraFrame] = field(default_factory=dict)
    lidars: Mapping[str, LidarFrame] = field(default_factory=dict)


# --- CARLA's raw layouts (labels-reference 3.1-3.6) -------------------------------------------------

def carla_bgra(rgb: np.ndarray) -> np.ndarray:
    """sensor.camera.rgb's raw_data: BGRA, alpha 255."""
    out = np.empty(rgb.shape[:2] + (4,), np.uint8)
    out[..., :3] = rgb[..., ::-1]
    out[..., 3] = 255
    return out


def rgb_from_bgra(bgra: np.ndarray) -> np.ndarray:
    """RGB from a BGRA buffer (OpenCV's channel swap: one pass, far faster than a strided numpy copy)."""
    return cv2.cvtColor(np.ascontiguousarray(bgra), cv2.COLOR_BGRA2RGB)


def encode_depth(depth_m: np.ndarray) -> np.ndarray:
    """sensor.camera.depth's BGRA: normalized = (R + 256 G + 65536 B) / (2^24 - 1) = depth / 1000 m."""
    d = np.minimum(np.nan_to_num(depth_m, nan=DEPTH_MAX_M, posinf=DEPTH_MAX_M), DEPTH_MAX_M)
    code = np.rint(d / DEPTH_MAX_M * (256 ** 3 - 1)).astype(np.uint32)
    out = np.empty(d.shape + (4,), np.uint8)
    out[..., 2] = code & 0xFF
    out[..., 1] = (code >> 8) & 0xFF
    out[..., 0] = (code >> 16) & 0xFF
    out[..., 3] = 255
    return out


def decode_depth(bgra: np.ndarray) -> np.ndarray:
    """Metres from sensor.camera.depth's BGRA; 1000 m (the far limit) stays 1000.

    Each pixel is read as one little-endian uint32 (B | G << 8 | R << 16 | A << 24) and its bytes
    rearranged into CARLA's R + 256 G + 65536 B: a few integer passes, no float64 temporaries
    (the 24-bit code is exact in float32)."""
    px = np.ascontiguousarray(bgra).view("<u4")[..., 0]
    code = ((px & 0xFF) << 16) | (px & 0xFF00) | ((px >> 16) & 0xFF)
    return code.astype(np.float32) * np.float32(DEPTH_MAX_M / (256 ** 3 - 1))


def encode_instance(semantic: np.ndarray, instance: np.ndarray) -> np.ndarray:
    """sensor.camera.instance_segmentation's BGRA: R = tag, G = id & 0xFF, B = id >> 8."""
    out = np.empty(semantic.shape + (4,), np.uint8)
    out[..., 2] = semantic
    out[..., 1] = instance & 0xFF
    out[..., 0] = (instance >> 8) & 0xFF
    out[..., 3] = 255
    return out


def decode_instance(bgra: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(semantic tag uint8, actor id uint16) from an instance-segmentation BGRA buffer."""
    px = np.ascontiguousarray(bgra).view("<u4")[..., 0]  # B | G << 8 | R << 16 | A << 24
    tag = (px >> 16).astype(np.uint8)
    ids = (((px & 0xFF) << 8) | ((px >> 8) & 0xFF)).astype(np.uint16)
    return tag, ids


def encode_semantic(semantic: np.ndarray) -> np.ndarray:
    """sensor.camera.semantic_segmentation's BGRA: the tag in R, zeros elsewhere."""
    out = np.zeros(semantic.shape + (4,), np.uint8)
    out[..., 2] = semantic
    out[..., 3] = 255
    return out


def carla_lidar_points(frame: LidarFrame) -> np.ndarray:
    """sensor.lidar.ray_cast's raw_data as (N, 4) float32: x, y, z, intensity (sensor frame, y right)."""
    out = np.empty((len(frame), 4), np.float32)
    out[:, :3] = frame.xyz_m
    out[:, 3] = frame.intensity
    return out


def carla_semantic_points(frame: LidarFrame) -> np.ndarray:
    """sensor.lidar.ray_cast_semantic's raw_data as a structured array (SEMANTIC_LIDAR_DTYPE)."""
    out = np.empty(len(frame), SEMANTIC_LIDAR_DTYPE)
    out["x"], out["y"], out["z"] = frame.xyz_m[:, 0], frame.xyz_m[:, 1], frame.xyz_m[:, 2]
    out["cos_inc_angle"] = frame.cos_inc
    out["object_idx"] = frame.object_idx
    out["object_tag"] = frame.object_tag
    return out


def channel_counts(frame: LidarFrame, channels: int) -> np.ndarray:
    """Points per laser (CARLA's header, `get_point_count(ch)`)."""
    return np.bincount(frame.channel, minlength=channels).astype(np.uint32)
