"""Bends in a lane, for placements that need one (`before_bend_m`, `past_bend_m`) or must avoid
one (`straight_ahead_m`)."""

from __future__ import annotations

import math

from edgecase.errors import DoesNotFit, InputError, SourcePos
from edgecase.plan.spots import Where, advance_or_fail, lane_refs
from edgecase.roads import LanePoint, RoadNetwork
from edgecase.roads.waypoints import wrap_deg

# A bend (`before_bend_m`, `past_bend_m`): where the lane, outside junctions, keeps turning on a
# radius under BEND_MAX_RADIUS_M until it has turned BEND_MIN_DEG or more; it starts and ends where
# the curvature crosses that radius. Searched BEND_SEARCH_M ahead, sampled every BEND_STEP_M.
BEND_MAX_RADIUS_M = 100.0
BEND_MIN_DEG = 45.0
BEND_SEARCH_M = 300.0
BEND_STEP_M = 1.0


def find_bend(network: RoadNetwork, start: LanePoint, pos: SourcePos, what: str, search_m: float = BEND_SEARCH_M,
              in_junctions: bool = False) -> tuple[LanePoint, LanePoint, float]:
    """The first bend ahead of `start` along its lane (straight on through junctions) within
    search_m: its start and end points, and how far ahead of `start` it starts. With in_junctions,
    a turn inside a junction (where the lane has no straight way on) counts as a bend too."""
    points = [start] + network.walk(start, search_m, (), BEND_STEP_M)
    threshold = math.degrees(BEND_STEP_M / BEND_MAX_RADIUS_M)  # degrees per step at that radius
    first, first_k = None, 0
    turned = 0.0
    for k, (a, b) in enumerate(zip(points, points[1:])):
        d = wrap_deg(b.yaw_deg - a.yaw_deg)
        if (in_junctions or (a.junction_id is None and b.junction_id is None)) and abs(d) >= threshold and (first is None or d * turned >= 0):
            if first is None:
                first, first_k = a, k
            turned += d
            continue
        if first is not None and abs(turned) >= BEND_MIN_DEG:
            return first, a, first_k * BEND_STEP_M
        first, turned = None, 0.0
    raise DoesNotFit(
        f"no bend (radius under {BEND_MAX_RADIUS_M:g} m, turning {BEND_MIN_DEG:g} degrees or more, outside junctions) "
        f"within {search_m:g} m {what} (road {start.road_id}, lane {start.lane_id}) on map '{network.name}'",
        pos,
    )


def before_bend(network: RoadNetwork, where: Where, pos: SourcePos) -> LanePoint:
    """`before_bend_m` before the first bend along the lane, searched from where the lane starts."""
    if where.road is not None and where.lane_id is not None:
        road, lane_id = where.road, where.lane_id
        length = network.xodr.roads[road].length_m if road in network.xodr.roads else 0.0  # no road: network.point says so
    else:
        lane = next(iter(lane_refs(network, where)), None)
        if lane is None:
            raise DoesNotFit(f"map '{network.name}' has no {where.lane} lane" + (f" on road {where.road}" if where.road is not None else ""), pos)
        road, lane_id, length = lane.road_id, lane.lane_id, lane.length_m
    try:  # the lane's start in its direction of travel (lanes with negative ids run along s)
        start = network.point(road, lane_id, 0.05 if lane_id < 0 else length - 0.05)
    except InputError as e:
        raise DoesNotFit(e.message, e.pos or pos, hint=e.hint) from None
    bend, _, _ = find_bend(network, start, pos, "from its start")
    return advance_or_fail(network, bend, -where.before_bend_m, pos, "before_bend_m")
