"""The painter camera engine: numpy + cv2.fillConvexPoly, no OpenGL needed (the fallback).

How (measured choices in ../shared/docs/cpu-sensors-notes.md, section 2):
* Painter's algorithm. The static scene is a layered flat ground, drawn in order of height (terrain,
  other ground, sidewalks, roads, markings: the builder's millimetre layers), then the boxes far to
  near by centre distance, back faces culled. Faces wholly outside one frustum plane are dropped in
  numpy; the rest are clipped (Sutherland-Hodgman) only where they cross the near plane or a wide
  guard band, so cv2's fixed-point coordinates (shift=8, 1/256 px: fine enough that a pixel centre
  0.01 px inside an edge is not rounded out) cannot overflow.
* Colour and tag go into one 4-channel uint8 image (one fill per face). Depth is exact: each face
  also fills the coefficients n/d of its plane n . P = d (optical frame) into a float image, and
  1/z = (n/d) . (x/z, y/z, 1) per pixel; sky keeps 0, so depth = 1/0 = inf. Box faces fill their
  actor id into a uint16 image.
* cv2 puts pixel centres on integer coordinates; the camera's are at +0.5, so a point goes to
  (u - 0.5, v - 0.5) * 16.
* Fog is one per-pixel blend by ray distance (cv2.blendLinear); the sky background (gradient by ray
  elevation) is cached per camera and camera tilt, since yaw does not change it. The per-pixel passes
  (depth, fog: most of the cost) skip the rows above the highest face drawn, which are all sky.
* cv2 fills every pixel whose centre is within half a pixel of the polygon (it rounds each span's
  ends, and the first and last rows, to the nearest pixel), GL only those inside. Box faces are
  therefore narrowed by half a pixel horizontally and cut half a pixel at their top and bottom
  before filling (`_centre_rule`), so instance masks cover the pixels whose centres the box covers,
  as GL's do (measured: IoU >= 0.9 with the annotator's rasterised boxes, as GL), and agree with
  the annotator's projected boxes. Ground faces are left as they are
  (overlaps of half a pixel between ground layers change nothing a label reads).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import cv2
import numpy as np

from edgecase.backends.embedded.camera import NEAR_M, BoxFaces, View, sky_key, sky_pixels
from edgecase.backends.embedded.lighting import SKY_DISTANCE_M, Lighting
from edgecase.backends.embedded.scene import TAG_SKY, StaticScene
from edgecase.sensors.rig import Camera

SHIFT = 8  # cv2 sub-pixel bits
GUARD_PX = 2048  # clip where a projected point would leave the image by more than this


class _Grid:
    """Per camera: normalised pixel-centre coordinates and ray lengths (fixed for its lifetime)."""

    def __init__(self, camera: Camera) -> None:
        k = camera.intrinsics()
        f, cx, cy = k[0, 0], k[0, 2], k[1, 2]
        u = (np.arange(camera.width_px) + 0.5 - cx) / f
        v = (np.arange(camera.height_px) + 0.5 - cy) / f
        xn, yn = (a.astype(np.float32) for a in np.meshgrid(u, v))
        self.rays = np.dstack([xn, yn, np.ones_like(xn)])  # (H, W, 3): (x/z, y/z, 1) of each pixel centre
        self.ray_len = np.sqrt(1.0 + xn ** 2 + yn ** 2).astype(np.float32)
        self.planes = np.zeros(self.rays.shape, np.float32)  # the per-face plane coefficients, reused
        self.sky_key: tuple | None = None
        self.sky: np.ndarray | None = None
        self.fog_key: tuple | None = None
        self.fog: np.ndarray | None = None


class PainterEngine:
    name = "painter"

    def __init__(self, static: StaticScene, cameras: Mapping[str, Camera]) -> None:
        order = np.argsort(static.triangles_m[:, :, 2].mean(axis=1), kind="stable")  # layers, lowest first
        self._tris = static.triangles_m[order].astype(np.float64)
        self._tags = static.tag[order].astype(np.uint8)
        self._albedo = static.colour[order].astype(np.float64) / 255.0
        self._grids = {name: _Grid(cam) for name, cam in cameras.items()}
        self._lit: tuple[Lighting, list[tuple[int, int, int, int]]] | None = None

    def close(self) -> None:
        self._grids = {}

    def render(self, view: View, faces: BoxFaces, lighting: Lighting):
        grid = self._grids[view.name]
        sky, fogged_sky = self._sky(grid, view, lighting)
        rgbt = sky.copy()
        planes = grid.planes  # all zero here: each frame zeroes the rows it drew on (never returned)
        ids = np.zeros((view.height, view.width), np.uint16)
        top = min(self._draw_static(view, lighting, rgbt, planes), self._draw_boxes(view, faces, rgbt, planes, ids))
        # rows above `top` are all sky: their depth is inf and their colour the cached fogged sky, so
        # the per-pixel passes (this engine's main cost) run on the rows below only
        top = min(max(top, 0), view.height)
        depth = np.empty((view.height, view.width), np.float32)
        depth[:top] = np.inf
        _depth(planes[top:], grid.rays[top:], out=depth[top:])
        planes[top:] = 0.0
        rgb = cv2.cvtColor(rgbt, cv2.COLOR_RGBA2RGB)
        rgb[:top] = fogged_sky[:top]
        if lighting.fog_per_m > 0.0 and top < view.height:
            _fog(rgb[top:], depth[top:], grid.ray_len[top:], grid, lighting)
        return rgb, depth, np.ascontiguousarray(rgbt[..., 3]), ids

    # --- background -----------------------------------------------------------------------------------

    def _sky(self, grid: _Grid, view: View, lighting: Lighting) -> tuple[np.ndarray, np.ndarray]:
        """The sky with the sky tag before fog (RGBT: the background) and after it (RGB: rows above
        every face), cached until the lighting or the camera's tilt changes."""
        key = sky_key(view, lighting)
        if grid.sky_key != key:
            sky = np.empty((view.height, view.width, 4), np.uint8)
            sky[..., :3] = sky_pixels(view, lighting, fogged=False)
            sky[..., 3] = TAG_SKY
            grid.sky_key, grid.sky = key, (sky, sky_pixels(view, lighting))
        return grid.sky

    # --- faces ----------------------------------------------------------------------------------------

    def _static_colours(self, lighting: Lighting) -> list[tuple[int, int, int, int]]:
        if self._lit is None or self._lit[0] != lighting:
            rgb = np.rint(lighting.shade_ground(self._albedo) * 255.0).astype(int)
            self._lit = (lighting, [(r, g, b, t) for (r, g, b), t in zip(rgb.tolist(), self._tags.tolist())])
        return self._lit[1]

    def _draw_static(self, view: View, lighting: Lighting, rgbt: np.ndarray, planes: np.ndarray) -> int:
        """Fill the ground's faces in layer order; the topmost image row touched."""
        colours = self._static_colours(lighting)
        pts = _to_optical(view, self._tris)
        normal = np.cross(pts[:, 1] - pts[:, 0], pts[:, 2] - pts[:, 0])
        keep = _in_frustum(view, pts)
        index = np.flatnonzero(keep)
        coef = _plane_coefficients(normal[index], pts[index, 0])
        ok = np.isfinite(coef).all(axis=1)  # edge-on faces (plane through the camera) show nothing
        index, coef = index[ok], coef[ok]
        polys, top = _pixels(view, pts[index])
        for i, poly, c in zip(index.tolist(), polys, coef.tolist()):
            if poly is not None:
                cv2.fillConvexPoly(rgbt, poly, colours[i], cv2.LINE_8, SHIFT)
                cv2.fillConvexPoly(planes, poly, c, cv2.LINE_8, SHIFT)
        return top

    def _draw_boxes(self, view: View, faces: BoxFaces, rgbt: np.ndarray, planes: np.ndarray, ids: np.ndarray) -> int:
        """Fill the boxes' front faces far to near; the topmost image row touched."""
        if not len(faces):
            return view.height
        pts = _to_optical(view, faces.quads)
        normal = faces.normals @ view.optical_from_world[:3, :3].T
        facing = np.einsum("ij,ij->i", normal, pts[:, 0]) < 0  # camera (origin) on the outer side
        keep = facing & _in_frustum(view, pts)
        centre = _to_optical(view, faces.centre)
        far_first = np.argsort(-np.linalg.norm(centre, axis=1), kind="stable")
        index = np.array([6 * b + k for b in far_first for k in range(6) if keep[6 * b + k]], int)
        if not len(index):
            return view.height
        coef = _plane_coefficients(normal[index], pts[index, 0])
        rgb = np.rint(faces.colour[index] * 255.0).astype(int).tolist()
        tags, actor = faces.tag[index].tolist(), faces.actor_id[index].tolist()
        polys, top = _pixels(view, pts[index])
        for poly, c, col, tag, aid in zip(polys, coef.tolist(), rgb, tags, actor):
            if poly is None:
                continue
            fitted = _centre_rule(poly)
            if fitted is not None:
                cv2.fillConvexPoly(rgbt, fitted, (*col, tag), cv2.LINE_8, SHIFT)
                cv2.fillConvexPoly(planes, fitted, c, cv2.LINE_8, SHIFT)
                cv2.fillConvexPoly(ids, fitted, aid, cv2.LINE_8, SHIFT)
            else:  # under a pixel wide or tall: test its few pixel centres one by one
                window, inside = _centre_mask(poly, ids.shape)
                rgbt[window][inside], planes[window][inside], ids[window][inside] = (*col, tag), c, aid
        return top


