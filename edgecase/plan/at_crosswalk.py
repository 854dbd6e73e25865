"""`cross: {at_crosswalk: true}`: a crosser moved to the kerb end of the nearest crosswalk."""

from __future__ import annotations

import math

from edgecase.errors import DoesNotFit, SourcePos
from edgecase.plan.spots import Spot
from edgecase.roads import Crosswalk, LanePoint, RoadNetwork
from edgecase.roads.waypoints import wrap_deg

CROSSWALK_REACH_M = 50.0  # `cross: {at_crosswalk: true}` uses a crosswalk whose centre is this close


def crosswalk_spot(network: RoadNetwork, spot: Spot, direction: str, pos: SourcePos, what: str) -> tuple[Spot, float, Crosswalk]:
    """Move a crosser to the kerb end of the crosswalk nearest its spot: the end on its side
    (direction auto), or the end from which the crossing heads to that side of its lane's travel
    (left/right). Returns the new spot, the crossing heading (along the crosswalk's axis, towards
    the road) and the crosswalk."""
    options = network.crosswalks()
    if not options:
        raise DoesNotFit(f"{what}: cross has at_crosswalk: true, but map '{network.name}' has no crosswalks", pos,
                         hint="remove at_crosswalk to cross mid-block")  # fmt: skip
    crosswalk = min(options, key=lambda c: c.distance_m(spot.x_m, spot.y_m))
    distance = crosswalk.distance_m(spot.x_m, spot.y_m)
    if distance > CROSSWALK_REACH_M:
        raise DoesNotFit(
            f"{what}: cross has at_crosswalk: true, but the nearest crosswalk on map '{network.name}' is {distance:.1f} m away "
            f"(at x={crosswalk.x_m:.1f}, y={crosswalk.y_m:.1f}; at most {CROSSWALK_REACH_M:g} m)",
            pos,
            hint="place the actor near a crosswalk, or remove at_crosswalk to cross mid-block",
        )
    if direction == "auto":
        end = min((0, 1), key=lambda k: math.hypot(spot.x_m - crosswalk.ends[k][0], spot.y_m - crosswalk.ends[k][1]))
    else:
        lane_yaw = spot.point.yaw_deg if spot.point else spot.yaw_deg
        to_right = math.sin(math.radians(crosswalk.axis_deg - lane_yaw)) > 0  # walking from ends[0] heads right
        end = 0 if to_right == (direction == "right") else 1
    x, y = crosswalk.ends[end]
    heading = crosswalk.axis_deg if end == 0 else wrap_deg(crosswalk.axis_deg + 180.0)
    x, y, point = _on_a_lane(network, x, y, heading)
    moved = Spot(point, x, y, point.z_m if point else spot.z_m, spot.yaw_deg, spot.length_m)
    return moved, heading, crosswalk


KERB_SEARCH_M = 3.0  # how far along its crosswalk a kerb end off every lane is moved onto one


def _on_a_lane(network: RoadNetwork, x_m: float, y_m: float, heading_deg: float) -> tuple[float, float, LanePoint | None]:
    """The point nearest (x, y) along the crosswalk's axis that lies on a lane, and that lane.
    Some kerb ends lie on no lane (Town10HD has gaps between its shoulders and sidewalks): such a
    crosser is moved back from the road first (onto the kerb it waits on), else forward."""
    import carla

    from edgecase.roads.waypoints import lane_point

    c, s = math.cos(math.radians(heading_deg)), math.sin(math.radians(heading_deg))
    for k in range(int(KERB_SEARCH_M / 0.1) + 1):
        for d in (-0.1 * k, 0.1 * k) if k else (0.0,):
            px, py = x_m + d * c, y_m + d * s
            wp = network.carla_map.get_waypoint(carla.Location(px, py, 0.0), False, carla.LaneType.Any)
            if wp is not None:
                return px, py, lane_point(wp)
    return x_m, y_m, network.nearest(x_m, y_m)
