"""2D geometry of labels: 3D boxes into pixels, silhouettes, and the pixels of instance masks.

Conventions (../shared/docs/labels-reference.md): points are in a camera's optical frame
(x right, y down, z forward); pixel coordinates are pixel-edge ones, (0, 0) the top-left corner
of the first pixel, so pixel (row r, column c) covers [c, c + 1) x [r, r + 1).

Boxes that straddle the camera plane are clipped, not mirrored (labels-reference 2.3): each of
the 12 edges is cut at z = Z_NEAR_M, and the 2D box is the min/max of the projections of the
vertices in front and of the cut points, intersected with the image. Projecting a vertex behind
the camera (CARLA's tutorial) flips it to the wrong side of the image; dropping it (nuScenes'
exporter) shrinks boxes that reach past the camera. The cut points project far outside the
image in the right direction, so a clipped box reaches the image border as it should.

Everything per camera is numpy over all objects at once; the per-object part (hull, polygon
clipping, mask crop) works on a handful of points or on the object's own pixels only.
"""

from __future__ import annotations


import cv2
import numpy as np

from edgecase.sensors.transforms import BOX_EDGES

Z_NEAR_M = 0.1  # labels-reference 2.3: points closer than this to the camera plane are cut away
_EDGE_A = np.array([a for a, _ in BOX_EDGES])
_EDGE_B = np.array([b for _, b in BOX_EDGES])
# The instance mask of an actor lies inside its projected box, up to rasterisation (a pixel whose
# centre is inside) and meshes that poke out of CARLA's boxes (mirrors, a walker's swinging arms):
# crop with a margin of a few pixels plus a share of the box, so no pixel of the actor is missed.
MASK_MARGIN_PX = 2
MASK_MARGIN_SHARE = 0.1


def clip_near(vertices_opt: np.ndarray, z_near_m: float = Z_NEAR_M) -> tuple[np.ndarray, np.ndarray]:
    """The points that bound the visible part of each box: (..., 20, 3) points and a (..., 20) mask.

    Points 0-7 are the box vertices (kept when z >= z_near), 8-19 the crossings of the 12 edges
    with the plane z = z_near (kept when the edge has one end on each side): labels-reference 2.3.
    """
    a, b = vertices_opt[..., _EDGE_A, :], vertices_opt[..., _EDGE_B, :]
    front = vertices_opt[..., 2] >= z_near_m
    crosses = front[..., _EDGE_A] != front[..., _EDGE_B]
    dz = b[..., 2] - a[..., 2]
    # Where an edge crosses the plane its ends differ in z, so dz != 0 there; elsewhere t is unused.
    t = np.where(crosses, (z_near_m - a[..., 2]) / np.where(crosses, dz, 1.0), 0.0)
    cut = a + t[..., None] * (b - a)
    return np.concatenate([vertices_opt, cut], axis=-2), np.concatenate([front, crosses], axis=-1)