# --- geometry -------------------------------------------------------------------------------------------

def _to_optical(view: View, points: np.ndarray) -> np.ndarray:
    m = view.optical_from_world
    return points @ m[:3, :3].T + m[:3, 3]


def _clip_planes(view: View, guard_px: float) -> np.ndarray:
    """(5, 4) half-spaces a . (x, y, z, 1) >= 0 in the optical frame: near, then u, v within the image
    widened by guard_px on each side (guard 0: the frustum's sides)."""
    k = view.intrinsics
    f, cx, cy, w, h, g = k[0, 0], k[0, 2], k[1, 2], view.width, view.height, guard_px
    return np.array([[0, 0, 1, -NEAR_M], [f, 0, cx + g, 0], [-f, 0, w + g - cx, 0],
                     [0, f, cy + g, 0], [0, -f, h + g - cy, 0]], float)


def _in_frustum(view: View, pts: np.ndarray) -> np.ndarray:
    """(N,) False where every corner of a face is outside one plane of the frustum."""
    planes = _clip_planes(view, 0.0)
    values = pts @ planes[:, :3].T + planes[:, 3]  # (N, V, 5)
    return ~(values < 0).all(axis=1).any(axis=1)


def _plane_coefficients(normal: np.ndarray, point: np.ndarray) -> np.ndarray:
    """n / d of each plane n . P = d (so that 1/z = coef . (x/z, y/z, 1)); inf for planes through 0."""
    d = np.einsum("ij,ij->i", normal, point)
    with np.errstate(divide="ignore", invalid="ignore"):
        coef = normal / d[:, None]
    tiny = np.abs(d) <= 1e-9 * np.linalg.norm(normal, axis=1)
    coef[tiny] = np.inf
    return coef


