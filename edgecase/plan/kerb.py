"""Parking at the kerb (`kerb_left` / `kerb_right`): in the parking lane where the road has one,
else against the kerb on the outermost driving lane's shoulder, where there is room beside traffic."""

from __future__ import annotations

import math

from edgecase.errors import DoesNotFit, SourcePos
from edgecase.plan.spots import Spot, Where
from edgecase.roads import LaneKind, LanePoint, RoadNetwork
from edgecase.roads.waypoints import wrap_deg

# A car parked at the kerb (kerb_left/right where the road has no parking lane): on the outermost
# driving lane, shifted outwards until its outer side is KERB_GAP_M from the kerb (the outer edge of
# the shoulders beside the lane, i.e. the sidewalk's edge), so it stands on the shoulder, or partly
# on the lane where the shoulder is narrow. Traffic keeps to its lane centre, so the car must leave
# KERB_CLEAR_M right of it free; where it cannot (Town01: 4 m lanes, 0.3 m shoulders), the place
# does not fit.
KERB_GAP_M = 0.15
KERB_CLEAR_M = 1.3  # half of a wide car (2.1 m) plus 0.25 m
# Nor is there kerb parking on a bend (no stopping at sharp bends, e.g. German StVO 12(1)): the lane
# may turn at most KERB_BEND_DEG from 30 m before the car to 10 m past it, so traffic sees it in time.
KERB_STRAIGHT_M = (-30.0, -15.0, 0.0, 10.0)
KERB_BEND_DEG = 10.0
LANE_EDGE_M = 0.5  # the car's centre stays this far inside its lane (moved away from the kerb if need be)
KERB_JUNCTION_M = (-8.0, 0.0, 8.0)  # no parking in a junction or within 5 m of it (half a long car, 2.7 m, + 5 m; StVO 12(3))


def kerb_side(where: Where, placed: dict[str, Spot]) -> str | None:
    """The kerb a placement parks against: its own kerb_* relation, or with lane same (default),
    relative to or between kerb-parked actors, theirs."""
    if where.lane in ("kerb_left", "kerb_right"):
        return where.lane.removeprefix("kerb_")
    if where.lane in (None, "same"):
        ref = where.relative_to if where.mode == "relative" else where.between[0] if where.mode == "between" else None
        return placed[ref].kerb if ref is not None else None
    return None


def lateral_of(spot: Spot) -> float:
    """How far `spot` stands right of its lane point."""
    yaw = math.radians(spot.point.yaw_deg)
    return (spot.x_m - spot.point.x_m) * -math.sin(yaw) + (spot.y_m - spot.point.y_m) * math.cos(yaw)


def kerb_lane(network: RoadNetwork, p: LanePoint, side: str, pos: SourcePos) -> LanePoint:
    """The lane a kerb_<side> relation parks on, beside `p` (a driving or parking lane, or a
    shoulder/sidewalk beside one): the parking lane on that side, else `p`'s driving lane itself,
    if no other driving lane lies between it and the kerb."""
    base, inward = p, "left" if side == "right" else "right"
    for _ in range(8):
        if base is None or base.kind in (LaneKind.DRIVING, LaneKind.PARKING):
            break
        base = network.neighbor(base, inward)
    if base is None or base.kind not in (LaneKind.DRIVING, LaneKind.PARKING):
        raise DoesNotFit(f"no driving lane beside road {p.road_id}, lane {p.lane_id} to park at its {side} kerb", pos)
    if base.kind is LaneKind.PARKING:
        return base
    for q in network.side_lanes(base, side):
        if q.kind is LaneKind.PARKING:
            return q
        if q.kind is LaneKind.DRIVING:
            raise DoesNotFit(f"road {base.road_id}, lane {base.lane_id} is not beside the {side} kerb on map '{network.name}' "
                             f"(driving lane {q.lane_id} lies between)", pos)  # fmt: skip
        if q.kind is LaneKind.SIDEWALK:
            break
    return base


def kerb_point(network: RoadNetwork, p: LanePoint, side: str, width_m: float, pos: SourcePos) -> tuple[LanePoint, float]:
    """Where a `width_m` wide actor parks at the kerb beside `p`: the lane under its centre and its
    shift from that lane's centre (to the right of travel). In a parking lane: its centre."""
    base = kerb_lane(network, p, side, pos)
    if base.kind is LaneKind.PARKING:
        return base, 0.0
    shoulders = []
    for q in network.side_lanes(base, side):
        if q.kind is not LaneKind.SHOULDER:
            break
        shoulders.append(q)
    kerb_m = base.width_m / 2 + sum(q.width_m for q in shoulders)  # from the lane centre, outwards
    centre_m = kerb_m - width_m / 2 - KERB_GAP_M
    spans, edge_m = [(base, -base.width_m / 2, base.width_m / 2)], base.width_m / 2
    for q in shoulders:
        spans.append((q, edge_m, edge_m + q.width_m))
        edge_m += q.width_m
    k = next((i for i, (_, _, outer) in enumerate(spans) if centre_m <= outer), len(spans) - 1)
    if centre_m > spans[k][2] - LANE_EDGE_M:  # clear of lane boundaries, where carla finds no lane
        centre_m = spans[k][2] - LANE_EDGE_M
    if k > 0 and centre_m < spans[k][1] + LANE_EDGE_M:
        k, centre_m = k - 1, min(centre_m, spans[k][1] - LANE_EDGE_M)
    lane, mid_m = spans[k][0], (spans[k][1] + spans[k][2]) / 2
    if centre_m - width_m / 2 < KERB_CLEAR_M:
        raise DoesNotFit(
            f"a {width_m:.1f} m wide actor parked at the {side} kerb of road {base.road_id}, lane {base.lane_id} on map "
            f"'{network.name}' would reach within {max(centre_m - width_m / 2, 0.0):.2f} m of the lane centre (traffic there "
            f"needs {KERB_CLEAR_M:g} m): the lane is {base.width_m:.2f} m wide with {kerb_m - base.width_m / 2:.2f} m of shoulder",
            pos,
        )
    near = next((q for q in (network.advance(base, d) for d in KERB_JUNCTION_M) if q is not None and q.junction_id is not None), None)
    if near is not None:
        raise DoesNotFit(f"road {base.road_id}, lane {base.lane_id} on map '{network.name}' at s = {base.s_m:.0f} m is in or "
                         f"next to junction {near.junction_id}: no parking there", pos)  # fmt: skip
    ends = [q for q in (network.advance(base, d) for d in KERB_STRAIGHT_M) if q is not None]
    bend = max(abs(wrap_deg(a.yaw_deg - b.yaw_deg)) for a in ends for b in ends) if ends else 0.0
    if bend > KERB_BEND_DEG:
        raise DoesNotFit(f"road {base.road_id}, lane {base.lane_id} on map '{network.name}' bends {bend:.0f} degrees around s = "
                         f"{base.s_m:.0f} m: no parking at its kerb (at most {KERB_BEND_DEG:g})", pos)  # fmt: skip
    return lane, (centre_m - mid_m) * (1.0 if side == "right" else -1.0)
