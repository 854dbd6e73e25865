"""The embedded backend's CPU camera: the StaticScene and the actors' boxes -> a CameraFrame.

Two engines behind one `CameraRenderer`, chosen once and reported (`engine_name`, `fallback_reason`):
* "moderngl-egl" (camera_gl): OpenGL 3.3 on Mesa's llvmpipe through EGL, no display or GPU needed;
  exact per pixel. Measured, 1280x720 with 20 actors on builtin:urban_straight, one core: ~9 ms.
* "painter" (camera_painter): numpy + cv2.fillConvexPoly, far to near, exact planar depth; needs
  only pip wheels; ~10.5 ms on the same scene (its per-pixel passes skip the all-sky rows, as GL
  does). Instance masks agree with GL except on 1-px edges (>= 99.7% of pixels).
  (../shared/docs/cpu-sensors-notes.md has the measurements that chose these two.)
"auto" tries EGL once per process and falls back to the painter on any failure, recording why;
$EDGECASE_CAMERA_ENGINE=painter|moderngl replaces "auto" (an explicit `engine` argument wins).

CARLA 0.9.16 conventions (../shared/docs/labels-reference.md 1-3), shared by both engines:
* world frame x forward, y right, z up (left-handed); `pose` is the camera's 4x4 sensor -> world
  matrix (`carla_matrix`); the optical frame is OPTICAL @ inverse(pose) (x right, y down, z forward).
* pinhole K = camera.intrinsics(): u = f x / z + cx, v = f y / z + cy, pixel centres at +0.5 (a point
  at u = 10.3 lies in column 10); near plane NEAR_M = 0.1 m (UE's default near clip).
* outputs: rgb (H, W, 3) uint8 RGB; depth_m float32 planar depth along the optical axis, inf for sky;
  semantic uint8 CARLA tag (sky 11); instance uint16 Boxes.actor_id (low 16 bits, as CARLA's
  instance camera), 0 where no actor. Inactive boxes are not drawn. Back faces are culled in both
  engines, so a camera inside a box (a cabin camera in the ego's box) sees out of it.
Face colours are computed here once (Lighting.shade), fog per pixel by each engine; noise
(camera.noise_stddev, Gaussian, seeded) and blur (camera.blur_px) are applied here, to RGB only.
The same inputs give byte-identical arrays for a given engine.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from edgecase.backends.embedded.lighting import Lighting, body_albedo
from edgecase.backends.embedded.scene import StaticScene
from edgecase.sensors.frames import CameraFrame
from edgecase.sensors.rig import Camera
from edgecase.sensors.transforms import OPTICAL, optical_from_world
from edgecase.sim.boxes import Boxes

__all__ = ["CameraRenderer", "EngineUnavailable", "Lighting", "box_faces", "make_view"]  # Lighting: for callers

ENGINE_ENV = "EDGECASE_CAMERA_ENGINE"
ENGINES = ("auto", "moderngl", "painter")
NEAR_M = 0.1

#: A box's faces as loops of CARLA BoundingBox vertex indices (i = 4 bx + 2 by + bz), each wound so
#: that (b - a) x (c - a) is the outward normal; order -x, +x, -y, +y, -z, +z.
FACE_CORNERS = np.array([[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]])
FACE_NORMALS = np.array([[-1, 0, 0], [1, 0, 0], [0, -1, 0], [0, 1, 0], [0, 0, -1], [0, 0, 1]], float)


class EngineUnavailable(RuntimeError):
    """The requested camera engine cannot run here (e.g. no EGL)."""


@dataclass(frozen=True, eq=False)
class BoxFaces:
    """The 6 faces of every active box, in world coordinates, flattened box-major (6 per box)."""

    quads: np.ndarray  # (F, 4, 3) corners, outward winding
    normals: np.ndarray  # (F, 3) outward unit normals
    colour: np.ndarray  # (F, 3) lit colour, 0..1, before fog
    actor_id: np.ndarray  # (F,) uint16
    tag: np.ndarray  # (F,) uint8
    centre: np.ndarray  # (F // 6, 3) box centres, for far-to-near sorting

    def __len__(self) -> int:
        return len(self.tag)


@dataclass(frozen=True, eq=False)
class View:
    """One camera at one pose: what an engine needs to draw it."""

    name: str
    width: int
    height: int
    intrinsics: np.ndarray  # K
    optical_from_world: np.ndarray  # 4x4
    world_from_optical: np.ndarray  # 3x3 rotation only (ray directions, sky)


def box_faces(boxes: Boxes, lighting: Lighting) -> BoxFaces:
    """Faces of the active boxes, shaded by their normals against the sun."""
    active = np.flatnonzero(np.asarray(boxes.active, bool))
    corners = boxes.vertices()[active]  # (n, 8, 3)
    quads = corners[:, FACE_CORNERS].reshape(-1, 4, 3)
    cos, sin = np.cos(boxes.yaw_rad[active]), np.sin(boxes.yaw_rad[active])
    n = FACE_NORMALS[None]  # yaw about z, as Boxes.vertices turns the corners
    normals = np.stack([n[..., 0] * cos[:, None] - n[..., 1] * sin[:, None],
                        n[..., 0] * sin[:, None] + n[..., 1] * cos[:, None],
                        np.broadcast_to(n[..., 2], (len(active), 6))], axis=-1).reshape(-1, 3)
    tags = np.asarray(boxes.tag)[active].astype(np.uint8)
    ids = np.asarray(boxes.actor_id)[active]
    albedo = np.repeat(body_albedo(tags, ids), 6, axis=0)
    return BoxFaces(quads=quads, normals=normals, colour=lighting.shade(albedo, normals),
                    actor_id=np.repeat((ids & 0xFFFF).astype(np.uint16), 6), tag=np.repeat(tags, 6),
                    centre=np.asarray(boxes.centre_m)[active])


def make_view(name: str, camera: Camera, pose: np.ndarray) -> View:
    pose = np.asarray(pose, float)
    return View(name=name, width=camera.width_px, height=camera.height_px, intrinsics=camera.intrinsics(),
                optical_from_world=optical_from_world(pose), world_from_optical=pose[:3, :3] @ OPTICAL.T)


def sky_pixels(view: View, lighting: Lighting, fogged: bool = True) -> np.ndarray:
    """(H, W, 3) uint8: Lighting.sky for the ray through every pixel centre (engines cache it: it
    depends only on the camera's tilt, the world's up in its frame, not on its yaw or position)."""
    k = view.intrinsics
    xn = ((np.arange(view.width) + 0.5 - k[0, 2]) / k[0, 0])[None, :]
    yn = ((np.arange(view.height) + 0.5 - k[1, 2]) / k[1, 1])[:, None]
    a, b, c = view.world_from_optical[2]  # world z of the optical axes
    sin_e = (a * xn + b * yn + c) / np.sqrt(1.0 + xn ** 2 + yn ** 2)
    return np.clip(np.rint(lighting.sky(sin_e, fogged) * 255.0), 0, 255).astype(np.uint8)


def sky_key(view: View, lighting: Lighting) -> tuple:
    """What sky_pixels depends on, for a cache."""
    return lighting, view.width, view.height, tuple(np.round(view.world_from_optical[2], 9).tolist())


def camera_effects(rgb: np.ndarray, camera: Camera, rng: np.random.Generator) -> np.ndarray:
    """Blur (optics) then Gaussian noise (sensor), RGB only; a no-op for ground-truth cameras."""
    if camera.blur_px:
        rgb = cv2.GaussianBlur(rgb, (0, 0), sigmaX=camera.blur_px, borderType=cv2.BORDER_REFLECT)
    if camera.noise_stddev:
        noisy = rgb.astype(np.float32)
        noisy += rng.standard_normal(rgb.shape, dtype=np.float32) * np.float32(camera.noise_stddev)
        rgb = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    return rgb


def _default_rng(name: str, tick: int) -> np.random.Generator:
    """Noise needs a seed; without an rng the frame's own (tick, camera name) gives a stable one."""
    return np.random.default_rng([tick & 0xFFFFFFFF, zlib.crc32(name.encode())])


