"""A camera frame with its labels drawn on: 2D boxes coloured by class with track ids, the
scenario's edge-case actors highlighted, optionally the projected 3D box wireframes.

The camera image is scaled into its panel first and the labels are drawn at panel resolution
(`CameraFit`): drawing after scaling keeps line widths and text readable and costs a fraction of
drawing at full resolution. Labels use pixel-edge coordinates (edgecase/labels/model.py: (0, 0)
is the top-left corner of the first pixel); OpenCV draws in pixel-centre coordinates, so a label
coordinate x lands at panel x * scale + dx - 0.5. Box outlines are centred on the box's edges.

Wireframes project the labelled world box through the capture's own sensor pose and the camera's
intrinsics (calib.json), each edge cut at the near plane as the labels' amodal boxes are
(edgecase.labels.project), so a box reaching behind the camera runs off the image the right way
instead of flipping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edgecase.labels.model import Box3D, FrameLabels, ObjectLabel
from edgecase.labels.project import Z_NEAR_M
from edgecase.replay import style
from edgecase.sensors.transforms import BOX_EDGES, BOX_SIGNS, apply, optical_from_world

_SHIFT = 4
_ONE = 1 << _SHIFT
_EDGE_A = np.array([a for a, _ in BOX_EDGES])
_EDGE_B = np.array([b for _, b in BOX_EDGES])
_FAR_PX = 1e6  # projected cut points can lie very far out; cv2 clips, but fixed point must not overflow


@dataclass(frozen=True, slots=True)
class CameraFit:
    """How a camera image sits in its panel: scaled by `scale` (aspect kept), placed at (dx, dy)."""

    scale: float
    dx: int
    dy: int
    width: int  # the scaled image's size in the panel
    height: int

    @classmethod
    def of(cls, camera_w: int, camera_h: int, panel_w: int, panel_h: int) -> CameraFit:
        """The largest fit of the camera image into the panel, centred (letterboxed)."""
        scale = min(panel_w / camera_w, panel_h / camera_h)
        width, height = round(camera_w * scale), round(camera_h * scale)
        return cls(scale, (panel_w - width) // 2, (panel_h - height) // 2, width, height)

    def to_panel(self, xy: np.ndarray) -> np.ndarray:
        """Label (pixel-edge) coordinates (..., 2) -> OpenCV panel coordinates (..., 2), float."""
        return np.asarray(xy, float) * self.scale + (self.dx - 0.5, self.dy - 0.5)


def draw_labels(panel: np.ndarray, labels: FrameLabels, camera: str, fit: CameraFit,
                intrinsics: np.ndarray | None = None) -> None:
    """Draw every labelled object that `camera` sees: wireframes first (when `intrinsics` is
    given), then 2D boxes, the edge-case actors last so nothing covers them."""
    seen = [o for o in labels.objects if camera in o.cameras]
    ordered = sorted(seen, key=lambda o: o.role == "adversary")  # stable: plan order otherwise
    if intrinsics is not None and camera in labels.captures:
        pose = np.asarray(labels.captures[camera].sensor_to_world, float)
        for obj in ordered:
            _wireframe(panel, obj, optical_from_world(pose), intrinsics, fit)
    for obj in ordered:
        _box(panel, obj, camera, fit)


def _box(panel: np.ndarray, obj: ObjectLabel, camera: str, fit: CameraFit) -> None:
    """The amodal 2D box and a '#id name' tag above it (the edge case: thick, in the highlight)."""
    edge = obj.role == "adversary"
    colour = style.actor_colour(obj.actor_class, obj.role)
    x0, y0, x1, y1 = obj.cameras[camera].amodal
    (u0, v0), (u1, v1) = fit.to_panel(np.array([[x0, y0], [x1, y1]]))
    thick = 3 if edge else 1
    cv2.rectangle(panel, _pt(u0, v0), _pt(u1, v1), colour, thick, cv2.LINE_8, _SHIFT)
    tag = f"#{obj.track_id} {obj.name if edge else obj.actor_class}"
    y = v0 - thick - 6 if v0 - thick - 6 > fit.dy + 14 else v1 + thick + 14  # below the box at the image's top
    style.label(panel, tag, u0, y, colour, 0.5 if edge else 0.4)


def _wireframe(panel: np.ndarray, obj: ObjectLabel, world_to_optical: np.ndarray, intrinsics: np.ndarray,
               fit: CameraFit) -> None:
    """The 12 edges of the object's 3D box, each cut at the near plane, in its class colour."""
    corners = apply(world_to_optical, box_corners(obj.box))  # (8, 3) optical frame
    a, b = corners[_EDGE_A], corners[_EDGE_B]
    front_a, front_b = a[:, 2] >= Z_NEAR_M, b[:, 2] >= Z_NEAR_M
    keep = front_a | front_b
    t = np.where(front_a == front_b, 0.0, (Z_NEAR_M - a[:, 2]) / np.where(front_a == front_b, 1.0, b[:, 2] - a[:, 2]))
    cut = a + t[:, None] * (b - a)
    a = np.where(front_a[:, None], a, cut)[keep]
    b = np.where(front_b[:, None], b, cut)[keep]
    if not len(a):
        return
    uv = np.stack([a, b], axis=1) @ intrinsics.T  # (E, 2, 3)
    px = np.clip(fit.to_panel(uv[..., :2] / uv[..., 2:3]), -_FAR_PX, _FAR_PX)
    colour = style.actor_colour(obj.actor_class, obj.role)
    cv2.polylines(panel, list(np.rint(px * _ONE).astype(np.int32)), False, colour, 1, cv2.LINE_AA, _SHIFT)


def box_corners(box: Box3D) -> np.ndarray:
    """A labelled box's 8 corners (8, 3) in its frame, CARLA's vertex order (BOX_SIGNS)."""
    half = np.asarray(box.size_m, float) / 2 * BOX_SIGNS
    c, s = math.cos(math.radians(box.yaw_deg)), math.sin(math.radians(box.yaw_deg))
    rotated = np.stack([half[:, 0] * c - half[:, 1] * s, half[:, 0] * s + half[:, 1] * c, half[:, 2]], axis=1)
    return rotated + np.asarray(box.centre_m, float)


def _pt(u: float, v: float) -> tuple[int, int]:
    return int(round(u * _ONE)), int(round(v * _ONE))