def project_kept(intrinsics: np.ndarray, points_opt: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Pixel coordinates (..., 2) of the kept points; NaN for the others (they may lie behind the camera)."""
    safe = np.where(keep[..., None], points_opt, 1.0)  # z = 1 for dropped points: no division by 0
    uvw = safe @ intrinsics.T
    uv = uvw[..., :2] / uvw[..., 2:3]
    return np.where(keep[..., None], uv, np.nan)


def amodal_boxes(uv: np.ndarray, keep: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) x0, y0, x1, y1 of the kept points' min/max cut to the image, and (N,) whether it is non-empty."""
    any_kept = keep.any(axis=-1)
    lo = np.where(keep[..., None], uv, np.inf).min(axis=-2)
    hi = np.where(keep[..., None], uv, -np.inf).max(axis=-2)
    x0, y0 = np.clip(lo[..., 0], 0, width), np.clip(lo[..., 1], 0, height)
    x1, y1 = np.clip(hi[..., 0], 0, width), np.clip(hi[..., 1], 0, height)
    boxes = np.stack([x0, y0, x1, y1], axis=-1)
    return boxes, any_kept & (x1 > x0) & (y1 > y0)


def convex_hull(points: np.ndarray) -> np.ndarray:
    """The convex hull (H, 2) of 2D points, vertices in order; the points themselves when fewer than 3."""
    if len(points) < 3:
        return points
    # cv2 wants float32; ask for indices so the hull keeps the float64 coordinates (near-plane cuts
    # project to 1e5 px and more, where float32 steps are 0.01 px).
    index = cv2.convexHull(points.astype(np.float32), returnPoints=False)
    return points[index.ravel()]


def polygon_area(polygon: np.ndarray | list[tuple[float, float]]) -> float:
    """Area of a simple polygon (shoelace), either orientation."""
    p = np.asarray(polygon, dtype=float)
    if len(p) < 3:
        return 0.0
    x, y = p[:, 0], p[:, 1]
    twice = x[:-1] @ y[1:] - x[1:] @ y[:-1] + x[-1] * y[0] - x[0] * y[-1]
    return abs(float(twice)) / 2.0


def clip_to_rect(polygon: np.ndarray, width: float, height: float) -> list[tuple[float, float]]:
    """A convex polygon cut to [0, width] x [0, height] (Sutherland-Hodgman, one side at a time).

    Plain Python on a few vertices: cheaper than numpy calls at this size, and exact where the
    polygon touches the image border (cv2.intersectConvexConvex mishandles shared edges).
    """
    out = [(float(x), float(y)) for x, y in polygon]
    for axis, limit, keep_below in ((0, 0.0, False), (0, float(width), True), (1, 0.0, False), (1, float(height), True)):
        if not out:
            break
        inside = [(p[axis] <= limit) if keep_below else (p[axis] >= limit) for p in out]
        cut: list[tuple[float, float]] = []
        for i, p in enumerate(out):
            q, q_in = out[i - 1], inside[i - 1]  # the previous vertex: edge q -> p
            if inside[i] != q_in:
                t = (limit - q[axis]) / (p[axis] - q[axis])
                point = [q[0] + t * (p[0] - q[0]), q[1] + t * (p[1] - q[1])]
                point[axis] = limit  # exactly on the border, whatever the rounding
                cut.append((point[0], point[1]))
            if inside[i]:
                cut.append(p)
        out = cut
    return out


def silhouette_areas(points: np.ndarray, width: int, height: int) -> tuple[float, float]:
    """(area of the convex hull of `points`, area of that hull inside the image), in px^2."""
    hull = convex_hull(points)
    area = polygon_area(hull)
    lo, hi = hull.min(axis=0), hull.max(axis=0)
    inside = lo[0] >= 0 and lo[1] >= 0 and hi[0] <= width and hi[1] <= height
    return area, area if inside else polygon_area(clip_to_rect(hull, width, height))


def crop_windows(boxes: np.ndarray, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Rows r0:r1, columns c0:c1 of the image holding every pixel of each actor whose 2D box is a row of `boxes`."""
    size = boxes[:, 2:] - boxes[:, :2]
    margin = MASK_MARGIN_PX + MASK_MARGIN_SHARE * size
    lo = np.maximum(np.floor(boxes[:, :2] - margin), 0).astype(int)
    hi = np.minimum(np.ceil(boxes[:, 2:] + margin), (width, height)).astype(int)
    return [(r0, r1, c0, c1) for (c0, r0), (c1, r1) in zip(lo.tolist(), hi.tolist())]


def mask_pixels(instance: np.ndarray, actor_id: int, window: tuple[int, int, int, int]) \
        -> tuple[int, tuple[float, float, float, float] | None]:
    """(pixel count, tight pixel-edge box) of `actor_id` in the instance image, searched in `window`.

    The box is x0 = min column, y0 = min row, x1 = max column + 1, y1 = max row + 1 (COCO's
    [0 0 1 1] encloses the first pixel); None when no pixel is the actor's.
    """
    r0, r1, c0, c1 = window
    mask = instance[r0:r1, c0:c1] == (actor_id & 0xFFFF)  # uint16 ids alias above 65535 (CARLA's too)
    count = int(np.count_nonzero(mask))
    if count == 0:
        return 0, None
    rows, cols = mask.any(axis=1), mask.any(axis=0)
    top, left = int(rows.argmax()), int(cols.argmax())
    bottom, right = len(rows) - int(rows[::-1].argmax()), len(cols) - int(cols[::-1].argmax())
    return count, (float(c0 + left), float(r0 + top), float(c0 + right), float(r0 + bottom))


def kitti_ry(heading_opt: np.ndarray) -> np.ndarray:
    """KITTI's rotation_y (radians, [-pi, pi]) of headings (..., 3) given in the optical frame.

    A box's +x (its heading) is (cos ry, 0, -sin ry) in camera coordinates (labels-reference 4.2),
    so ry = atan2(-d_z, d_x); a car driving away from the camera has ry = -pi/2.
    """
    return np.arctan2(-heading_opt[..., 2], heading_opt[..., 0])
