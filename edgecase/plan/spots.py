"""The values placement works with: a placement with its numbers drawn (Where) and where an
actor instance starts (Spot), plus the one failure every placement shares: a lane that ends."""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgecase.errors import DoesNotFit, SourcePos
from edgecase.roads import LaneKind, LanePoint, LaneRef, RoadNetwork
from edgecase.roads.waypoints import wrap_deg


@dataclass(frozen=True, slots=True)
class Where:
    """A placement with its numbers drawn (see scenario.model.Placement for the meaning of each)."""

    mode: str  # lane | relative | between | junction | xy
    lane: str | None = None
    road: int | None = None
    lane_id: int | None = None
    s_m: float | None = None
    relative_to: str | None = None  # an instance name
    along_m: float = 0.0  # ahead_m, or -behind_m
    between: tuple[str, str] | None = None
    junction: str | int | None = None  # 'any', an id, or an instance whose next junction it is
    approach: int | str | None = None  # an index, or same/left/right/opposite seen from that instance
    turn: str | None = None  # the approach must allow it; with after_m, the way out of the junction
    signalized: bool | None = None
    before_m: float = 0.0
    after_m: float | None = None
    before_bend_m: float | None = None  # lane form: this far before the lane's first bend
    past_bend_m: float | None = None  # relative form: this far past the end of the next bend ahead
    ends_within_m: float | None = None  # relative form, a filter: the target lane ends within this far
    straight_ahead_m: float | None = None  # lane form, a filter: no bend starts within this far ahead
    x_m: float = 0.0
    y_m: float = 0.0
    lateral_m: float = 0.0
    yaw_deg: float = 0.0


@dataclass(frozen=True, slots=True)
class Spot:
    """Where one actor instance starts."""

    point: LanePoint | None  # its position projected on its lane (None: off the road network)
    x_m: float
    y_m: float
    z_m: float
    yaw_deg: float
    length_m: float
    kerb: str | None = None  # 'left'/'right': parked against that kerb (kerb_left/right); rows and `same` placements relative to it are too


def lane_spot(network: RoadNetwork, point: LanePoint, where: Where, length_m: float) -> Spot:
    """A spot on `point`'s lane, shifted `lateral_m` to the right of travel, turned by `yaw_deg`."""
    yaw = math.radians(point.yaw_deg)
    right = (-math.sin(yaw), math.cos(yaw))  # CARLA is left-handed: +y is to the right of +x
    return Spot(
        point,
        point.x_m + where.lateral_m * right[0],
        point.y_m + where.lateral_m * right[1],
        point.z_m,
        wrap_deg(point.yaw_deg + where.yaw_deg),
        length_m,
    )


def advance_or_fail(network: RoadNetwork, point: LanePoint, distance_m: float, pos: SourcePos, what: str) -> LanePoint:
    moved = network.advance(point, distance_m)
    if moved is None:
        way = "ahead" if distance_m >= 0 else "behind"
        raise DoesNotFit(f"{what}: the lane ends less than {abs(distance_m):.1f} m {way} (road {point.road_id}, lane {point.lane_id})", pos)
    return moved


def lane_refs(network: RoadNetwork, where: Where) -> list[LaneRef]:
    """The lanes a lane placement by kind may stand on, in map order: of its kind, outside
    junctions, on its road and with its lane id where given, and (unless it is placed by a bend)
    longer than its s_m."""
    return [
        lane
        for lane in network.lanes(LaneKind(where.lane))
        if lane.junction_id is None
        and (where.road is None or lane.road_id == where.road)
        and (where.lane_id is None or lane.lane_id == where.lane_id)
        and (where.before_bend_m is not None or where.s_m < lane.length_m)
    ]
