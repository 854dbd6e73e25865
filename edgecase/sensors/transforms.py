"""CARLA's transforms as numpy: 4x4 matrices, the camera's optical frame, pinhole projection.

Conventions (../shared/docs/labels-reference.md sections 1.2, 1.3, 2): CARLA's world and sensor
frames are left-handed (x forward, y right, z up), angles in degrees; `carla_matrix` builds what
`carla.Transform.get_matrix()` returns. A camera's optical frame is OpenCV's (x right, y down,
z forward): p_opt = OPTICAL @ p_ue.
"""

from __future__ import annotations

import math

import numpy as np

#: UE camera frame (x fwd, y right, z up) -> optical frame (x right, y down, z fwd): (x, y, z) -> (y, -z, x)
OPTICAL = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def carla_matrix(x_m: float = 0.0, y_m: float = 0.0, z_m: float = 0.0,
                 roll_deg: float = 0.0, pitch_deg: float = 0.0, yaw_deg: float = 0.0) -> np.ndarray:
    """4x4 local -> parent, as `carla.Transform(Location(x, y, z), Rotation(pitch, yaw, roll)).get_matrix()`."""
    cy, sy = math.cos(math.radians(yaw_deg)), math.sin(math.radians(yaw_deg))
    cp, sp = math.cos(math.radians(pitch_deg)), math.sin(math.radians(pitch_deg))
    cr, sr = math.cos(math.radians(roll_deg)), math.sin(math.radians(roll_deg))
    return np.array([[cp * cy, cy * sp * sr - sy * cr, -cy * sp * cr - sy * sr, x_m],
                     [cp * sy, sy * sp * sr + cy * cr, -sy * sp * cr + cy * sr, y_m],
                     [sp, -cp * sr, cp * cr, z_m],
                     [0.0, 0.0, 0.0, 1.0]])


def invert(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a rigid 4x4 transform ([R t] -> [R^T -R^T t]), exact and cheap."""
    out = np.eye(4)
    rot = matrix[:3, :3].T
    out[:3, :3] = rot
    out[:3, 3] = -rot @ matrix[:3, 3]
    return out


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (..., 3) through a 4x4 transform."""
    return points @ matrix[:3, :3].T + matrix[:3, 3]


def optical_from_world(camera_pose: np.ndarray) -> np.ndarray:
    """4x4 world -> camera optical frame, for a camera whose sensor -> world pose is `camera_pose`."""
    out = np.eye(4)
    out[:3, :] = OPTICAL @ invert(camera_pose)[:3, :]
    return out


def project(intrinsics: np.ndarray, points_opt: np.ndarray) -> np.ndarray:
    """Pixel coordinates (..., 2) of points (..., 3) in the optical frame (z > 0 assumed): u = f x / z + cx."""
    uvw = points_opt @ intrinsics.T
    return uvw[..., :2] / uvw[..., 2:3]


#: CARLA's BoundingBox vertex order: i = 4 bx + 2 by + bz, b = 0 -> -extent, 1 -> +extent (labels-reference 1.5)
BOX_SIGNS = np.array([[-1, -1, -1], [-1, -1, 1], [-1, 1, -1], [-1, 1, 1],
                      [1, -1, -1], [1, -1, 1], [1, 1, -1], [1, 1, 1]], dtype=float)
#: The 12 edges CARLA's bounding-box tutorial draws, as vertex index pairs
BOX_EDGES = ((0, 1), (1, 3), (3, 2), (2, 0), (0, 4), (4, 5), (5, 1), (5, 7), (7, 6), (6, 4), (6, 2), (7, 3))