def _pixels(view: View, pts: np.ndarray) -> tuple[list[np.ndarray | None], int]:
    """cv2 fixed-point polygons (int32, (V, 2)) of faces (N, V, 3), clipped where needed (None: nothing
    left), and the topmost image row they reach."""
    guard = _clip_planes(view, GUARD_PX)
    values = pts @ guard[:, :3].T + guard[:, 3]
    needs_clip = (values < 0).any(axis=(1, 2))
    out: list[np.ndarray | None] = [None] * len(pts)
    plain = np.flatnonzero(~needs_clip)
    fixed = _fixed_point(view, pts[plain])
    top = int(fixed[..., 1].min()) >> SHIFT if len(plain) else view.height
    for i, poly in zip(plain.tolist(), fixed):
        out[i] = poly
    for i in np.flatnonzero(needs_clip).tolist():
        poly = _clip(pts[i].tolist(), guard.tolist())
        if len(poly) >= 3:
            out[i] = _fixed_point(view, np.array(poly)[None])[0]
            top = min(top, int(out[i][:, 1].min()) >> SHIFT)
    return out, top


def _centre_rule(poly: np.ndarray) -> np.ndarray | None:
    """A convex fixed-point polygon cut so that cv2's fill covers the pixels whose centres it
    contains (GL's rule). cv2 rounds each span's ends, and the first and last rows, to the nearest
    pixel, so the polygon is narrowed by half a pixel at each side (its erosion by a 1-px horizontal
    segment: round(xl + 0.5) = ceil(xl), round(xr - 0.5) = floor(xr)) and cut by half a pixel at its
    top and bottom. None for a polygon under a pixel wide or tall (its erosion is empty or a sliver):
    `_centre_mask` tests its few pixels exactly."""
    uv = poly.astype(float) / (1 << SHIFT)
    area2 = float(np.sum(uv[:, 0] * np.roll(uv[:, 1], -1) - np.roll(uv[:, 0], -1) * uv[:, 1]))
    if abs(area2) < 1e-9:
        return None
    inner = _clip_2d((uv + [0.5, 0.0]).tolist(), _edge_planes(uv - [0.5, 0.0], math.copysign(1.0, area2)))
    if len(inner) < 3:
        return None
    ys = [p[1] for p in inner]
    top, bottom = min(ys), max(ys)
    if bottom - top < 1.0:
        return None
    inner = _clip_2d(inner, [(0.0, 1.0, -(top + 0.5)), (0.0, -1.0, bottom - 0.5)])  # top + 0.5 <= y <= bottom - 0.5
    return np.rint(np.array(inner) * (1 << SHIFT)).astype(np.int32) if len(inner) >= 3 else None


