"""Initial placement in road terms: lane + s, relative to another actor, between two, at a junction, or x/y.

Distances along a lane follow the lane's centre line exactly (through curves), because users
reason in road terms ("30 m ahead of the ego") and the check reads them back the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache

from edgecase.errors import DoesNotFit, InputError, SourcePos
from edgecase.plan.bends import BEND_SEARCH_M, before_bend, find_bend
from edgecase.plan.junction_place import at_junction
from edgecase.plan.sampling import Sampler
from edgecase.plan.kerb import kerb_lane, kerb_point, kerb_side, lateral_of
from edgecase.plan.spots import Spot, Where, advance_or_fail, lane_refs, lane_spot
from edgecase.roads import LaneKind, LanePoint, RoadNetwork, Turn
from edgecase.roads.waypoints import wrap_deg
from edgecase.scenario.model import Placement


def where_of(at: Placement, path: tuple, sampler: Sampler, instance: Callable[[str, SourcePos], str], pos: SourcePos,
             along: Callable[[], float] | None = None) -> Where:  # fmt: skip
    """A scenario's `at:` (of an actor or a surface, at `path`) with its numbers drawn, in a fixed
    order. `instance` turns 'parked[1]' into an instance name; `along` (a relative placement's
    distance from a criticality solver) replaces ahead_m/behind_m."""

    def num(key: str, lo: float = -10_000.0, hi: float = 10_000.0) -> float:
        value = getattr(at, key)
        return 0.0 if value is None else sampler.number(value, path + (key,), lo=lo, hi=hi)

    def maybe(key: str, lo: float, hi: float) -> float | None:
        return None if getattr(at, key) is None else num(key, lo, hi)

    offsets = dict(lateral_m=num("lateral_m", -50, 50), yaw_deg=num("yaw_deg", -360, 360))
    if at.mode == "xy":
        return Where("xy", x_m=num("x_m", -1e5, 1e5), y_m=num("y_m", -1e5, 1e5), **offsets)
    if at.mode == "lane":
        bend, straight = maybe("before_bend_m", 0, 1e4), maybe("straight_ahead_m", 0, 1e4)
        return Where("lane", at.lane, at.road, at.lane_id, s_m=num("s_m", 0, 1e5), before_bend_m=bend, straight_ahead_m=straight, **offsets)
    if at.mode == "between":
        return Where("between", at.lane, between=tuple(instance(r, pos) for r in at.between), **offsets)
    if at.mode == "junction":
        approach = at.approach
        if approach is not None and not isinstance(approach, str):
            approach = sampler.integer(approach, path + ("approach",), lo=0, hi=64)
        junction = at.junction if at.junction in ("any", None) or isinstance(at.junction, int) else instance(at.junction, pos)
        after = maybe("after_m", 0, 1e4)
        return Where("junction", at.lane, junction=junction, approach=approach, turn=at.turn, signalized=at.signalized,
                     before_m=num("before_m", 0, 1e4), after_m=after, **offsets)  # fmt: skip
    distance = along() if along is not None else num("ahead_m") - num("behind_m")
    past, ends = maybe("past_bend_m", 0, 1e4), maybe("ends_within_m", 0, 1e4)
    return Where("relative", at.lane, relative_to=instance(at.relative_to, pos), along_m=distance, past_bend_m=past,
                 ends_within_m=ends, **offsets)  # fmt: skip


def place(network: RoadNetwork, where: Where, placed: dict[str, Spot], pick, length_m: float, pos: SourcePos,
          width_m: float = 0.0) -> Spot:  # fmt: skip
    """The spot for one placement; `pick(n)` draws an index when the scenario leaves a choice to the seed.
    `width_m` (the actor's) places a car parked at the kerb (kerb_left/right) with its outer side against it."""
    kerb = kerb_side(where, placed)
    if kerb is not None and where.mode == "relative":
        where = replace(where, lane=f"kerb_{kerb}")  # `same` beside a kerb-parked car: parked at the kerb too
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
        point = target_lane(network, at_junction(network, where, placed, pick, pos), where.lane, pos)
    parked = 0.0  # the kerb's shift outwards from `point`'s lane centre, to the right of travel
    if kerb is not None and where.mode == "between":
        parked = lateral_of(placed[where.between[0]])  # between kerb-parked cars: in line with them
    elif kerb is not None:
        point, parked = kerb_point(network, point, kerb, width_m, pos)
    lateral = where.lateral_m + parked
    if point.kind is not None and abs(lateral) > point.width_m / 2 + 1e-6:
        raise DoesNotFit(f"lateral_m = {lateral:g} puts the actor outside its {point.kind.value} lane ({point.width_m:.2f} m wide)", pos)
    spot = lane_spot(network, point, replace(where, lateral_m=lateral), length_m)
    return replace(spot, kerb=kerb) if kerb is not None and where.mode != "between" else spot


def _on_lane(network: RoadNetwork, where: Where, pos: SourcePos) -> LanePoint:
    point = _on_lane_point(network, where, pos)
    if where.straight_ahead_m is not None:  # a filter: the lane runs on that far without a bend
        advance_or_fail(network, point, where.straight_ahead_m, pos, "straight_ahead_m")
        try:
            bend, _, distance = find_bend(network, point, pos, "", where.straight_ahead_m + BEND_SEARCH_M, in_junctions=True)
        except DoesNotFit:
            return point
        if distance >= where.straight_ahead_m:
            return point
        raise DoesNotFit(f"straight_ahead_m: the lane (road {point.road_id}, lane {point.lane_id}) bends within {where.straight_ahead_m:.0f} m "
                         f"(at road {bend.road_id}, lane {bend.lane_id}, s = {bend.s_m:.1f} m)", pos)  # fmt: skip
    return point


def _on_lane_point(network: RoadNetwork, where: Where, pos: SourcePos) -> LanePoint:
    if where.before_bend_m is not None:
        return before_bend(network, where, pos)
    if where.road is not None and where.lane_id is not None:
        try:
            return network.point(where.road, where.lane_id, where.s_m)
        except InputError as e:  # the map's error names the lanes there; the scenario's `at:` is where to fix it
            raise DoesNotFit(e.message, e.pos or pos, hint=e.hint) from None
    lanes = lane_refs(network, where)
    if not lanes:
        raise DoesNotFit(f"map '{network.name}' has no {where.lane} lane at s = {where.s_m:.1f} m" + (f" on road {where.road}" if where.road is not None else ""), pos)
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
    elif relation in ("kerb_left", "kerb_right"):
        found = kerb_lane(network, anchor, relation.removeprefix("kerb_"), pos)  # place() then shifts it to the kerb
    else:
        kind, side = relation.split("_")
        found = next((p for p in network.side_lanes(anchor, side) if p.kind == LaneKind(kind)), None)
    if found is None:
        raise DoesNotFit(f"no '{relation}' lane beside road {anchor.road_id}, lane {anchor.lane_id} on map '{network.name}'", pos)
    return found


def _relative(network: RoadNetwork, where: Where, ref: Spot, pos: SourcePos) -> LanePoint:
    if ref.point is None:
        raise DoesNotFit(f"'{where.relative_to}' is not on a lane, so nothing can be placed relative to it", pos)
    if where.past_bend_m is not None:
        _, end, _ = find_bend(network, ref.point, pos, f"ahead of '{where.relative_to}'")
        return target_lane(network, advance_or_fail(network, end, where.past_bend_m, pos, "past_bend_m"), where.lane, pos)
    lane = target_lane(network, ref.point, where.lane, pos)
    if where.ends_within_m is not None and network.advance(lane, where.ends_within_m) is not None:
        raise DoesNotFit(f"ends_within_m: the '{where.lane or 'same'}' lane beside '{where.relative_to}' (road {lane.road_id}, lane "
                         f"{lane.lane_id}) runs on past {where.ends_within_m:g} m; an acceleration lane ends", pos)  # fmt: skip
    # 'ahead' is the reference's direction of travel, also on a lane that runs the other way.
    same_way = abs(wrap_deg(lane.yaw_deg - ref.point.yaw_deg)) <= 90
    return advance_or_fail(network, lane, where.along_m if same_way else -where.along_m, pos, "placement")


def _between(network: RoadNetwork, where: Where, placed: dict[str, Spot], pos: SourcePos) -> LanePoint:
    first, second = (placed[name] for name in where.between)
    if first.point is None:
        raise DoesNotFit(f"'{where.between[0]}' is not on a lane", pos)
    yaw = math.radians(first.point.yaw_deg)
    along = (second.x_m - first.x_m) * math.cos(yaw) + (second.y_m - first.y_m) * math.sin(yaw)
    free_m = abs(along) - first.length_m / 2 - second.length_m / 2
    if free_m <= 0:
        raise DoesNotFit(f"'{where.between[0]}' and '{where.between[1]}' leave no gap between them", pos)
    offset = math.copysign(first.length_m / 2 + free_m / 2, along)
    lane = target_lane(network, first.point, where.lane, pos)
    return advance_or_fail(network, lane, offset, pos, "between")


@lru_cache(maxsize=64)
def open_choices(network: RoadNetwork, where: Where) -> tuple[Where, ...]:
    """The places a placement leaves open, in map order, each made concrete: every lane of the kind
    (when no road is named) or every fitting approach of every fitting junction (`junction: any`).
    A placement that names its place has one choice, itself. Cached: the search asks once per try."""
    if where.mode == "lane" and where.road is None:
        return tuple(replace(where, road=lane.road_id, lane_id=lane.lane_id) for lane in lane_refs(network, where))
    if where.mode == "junction" and where.junction == "any":
        return tuple([
            replace(where, junction=j.id, approach=index)
            for j in network.junctions()
            if where.signalized is None or j.signalized == where.signalized
            for index, a in enumerate(j.approaches)
            if (where.approach is None or where.approach == index) and (where.turn is None or Turn(where.turn) in a.turns)
        ])
    return (where,)
