"""Crosswalks: the map's `<object type="crosswalk">` outlines, as carla reads them.

carla.Map.get_crosswalks() returns every crosswalk's outline as one flat list of points, each
outline closed (its first point repeated at its end), in CARLA's world frame. Each becomes a
Crosswalk: its outline, centre, the road it lies on and its crossing axis, the outline's
(minimum rotated rectangle's) axis most nearly across that road, with the two ends on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edgecase.roads.values import LaneKind
from edgecase.roads.waypoints import wrap_deg

if TYPE_CHECKING:
    import carla

    from edgecase.roads.network import RoadNetwork

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Crosswalk:
    """One crosswalk. `ends` are the midpoints of its two short sides (its kerb ends), the first
    on the left of the road's direction, so `axis_deg` (from ends[0] to ends[1]) crosses the road
    left to right. `length_m` is along the axis (across the road), `width_m` along the road."""

    id: int  # its index in carla's list
    road_id: int | None  # the road whose driving lane is nearest its centre (None: no driving lane)
    outline: tuple[Point, ...]  # the polygon's corners, not closed
    x_m: float  # centre of the outline's rotated bounding rectangle
    y_m: float
    axis_deg: float
    length_m: float
    width_m: float
    ends: tuple[Point, Point]

    def distance_m(self, x_m: float, y_m: float) -> float:
        return math.hypot(x_m - self.x_m, y_m - self.y_m)


def outlines(carla_map: carla.Map) -> list[tuple[Point, ...]]:
    """Split carla's flat point list into closed outlines (each without its repeated last point)."""
    found: list[tuple[Point, ...]] = []
    current: list[Point] = []
    for loc in carla_map.get_crosswalks():
        p = (float(loc.x), float(loc.y))
        if len(current) >= 3 and math.hypot(p[0] - current[0][0], p[1] - current[0][1]) < 1e-3:
            found.append(tuple(current))
            current = []
        else:
            current.append(p)
    return found


def crosswalks(network: RoadNetwork) -> tuple[Crosswalk, ...]:
    import shapely

    out = []
    for index, outline in enumerate(outlines(network.carla_map)):
        rect = shapely.Polygon(outline).minimum_rotated_rectangle
        corners = list(rect.exterior.coords)[:4]
        if len(corners) < 4:  # degenerate (all points on a line)
            continue
        cx = sum(c[0] for c in corners) / 4
        cy = sum(c[1] for c in corners) / 4
        lane = network.nearest(cx, cy, LaneKind.DRIVING)
        # The road's direction of travel at the centre (that of lane -1: along the reference line).
        road_yaw = None if lane is None else (lane.yaw_deg if lane.lane_id < 0 else wrap_deg(lane.yaw_deg + 180.0))
        sides = [(corners[1][0] - corners[0][0], corners[1][1] - corners[0][1]), (corners[2][0] - corners[1][0], corners[2][1] - corners[1][1])]
        lengths = [math.hypot(*v) for v in sides]
        if road_yaw is None:
            k = 0 if lengths[0] >= lengths[1] else 1  # no road: the long side
        else:
            r = math.radians(road_yaw)
            along = [abs(v[0] * math.cos(r) + v[1] * math.sin(r)) / max(n, 1e-9) for v, n in zip(sides, lengths)]
            k = 0 if along[0] <= along[1] else 1  # the side most nearly across the road
        axis = math.degrees(math.atan2(sides[k][1], sides[k][0]))
        if road_yaw is not None and math.sin(math.radians(axis - road_yaw)) < 0:
            axis = wrap_deg(axis + 180.0)  # left to right of the road's direction (CARLA: +90 is right)
        else:
            axis = wrap_deg(axis)
        half = lengths[k] / 2
        ux, uy = math.cos(math.radians(axis)), math.sin(math.radians(axis))
        ends = ((cx - half * ux, cy - half * uy), (cx + half * ux, cy + half * uy))
        out.append(
            Crosswalk(
                id=index, road_id=None if lane is None else lane.road_id, outline=outline, x_m=cx, y_m=cy,
                axis_deg=axis, length_m=lengths[k], width_m=lengths[1 - k], ends=ends,
            )
        )  # fmt: skip
    return tuple(out)
