"""Build the embedded sensors' StaticScene from a RoadNetwork: lanes, markings, crosswalks, terrain.

Why this shape:
* Lanes are sampled through the offline carla.Map (`get_waypoint_xodr`, ~2 us a query), so every
  edge is where CARLA puts it (CARLA's world frame: x fwd, y right, z up, OpenDRIVE's y already
  flipped). Each lane section is one ribbon: the lane's two borders sampled every metre, thinned by
  Ramer-Douglas-Peucker (2 cm) and cut into a triangle strip. A straight 400 m lane is 2 triangles,
  so the painter camera (20 us a face in Python) stays fast.
* Everything lies on one plane z = ground_z_m (the median road height; 0 for the builtin maps): the
  embedded backend has no z. Layers sit a millimetre apart (markings > roads > sidewalks > other
  ground > terrain) and the triangles are stored in that order, lowest first, so either a depth test
  or plain drawing order gives the same picture.
* Markings follow rules of the road rather than the file's `<roadMark>`s, which disagree between
  map makers (roadgen paints lane -1's outer border yellow): a white dashed line between two
  driving lanes of one direction, a yellow line between the two directions (dashed where the
  centre lane's mark says broken), a solid white edge line where a driving lane meets anything
  else on its right and a solid yellow one on its left; none inside junctions. The file's type only
  chooses solid or broken where it names one. Crosswalks are zebra stripes (0.5 m bars every metre)
  in the outline carla reports.
* `raster_tag` is the same triangles filled top-down (0.2 m cells, cv2.fillConvexPoly) in layer
  order, for LiDAR's ground look-ups.
* Winding: every triangle's (b - a) x (c - a), with the usual formula, points to +z (counter-
  clockwise when x and y are plotted the usual way, x right and y up).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import carla
import cv2
import numpy as np

from edgecase.backends.embedded.scene import (TAG_GROUND, TAG_ROADLINES, TAG_ROADS, TAG_SIDEWALKS, TAG_TERRAIN,
                                              StaticScene)
from edgecase.roads import RoadNetwork

STEP_M = 1.0  # sampling along s
TOLERANCE_M = 0.02  # RDP: how far a thinned edge may leave the sampled one
TERRAIN_MARGIN_M = 200.0
RASTER_CELL_M = 0.2
RASTER_MARGIN_M = 5.0
LAYER_STEP_M = 0.001
DASH_M, GAP_M = 3.0, 6.0  # broken lines
STRIPE_M, STRIPE_PERIOD_M = 0.5, 1.0  # zebra bars
DEFAULT_LINE_M = 0.15

# Draw layers, lowest first; z = ground_z + (layer - LAYER_ROAD) * 1 mm.
LAYER_TERRAIN, LAYER_GROUND, LAYER_SIDEWALK, LAYER_ROAD, LAYER_MARKING = range(5)

_ASPHALT = (58, 58, 60)
# OpenDRIVE lane type (as carla compares it: lower case) -> (layer, CARLA tag, base colour)
LANE_STYLE: dict[str, tuple[int, int, tuple[int, int, int]]] = {
    **{t: (LAYER_ROAD, TAG_ROADS, _ASPHALT) for t in
       ("driving", "entry", "exit", "onramp", "offramp", "connectingramp", "bidirectional", "stop",
        "restricted", "roadworks", "special1", "special2", "special3")},
    "parking": (LAYER_ROAD, TAG_ROADS, (70, 70, 72)),
    "shoulder": (LAYER_ROAD, TAG_ROADS, (78, 77, 75)),
    "biking": (LAYER_ROAD, TAG_ROADS, (112, 58, 52)),
    "sidewalk": (LAYER_SIDEWALK, TAG_SIDEWALKS, (150, 147, 140)),
    "border": (LAYER_SIDEWALK, TAG_SIDEWALKS, (165, 162, 155)),
    "curb": (LAYER_SIDEWALK, TAG_SIDEWALKS, (165, 162, 155)),
    "median": (LAYER_GROUND, TAG_GROUND, (104, 100, 88)),
    "rail": (LAYER_ROAD, 27, (90, 80, 72)),  # RailTrack
    "tram": (LAYER_ROAD, 27, (90, 80, 72)),
}
DRIVING_TYPES = frozenset(t for t, style in LANE_STYLE.items() if style[2] == _ASPHALT)
TERRAIN_COLOUR = (86, 104, 60)
WHITE, YELLOW = (222, 222, 218), (214, 170, 40)
_LINE_TYPES = {carla.LaneMarkingType.Solid: ("solid",), carla.LaneMarkingType.Broken: ("broken",),
               carla.LaneMarkingType.SolidSolid: ("solid", "solid"),
               carla.LaneMarkingType.SolidBroken: ("solid", "broken"),
               carla.LaneMarkingType.BrokenSolid: ("broken", "solid"),
               carla.LaneMarkingType.BrokenBroken: ("broken", "broken")}


@dataclass
class _Lane:
    """One lane of one section, sampled: borders (n, 2), the outward unit vector, marking data."""

    id: int
    type: str
    inner: np.ndarray
    outer: np.ndarray
    out_dir: np.ndarray
    z: np.ndarray
    inner_mark: list[tuple[tuple[str, ...] | None, float]]  # per sample: (line styles or None, width)
    outer_mark: list[tuple[tuple[str, ...] | None, float]]


class _Mesh:
    """Triangles collected by layer; `scene()` orders them lowest layer first."""

    def __init__(self) -> None:
        self.parts: list[tuple[int, np.ndarray, int, tuple[int, int, int]]] = []

    def add(self, layer: int, tris_xy: np.ndarray, tag: int, colour: tuple[int, int, int]) -> None:
        if len(tris_xy):
            self.parts.append((layer, tris_xy, tag, colour))


def build_static_scene(network: RoadNetwork) -> StaticScene:
    """Triangulate the map's surfaces (see the module docstring) and rasterise their tags."""
    mesh, zs = _Mesh(), []
    for road in sorted(network.xodr.roads.values(), key=lambda r: r.id):
        for lanes in _sections(network.carla_map, road):
            for lane in lanes.values():
                layer, tag, colour = LANE_STYLE[lane.type]
                mesh.add(layer, _strip(lane.inner, lane.outer), tag, colour)
                if lane.type in DRIVING_TYPES:
                    zs.append(lane.z)
            if road.junction_id == -1:
                for points, normal, colour, styles, width in _borders(lanes):
                    mesh.add(LAYER_MARKING, _line(points, normal, styles, width), TAG_ROADLINES, colour)
    for crosswalk in network.crosswalks():
        mesh.add(LAYER_MARKING, _zebra(crosswalk), TAG_ROADLINES, WHITE)
    ground_z = float(np.median(np.concatenate(zs))) if zs else 0.0
    return _assemble(mesh, ground_z)