def _centre_mask(poly: np.ndarray, shape: tuple[int, int]) -> tuple[tuple[slice, slice], np.ndarray]:
    """The pixels of the image whose centres (integers in cv2's coordinates) a small convex
    fixed-point polygon contains: its bounding window and a boolean mask over it."""
    uv = poly.astype(float) / (1 << SHIFT)
    x0, y0 = max(0, math.ceil(uv[:, 0].min())), max(0, math.ceil(uv[:, 1].min()))
    x1, y1 = min(shape[1], math.floor(uv[:, 0].max()) + 1), min(shape[0], math.floor(uv[:, 1].max()) + 1)
    window = (slice(y0, max(y0, y1)), slice(x0, max(x0, x1)))
    ys, xs = np.mgrid[window]
    area2 = float(np.sum(uv[:, 0] * np.roll(uv[:, 1], -1) - np.roll(uv[:, 0], -1) * uv[:, 1]))
    inside = np.ones(ys.shape, bool)
    for a, b in zip(uv, np.roll(uv, -1, axis=0)):
        cross = (b[0] - a[0]) * (ys - a[1]) - (b[1] - a[1]) * (xs - a[0])
        inside &= cross * math.copysign(1.0, area2) >= 0
    return window, inside


def _edge_planes(window: np.ndarray, orientation: float) -> list[tuple[float, float, float]]:
    """The half-planes a x + b y + c >= 0 whose intersection is the convex polygon `window`
    ((V, 2), winding `orientation`: the sign of its signed area)."""
    planes = []
    for a, b in zip(window.tolist(), np.roll(window, -1, axis=0).tolist()):
        ex, ey = b[0] - a[0], b[1] - a[1]  # inside: orientation * cross(edge, p - a) >= 0
        planes.append((-orientation * ey, orientation * ex, orientation * (ey * a[0] - ex * a[1])))
    return planes


