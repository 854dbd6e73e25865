"""Lane outlines as shapely polygons, in CARLA's world frame (x, y; metres).

A lane's outline is a ribbon: both edges sampled about every metre of s (centre +- half the lane
width along the waypoint's right vector), joined into one ring. Sampling the whole stretch of
sections in one ribbon leaves no slivers at section boundaries. Imported lazily by RoadNetwork,
because shapely (and numpy under it) costs ~75 ms to import and most compiles never need outlines.
"""

from __future__ import annotations

import math

import carla
import shapely
from shapely.geometry.base import BaseGeometry

from edgecase.roads.xodr import RoadInfo

SAMPLE_STEP_M = 1.0


def lane_runs(road: RoadInfo, lane_id: int, lane_type: str | None = None) -> list[tuple[float, float]]:
    """The (s_start, s_end) stretches of `road` where the lane exists (with that type, if given)."""
    runs: list[tuple[float, float]] = []
    for i, section in enumerate(road.sections):
        s_end = road.sections[i + 1].s_m if i + 1 < len(road.sections) else road.length_m
        lane = section.lanes.get(lane_id)
        if lane is None or (lane_type is not None and lane.type != lane_type) or s_end <= section.s_m:
            continue
        if runs and math.isclose(runs[-1][1], section.s_m):
            runs[-1] = (runs[-1][0], s_end)
        else:
            runs.append((section.s_m, s_end))
    return runs


def ribbon(carla_map: carla.Map, road: RoadInfo, lane_id: int, s_start_m: float, s_end_m: float) -> BaseGeometry:
    """The outline of one lane between two s values; empty where the lane has no width."""
    end_m = min(s_end_m, road.last_s_m)
    count = max(2, math.ceil((end_m - s_start_m) / SAMPLE_STEP_M) + 1)
    left, right = [], []
    for i in range(count):
        s = s_start_m + (end_m - s_start_m) * i / (count - 1)
        wp = carla_map.get_waypoint_xodr(road.id, lane_id, s)
        if wp is None:
            continue
        half_m, centre, side = wp.lane_width / 2, wp.transform.location, wp.transform.get_right_vector()
        left.append((centre.x - side.x * half_m, centre.y - side.y * half_m))
        right.append((centre.x + side.x * half_m, centre.y + side.y * half_m))
    if len(left) < 2:
        return shapely.Polygon()
    return polygonal(shapely.Polygon(left + right[::-1]))


def polygonal(geometry: BaseGeometry) -> BaseGeometry:
    """Repair a self-touching ring (a lane's inner edge on a very tight turn) and keep its area."""
    if geometry.is_valid:
        return geometry
    repaired = shapely.make_valid(geometry)
    parts = shapely.get_parts(repaired)
    return shapely.union_all([p for p in parts if isinstance(p, (shapely.Polygon, shapely.MultiPolygon))])