# --- sampling ---------------------------------------------------------------------------------------

def _sections(carla_map: carla.Map, road) -> Iterator[dict[int, _Lane]]:
    """Per lane section, its lanes that we draw (by id), sampled on a shared s grid."""
    ends = [s.s_m for s in road.sections[1:]] + [road.length_m]
    for section, end_m in zip(road.sections, ends):
        last = min(end_m - (2e-3 if end_m < road.length_m else 0.0), road.last_s_m)
        if last - section.s_m < 1e-3:
            continue
        s_grid = np.linspace(section.s_m, last, max(2, math.ceil((last - section.s_m) / STEP_M) + 1))
        lanes = {}
        for lane_id, info in section.lanes.items():
            if lane_id != 0 and info.type in LANE_STYLE:
                lane = _sample(carla_map, road.id, lane_id, info.type, s_grid)
                if lane is not None:
                    lanes[lane_id] = lane
        yield lanes


def _sample(carla_map: carla.Map, road_id: int, lane_id: int, lane_type: str, s_grid: np.ndarray) -> _Lane | None:
    rows, inner_mark, outer_mark = [], [], []
    for s in s_grid:
        wp = carla_map.get_waypoint_xodr(road_id, lane_id, float(s))
        if wp is None:
            continue
        loc, right = wp.transform.location, wp.transform.get_right_vector()
        norm = math.hypot(right.x, right.y) or 1.0
        # the right vector points away from the centre lane for both signs of lane id (lanes > 0 face back)
        rows.append((loc.x, loc.y, loc.z, right.x / norm, right.y / norm, wp.lane_width / 2))
        inner_mark.append(_mark(wp.left_lane_marking))
        outer_mark.append(_mark(wp.right_lane_marking))
    if len(rows) < 2:
        return None
    a = np.array(rows)
    centre, out_dir, half = a[:, :2], a[:, 3:5], a[:, 5:6]
    return _Lane(lane_id, lane_type, centre - out_dir * half, centre + out_dir * half, out_dir, a[:, 2],
                 inner_mark, outer_mark)


def _mark(marking: carla.LaneMarking) -> tuple[tuple[str, ...] | None, float]:
    width = marking.width if 0.05 <= marking.width <= 0.4 else DEFAULT_LINE_M
    return _LINE_TYPES.get(marking.type), width


# --- markings ---------------------------------------------------------------------------------------