def _start(engine: str, static: StaticScene, cameras: dict[str, Camera]):
    """(engine, why GL is not used or None): "auto" (or $EDGECASE_CAMERA_ENGINE) tries GL, then the painter."""
    source = "the engine argument" if engine != "auto" else f"${ENGINE_ENV}"
    choice = engine if engine != "auto" else (os.environ.get(ENGINE_ENV, "").strip().lower() or "auto")
    if choice not in ENGINES:
        raise ValueError(f"camera engine {choice!r} (from {source}) is not one of {', '.join(ENGINES)}")
    if choice == "painter":
        reason = f"painter requested ({source})"
    else:
        from edgecase.backends.embedded import camera_gl

        try:
            return camera_gl.GLEngine(static, cameras), None
        except EngineUnavailable as e:
            if choice == "moderngl":
                raise
            reason = str(e)
    from edgecase.backends.embedded.camera_painter import PainterEngine

    return PainterEngine(static, cameras), reason


class CameraRenderer:
    """Renders the named cameras of one rig over one static scene; one engine for all of them."""

    def __init__(self, static: StaticScene, cameras: Mapping[str, Camera], engine: str = "auto") -> None:
        self.cameras = dict(cameras)
        self._engine, self.fallback_reason = _start(engine, static, self.cameras)
        self.engine_name: str = self._engine.name  # "moderngl-egl" or "painter"

    def render(self, name: str, pose: np.ndarray, boxes: Boxes, lighting: Lighting, tick: int = 0,
               t_s: float = 0.0, rng: np.random.Generator | None = None) -> CameraFrame:
        """Camera `name` at `pose` (4x4 sensor -> world) seeing `boxes` under `lighting`."""
        if self._engine is None:
            raise RuntimeError("CameraRenderer is closed")
        camera = self.cameras.get(name)
        if camera is None:
            raise KeyError(f"no camera {name!r} in this renderer (cameras: {', '.join(self.cameras) or 'none'})")
        view = make_view(name, camera, pose)
        rgb, depth, semantic, instance = self._engine.render(view, box_faces(boxes, lighting), lighting)
        if camera.blur_px or camera.noise_stddev:
            rgb = camera_effects(rgb, camera, rng if rng is not None else _default_rng(name, tick))
        return CameraFrame(name=name, tick=tick, t_s=t_s, pose=np.asarray(pose, float).copy(),
                           intrinsics=view.intrinsics, rgb=rgb, depth_m=depth, semantic=semantic, instance=instance)

    def close(self) -> None:
        """Free the engine's buffers (the process's GL context stays for the next renderer)."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def __enter__(self) -> CameraRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