def _clip_2d(poly: list[list[float]], planes: list[tuple[float, float, float]]) -> list[list[float]]:
    """Sutherland-Hodgman in the image plane: the part of a convex polygon inside every half-plane
    a x + b y + c >= 0 (plain floats: a few corners)."""
    for a, b, c in planes:
        out = []
        for j in range(len(poly)):
            p, q = poly[j - 1], poly[j]
            dp, dq = a * p[0] + b * p[1] + c, a * q[0] + b * q[1] + c
            if (dp >= 0) != (dq >= 0):
                t = dp / (dp - dq)
                out.append([p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t])
            if dq >= 0:
                out.append(q)
        poly = out
    return poly


def _fixed_point(view: View, pts: np.ndarray) -> np.ndarray:
    k = view.intrinsics
    uv = pts[..., :2] / pts[..., 2:3] * k[0, 0] + k[:2, 2]
    return np.rint((uv - 0.5) * (1 << SHIFT)).astype(np.int32)


def _clip(poly: list[list[float]], planes: list[list[float]]) -> list[list[float]]:
    """Sutherland-Hodgman: the part of a convex polygon (corners as [x, y, z]) inside every half-space
    a x + b y + c z + d >= 0 (plain floats: a few corners, numpy would cost more than the maths)."""
    for a, b, c, d in planes:
        dist = [a * x + b * y + c * z + d for x, y, z in poly]
        if min(dist, default=0.0) >= 0:
            continue
        out = []
        for j in range(len(poly)):
            p, q, dp, dq = poly[j - 1], poly[j], dist[j - 1], dist[j]
            if (dp >= 0) != (dq >= 0):
                t = dp / (dp - dq)
                out.append([p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t, p[2] + (q[2] - p[2]) * t])
            if dq >= 0:
                out.append(q)
        poly = out
    return poly


# --- per pixel ------------------------------------------------------------------------------------------

def _depth(planes: np.ndarray, rays: np.ndarray, out: np.ndarray) -> None:
    """Planar depth from the plane-coefficient image into `out`; inf where nothing was drawn (sky)."""
    if not len(out):
        return
    inv_z = cv2.transform(cv2.multiply(planes, rays), np.ones((1, 3), np.float32))
    with np.errstate(divide="ignore"):
        np.divide(np.float32(1.0), inv_z, out=out)


def _fog(rgb: np.ndarray, depth: np.ndarray, ray_len: np.ndarray, grid: _Grid, lighting: Lighting) -> None:
    """rgb = mix(rgb, fog colour, Lighting.fog_amount(ray distance)) in place, with float32 passes
    (the painter's costliest per-pixel step); the sky counts as SKY_DISTANCE_M away."""
    dist = cv2.multiply(depth, ray_len)
    np.minimum(dist, np.float32(SKY_DISTANCE_M), out=dist)
    dist -= np.float32(lighting.fog_start_m)
    np.maximum(dist, np.float32(0.0), out=dist)
    dist *= np.float32(-lighting.fog_per_m)
    clear = cv2.exp(dist)  # the share of the surface's own colour
    fog_rgb = tuple(np.rint(np.asarray(lighting.fog_rgb) * 255.0).astype(int).tolist())
    if grid.fog_key != fog_rgb:
        grid.fog = np.empty(grid.rays.shape, np.uint8)
        grid.fog[:] = fog_rgb
        grid.fog_key = fog_rgb
    cv2.blendLinear(rgb, grid.fog[-len(rgb):], clear, np.float32(1.0) - clear, dst=rgb)