def _borders(lanes: dict[int, _Lane]) -> Iterator[tuple[np.ndarray, np.ndarray, tuple, tuple[str, ...], float]]:
    """(points, lateral unit vectors, colour, line styles, width) of each painted border of a section."""
    driving = {i for i, lane in lanes.items() if lane.type in DRIVING_TYPES}
    for side in (-1, 1):  # right of the reference line (lanes < 0), then left
        ids = sorted((i for i in lanes if i * side > 0), key=abs)
        for i in ids:
            lane, outer_id = lanes[i], i + side
            if i in driving:
                if outer_id in driving:  # same direction: dashed unless the file says solid
                    yield from _styled(lane.outer, lane.out_dir, lane.outer_mark, WHITE, ("broken",))
                else:  # a driving lane's right edge
                    yield lane.outer, lane.out_dir, WHITE, ("solid",), _width(lane.outer_mark)
            elif outer_id in driving:  # a driving lane's left edge, next to a non-driving lane
                yield lane.outer, lane.out_dir, YELLOW, ("solid",), _width(lane.outer_mark)
    right, left = lanes.get(-1), lanes.get(1)
    if right is not None and left is not None and -1 in driving and 1 in driving:  # the centre line
        yield from _styled(right.inner, right.out_dir, right.inner_mark, YELLOW, ("solid",))
    else:
        for lane_id in (-1, 1):
            if lane_id in driving:
                lane = lanes[lane_id]
                yield lane.inner, lane.out_dir, YELLOW, ("solid",), _width(lane.inner_mark)


def _width(marks: list[tuple[tuple[str, ...] | None, float]]) -> float:
    return float(np.median([w for _, w in marks])) if marks else DEFAULT_LINE_M


def _styled(points: np.ndarray, normal: np.ndarray, marks: list, colour: tuple, default: tuple[str, ...]):
    """Split a border where the file's line type changes; samples without a line type take `default`."""
    styles = [m[0] or default for m in marks]
    start = 0
    for k in range(1, len(styles) + 1):
        if k == len(styles) or styles[k] != styles[start]:
            stop = min(k + 1, len(styles))  # share the boundary sample so pieces meet
            if stop - start >= 2:
                yield points[start:stop], normal[start:stop], colour, styles[start], _width(marks[start:stop])
            start = k


def _line(points: np.ndarray, normal: np.ndarray, styles: tuple[str, ...], width_m: float) -> np.ndarray:
    """Triangles of a (double) painted line along `points`; double lines sit one width apart."""
    tris = []
    offsets = [0.0] if len(styles) == 1 else [-width_m, width_m]
    for offset, style in zip(offsets, styles):
        centre = points + normal * offset
        pieces = [(centre, normal)] if style == "solid" else _dashes(centre, normal)
        for piece, nrm in pieces:
            tris.append(_strip(piece - nrm * width_m / 2, piece + nrm * width_m / 2))
    return np.concatenate(tris) if tris else np.empty((0, 3, 2))


