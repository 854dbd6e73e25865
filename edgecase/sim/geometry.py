"""Oriented boxes in the ground plane: corners, overlap, distance and time to overlap.

A box is its 4 corners, an array (..., 4, 2) in CARLA's world frame (x forward, y right; metres),
ordered front-left, front-right, rear-right, rear-left of the actor. Every function broadcasts
over the leading axes, so one call answers for every tick of a trace or every pair of actors.

Overlap is the separating axis theorem: two convex polygons are disjoint exactly when their
projections on one of the polygons' edge normals are disjoint. A rectangle's edge normals are its
other edges' directions, so 2 axes per box suffice. Touching boxes count as overlapping (closed
sets), as in shapely's `intersects`.
"""

from __future__ import annotations

import numpy as np


def corners(x_m, y_m, yaw_rad, length_m, width_m, offset_m=0.0) -> np.ndarray:
    """The 4 corners (..., 4, 2) of boxes facing yaw, centred `offset_m` to the right of (x, y)
    (negative: to the left; a door open on one side), inputs broadcast together.

    Forward is (cos yaw, sin yaw) and right is (-sin yaw, cos yaw): CARLA's left-handed frame,
    where yaw 0 faces +x and +y lies on the right.
    """
    values = (x_m, y_m, yaw_rad, length_m, width_m, offset_m)
    x, y, yaw, length, width, offset = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in values))
    cos, sin = np.cos(yaw), np.sin(yaw)
    forward = np.stack([cos, sin], axis=-1) * (length / 2)[..., None]
    right = np.stack([-sin, cos], axis=-1) * (width / 2)[..., None]
    centre = np.stack([x - offset * sin, y + offset * cos], axis=-1)
    signs = np.array([(1.0, -1.0), (1.0, 1.0), (-1.0, 1.0), (-1.0, -1.0)])  # (forward, right) per corner
    return centre[..., None, :] + signs[:, :1] * forward[..., None, :] + signs[:, 1:] * right[..., None, :]


def _axes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 4 candidate separating axes (..., 4, 2): two edge directions of each box (not unit length)."""
    return np.concatenate([a[..., 1:3, :] - a[..., 0:2, :], b[..., 1:3, :] - b[..., 0:2, :]], axis=-2)


def _extents(box: np.ndarray, axes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min and max (..., 4) of the box's projection on each axis."""
    projected = axes[..., :, None, 0] * box[..., None, :, 0] + axes[..., :, None, 1] * box[..., None, :, 1]
    return _min4(projected), _max4(projected)


def _min4(v: np.ndarray) -> np.ndarray:
    """Min over a last axis of 4: pairwise, several times faster than numpy's reduce on so short an axis."""
    return np.minimum(np.minimum(v[..., 0], v[..., 1]), np.minimum(v[..., 2], v[..., 3]))


def _max4(v: np.ndarray) -> np.ndarray:
    return np.maximum(np.maximum(v[..., 0], v[..., 1]), np.maximum(v[..., 2], v[..., 3]))


def overlaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether boxes a and b (..., 4, 2) overlap or touch: a bool array of the broadcast shape."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    axes = _axes(a, b)
    a_min, a_max = _extents(a, axes)
    b_min, b_max = _extents(b, axes)
    separated = (a_max < b_min) | (b_max < a_min)
    return ~(separated[..., 0] | separated[..., 1] | separated[..., 2] | separated[..., 3])


def _point_to_edges_m(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Distance from each of `points` (..., 4, 2) to the nearest edge of `box` (..., 4, 2): (..., 4)."""
    start = box[..., None, :, :]  # (..., 1, edge, 2)
    edge = np.roll(box, -1, axis=-2)[..., None, :, :] - start
    rel = points[..., :, None, :] - start  # (..., point, edge, 2)
    length2 = np.maximum(edge[..., 0] ** 2 + edge[..., 1] ** 2, 1e-300)
    t = np.clip((rel[..., 0] * edge[..., 0] + rel[..., 1] * edge[..., 1]) / length2, 0.0, 1.0)
    gap = rel - t[..., None] * edge
    return np.sqrt(_min4(gap[..., 0] ** 2 + gap[..., 1] ** 2))


def box_distance_m(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest distance between boxes a and b (..., 4, 2); 0 where they overlap.

    Two disjoint convex polygons are nearest at a vertex of one and an edge of the other, so
    the minimum over vertex-to-edge distances both ways is exact.
    """
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    apart = np.minimum(_min4(_point_to_edges_m(a, b)), _min4(_point_to_edges_m(b, a)))
    return np.where(overlaps(a, b), 0.0, apart)


def time_to_overlap_s(a: np.ndarray, b: np.ndarray, velocity_mps: np.ndarray, horizon_s: float) -> np.ndarray:
    """When box b, moving at `velocity_mps` (..., 2) relative to a, first overlaps a: 0 if it does
    now, inf if not within `horizon_s`. Exact (swept separating axes), not sampled.

    The boxes keep their orientation, so the axes stay fixed: on each axis the projections overlap
    during one interval of time, found in closed form, and the boxes overlap while every axis does,
    i.e. from the latest entry to the earliest exit.
    """
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    axes = _axes(a, b)
    a_min, a_max = _extents(a, axes)
    b_min, b_max = _extents(b, axes)
    velocity = np.asarray(velocity_mps, dtype=float)[..., None, :]
    rate = axes[..., 0] * velocity[..., 0] + axes[..., 1] * velocity[..., 1]
    low, high = a_min - b_max, a_max - b_min  # b overlaps a on the axis while low <= rate * t <= high
    with np.errstate(divide="ignore", invalid="ignore"):
        t_low, t_high = low / rate, high / rate
    still = rate == 0
    inside_now = (low <= 0) & (high >= 0)
    enter = np.where(still, np.where(inside_now, -np.inf, np.inf), np.minimum(t_low, t_high))
    leave = np.where(still, np.where(inside_now, np.inf, -np.inf), np.maximum(t_low, t_high))
    first = np.maximum(_max4(enter), 0.0)
    hit = (first <= _min4(leave)) & (first <= horizon_s)
    return np.where(hit, first, np.inf)
