"""Initial placement in road terms: lane + s, relative to another actor, between two, at a junction, or x/y.

Distances along a lane follow the lane's centre line exactly (through curves), because users
reason in road terms ("30 m ahead of the ego") and the check reads them back the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgecase.errors import InputError, SourcePos
from edgecase.roads import Crosswalk, LaneKind, LanePoint, RoadNetwork
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
    junction: str | int | None = None
    approach: int | None = None
    before_m: float = 0.0
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


def place(network: RoadNetwork, where: Where, placed: dict[str, Spot], pick, length_m: float, pos: SourcePos) -> Spot:
    """The spot for one placement; `pick(n)` draws an index when the scenario leaves a choice to the seed."""
    if where.mode == "xy":
        point = network.nearest(where.x_m, where.y_m)
        return Spot(point, where.x_m, where.y_m, point.z_m if point else 0.0, wrap_deg(where.yaw_deg), length_m)
    if where.mode == "lane":
        point = _on_lane(network, where, pos)
    elif where.mode == "relative":
        point = _relative(network, where, placed[where.relative_to], pos)
    elif where.mode == "between":
        point = _between(network, where, placed, pos)
    else:
        point = _at_junction(network, where, pick, pos)
    if point.kind is not None and abs(where.lateral_m) > point.width_m / 2:
        raise InputError(
            f"lateral_m = {where.lateral_m:g} puts the actor outside its {point.kind.value} lane ({point.width_m:.2f} m wide)", pos
        )
    return lane_spot(network, point, where, length_m)


CROSSWALK_REACH_M = 50.0  # `cross: {at_crosswalk: true}` uses a crosswalk whose centre is this close


def crosswalk_spot(network: RoadNetwork, spot: Spot, direction: str, pos: SourcePos, what: str) -> tuple[Spot, float, Crosswalk]:
    """Move a crosser to the kerb end of the crosswalk nearest its spot: the end on its side
    (direction auto), or the end from which the crossing heads to that side of its lane's travel
    (left/right). Returns the new spot, the crossing heading (along the crosswalk's axis, towards
    the road) and the crosswalk."""
    options = network.crosswalks()
    if not options:
        raise InputError(f"{what}: cross has at_crosswalk: true, but map '{network.name}' has no crosswalks", pos,
                         hint="remove at_crosswalk to cross mid-block")  # fmt: skip
    crosswalk = min(options, key=lambda c: c.distance_m(spot.x_m, spot.y_m))
    distance = crosswalk.distance_m(spot.x_m, spot.y_m)
    if distance > CROSSWALK_REACH_M:
        raise InputError(
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
    point = network.nearest(x, y)
    moved = Spot(point, x, y, point.z_m if point else spot.z_m, spot.yaw_deg, spot.length_m)
    return moved, heading, crosswalk


def advance_or_fail(network: RoadNetwork, point: LanePoint, distance_m: float, pos: SourcePos, what: str) -> LanePoint:
    moved = network.advance(point, distance_m)
    if moved is None:
        way = "ahead" if distance_m >= 0 else "behind"
        raise InputError(f"{what}: the lane ends less than {abs(distance_m):.1f} m {way} (road {point.road_id}, lane {point.lane_id})", pos)
    return moved


def _on_lane(network: RoadNetwork, where: Where, pos: SourcePos) -> LanePoint:
    if where.road is not None and where.lane_id is not None:
        try:
            return network.point(where.road, where.lane_id, where.s_m)
        except InputError as e:  # the map's error names the lanes there; the scenario's `at:` is where to fix it
            raise InputError(e.message, e.pos or pos, hint=e.hint) from None
    kind = LaneKind(where.lane)
    lanes = [
        lane
        for lane in network.lanes(kind)
        if lane.junction_id is None
        and (where.road is None or lane.road_id == where.road)
        and (where.lane_id is None or lane.lane_id == where.lane_id)
        and where.s_m < lane.length_m
    ]
    if not lanes:
        raise InputError(f"map '{network.name}' has no {kind.value} lane at s = {where.s_m:.1f} m" + (f" on road {where.road}" if where.road is not None else ""), pos)
    return network.point(lanes[0].road_id, lanes[0].lane_id, where.s_m)


def target_lane(network: RoadNetwork, anchor: LanePoint, relation: str | None, pos: SourcePos) -> LanePoint:
    """The lane named by `relation` (same, left, opposite, parking_right, ...) beside `anchor`."""
    if relation in (None, "same"):
        return anchor
    if relation == "opposite":
        found = network.opposite(anchor)
    elif relation in ("left", "right"):
        found = network.neighbor(anchor, relation)
        if found is not None and (found.kind != anchor.kind or abs(wrap_deg(found.yaw_deg - anchor.yaw_deg)) > 90):
            found = None  # 'left' means a lane to change into, never the oncoming lane or a sidewalk
    else:
        kind, side = relation.split("_")
        found = next((p for p in network.side_lanes(anchor, side) if p.kind == LaneKind(kind)), None)
    if found is None:
        raise InputError(f"no '{relation}' lane beside road {anchor.road_id}, lane {anchor.lane_id} on map '{network.name}'", pos)
    return found


def _relative(network: RoadNetwork, where: Where, ref: Spot, pos: SourcePos) -> LanePoint:
    if ref.point is None:
        raise InputError(f"'{where.relative_to}' is not on a lane, so nothing can be placed relative to it", pos)
    lane = target_lane(network, ref.point, where.lane, pos)
    # 'ahead' is the reference's direction of travel, also on a lane that runs the other way.
    same_way = abs(wrap_deg(lane.yaw_deg - ref.point.yaw_deg)) <= 90
    return advance_or_fail(network, lane, where.along_m if same_way else -where.along_m, pos, "placement")


def _between(network: RoadNetwork, where: Where, placed: dict[str, Spot], pos: SourcePos) -> LanePoint:
    first, second = (placed[name] for name in where.between)
    if first.point is None:
        raise InputError(f"'{where.between[0]}' is not on a lane", pos)
    yaw = math.radians(first.point.yaw_deg)
    along = (second.x_m - first.x_m) * math.cos(yaw) + (second.y_m - first.y_m) * math.sin(yaw)
    free_m = abs(along) - first.length_m / 2 - second.length_m / 2
    if free_m <= 0:
        raise InputError(f"'{where.between[0]}' and '{where.between[1]}' leave no gap between them", pos)
    offset = math.copysign(first.length_m / 2 + free_m / 2, along)
    lane = target_lane(network, first.point, where.lane, pos)
    return advance_or_fail(network, lane, offset, pos, "between")


def _at_junction(network: RoadNetwork, where: Where, pick, pos: SourcePos) -> LanePoint:
    junctions = network.junctions()
    if where.junction != "any":
        junctions = [j for j in junctions if j.id == where.junction]
    if not junctions:
        which = "any junction" if where.junction == "any" else f"junction {where.junction}"
        raise InputError(f"map '{network.name}' has no {which}", pos)
    junction = junctions[pick(len(junctions))] if len(junctions) > 1 else junctions[0]
    approaches = junction.approaches
    index = where.approach if where.approach is not None else pick(len(approaches))
    if not 0 <= index < len(approaches):
        raise InputError(f"junction {junction.id} has approaches 0..{len(approaches) - 1}, not {index}", pos)
    a = approaches[index]
    entry = network.point(a.road_id, a.lane_id, a.s_m)
    return advance_or_fail(network, entry, -where.before_m, pos, "junction approach")