def _dashes(points: np.ndarray, normal: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Pieces [k (dash + gap), k (dash + gap) + dash] of arc length along the polyline."""
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    start = 0.0
    while start < arc[-1]:
        end = min(start + DASH_M, arc[-1])
        if end - start > 0.3:
            inside = (arc > start) & (arc < end)
            at = np.concatenate([[start], arc[inside], [end]])
            piece = np.stack([np.interp(at, arc, points[:, k]) for k in (0, 1)], axis=1)
            nrm = np.stack([np.interp(at, arc, normal[:, k]) for k in (0, 1)], axis=1)
            yield piece, nrm / np.linalg.norm(nrm, axis=1, keepdims=True)
        start += DASH_M + GAP_M


def _zebra(crosswalk) -> np.ndarray:
    """Bars along the road, across the crosswalk's axis, centred in its rotated rectangle."""
    axis = np.array([math.cos(math.radians(crosswalk.axis_deg)), math.sin(math.radians(crosswalk.axis_deg))])
    along = np.array([-axis[1], axis[0]])
    count = int(crosswalk.length_m // STRIPE_PERIOD_M)
    centre = np.array([crosswalk.x_m, crosswalk.y_m])
    half_long = max(crosswalk.width_m / 2 - 0.1, 0.2)
    tris = []
    for k in range(count):
        c = centre + axis * (k - (count - 1) / 2) * STRIPE_PERIOD_M
        a, b = c - axis * STRIPE_M / 2, c + axis * STRIPE_M / 2
        tris.append(_strip(np.array([a - along * half_long, a + along * half_long]),
                           np.array([b - along * half_long, b + along * half_long])))
    return np.concatenate(tris) if tris else np.empty((0, 3, 2))


# --- triangles --------------------------------------------------------------------------------------

def _strip(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """(T, 3, 2) triangles between two sampled edges, thinned so both stay within TOLERANCE_M."""
    keep = _thin(left, right)
    l, r = left[keep], right[keep]
    tris = np.concatenate([np.stack([l[:-1], r[:-1], r[1:]], axis=1), np.stack([l[:-1], r[1:], l[1:]], axis=1)])
    return _wind_up(tris)


def _thin(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Ramer-Douglas-Peucker over sample indices, the error being the worse of the two edges."""
    n = len(left)
    keep = np.zeros(n, bool)
    keep[[0, n - 1]] = True
    stack = [(0, n - 1)]
    while stack:
        i, j = stack.pop()
        if j - i < 2:
            continue
        error = np.maximum(_off_chord(left, i, j), _off_chord(right, i, j))
        k = int(np.argmax(error))
        if error[k] > TOLERANCE_M:
            keep[i + 1 + k] = True
            stack += [(i, i + 1 + k), (i + 1 + k, j)]
    return np.flatnonzero(keep)


def _off_chord(points: np.ndarray, i: int, j: int) -> np.ndarray:
    """Distances of points i+1..j-1 from the segment points[i]..points[j]."""
    a, b, p = points[i], points[j], points[i + 1:j]
    ab = b - a
    t = np.clip(((p - a) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def _wind_up(tris: np.ndarray) -> np.ndarray:
    """Drop degenerate triangles and flip the others so (b - a) x (c - a) points to +z."""
    e1, e2 = tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0]
    cross = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    tris = tris[np.abs(cross) > 1e-9].copy()
    flip = (cross[np.abs(cross) > 1e-9] < 0)
    tris[flip, 1], tris[flip, 2] = tris[flip, 2].copy(), tris[flip, 1].copy()
    return tris


def _assemble(mesh: _Mesh, ground_z: float) -> StaticScene:
    """Terrain under everything, layers sorted lowest first, and the tag raster."""
    allxy = np.concatenate([p[1].reshape(-1, 2) for p in mesh.parts]) if mesh.parts else np.zeros((1, 2))
    lo, hi = allxy.min(axis=0), allxy.max(axis=0)
    t0, t1 = lo - TERRAIN_MARGIN_M, hi + TERRAIN_MARGIN_M
    quad = np.array([[t0[0], t0[1]], [t1[0], t0[1]], [t1[0], t1[1]], [t0[0], t1[1]]])
    mesh.add(LAYER_TERRAIN, _wind_up(np.stack([quad[[0, 1, 2]], quad[[0, 2, 3]]])), TAG_TERRAIN, TERRAIN_COLOUR)
    parts = sorted(mesh.parts, key=lambda p: p[0])  # stable: builder order within a layer
    xy = np.concatenate([p[1] for p in parts])
    layer = np.concatenate([np.full(len(p[1]), p[0]) for p in parts])
    z = ground_z + (layer - LAYER_ROAD) * LAYER_STEP_M
    triangles = np.concatenate([xy, np.broadcast_to(z[:, None, None], (len(xy), 3, 1))], axis=2).astype(np.float32)
    tag = np.concatenate([np.full(len(p[1]), p[2], np.uint8) for p in parts])
    colour = np.concatenate([np.tile(np.array(p[3], np.uint8), (len(p[1]), 1)) for p in parts])
    origin = np.floor((lo - RASTER_MARGIN_M) / RASTER_CELL_M) * RASTER_CELL_M
    raster = _raster(xy[layer > LAYER_TERRAIN], tag[layer > LAYER_TERRAIN], origin, hi + RASTER_MARGIN_M)
    return StaticScene(triangles_m=triangles, tag=tag, colour=colour, raster_tag=raster,
                       raster_origin_m=(float(origin[0]), float(origin[1])), raster_cell_m=RASTER_CELL_M,
                       ground_z_m=ground_z, outside_tag=TAG_TERRAIN)


def _raster(tris_xy: np.ndarray, tags: np.ndarray, origin: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Top-down tags (row = y, column = x), the triangles filled in order over terrain."""
    cols, rows = np.ceil((top - origin) / RASTER_CELL_M).astype(int) + 1
    raster = np.full((rows, cols), TAG_TERRAIN, np.uint8)
    # cv2 puts pixel centres on integers: cell c's centre is origin + (c + 0.5) cell
    pts = np.rint(((tris_xy - origin) / RASTER_CELL_M - 0.5) * 16).astype(np.int32)
    for tri, tag in zip(pts, tags.tolist()):
        cv2.fillConvexPoly(raster, tri, tag, cv2.LINE_8, 4)
    return raster
