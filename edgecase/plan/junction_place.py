"""Junction placements: an approach of a junction (any, by id, or the one another actor drives into
next, named by where it comes from as that actor sees it), before its entry or past its exit."""

from __future__ import annotations

from edgecase.errors import DoesNotFit, SourcePos
from edgecase.plan.spots import Spot, Where, advance_or_fail
from edgecase.roads import Junction, LanePoint, RoadNetwork, Turn
from edgecase.roads.waypoints import wrap_deg

SIDES_DEG = {"same": (-45.0, 45.0), "left": (45.0, 135.0), "right": (-135.0, -45.0)}  # heading of the approach minus the reference's
NEXT_JUNCTION_M = 300.0  # `junction: ACTOR` looks this far ahead of the actor for its junction


def at_junction(network: RoadNetwork, where: Where, placed: dict[str, Spot], pick, pos: SourcePos) -> LanePoint:
    if isinstance(where.junction, str) and where.junction != "any":
        junction, own = next_junction(network, placed[where.junction], where.junction, pos)
        index = where.approach if isinstance(where.approach, int) else _side_approach(junction, own, where, pick, pos)
    else:
        junctions = [j for j in network.junctions() if where.junction == "any" or j.id == where.junction]
        if where.junction == "any" and where.signalized is not None:  # as open_choices: `signalized:` filters
            junctions = [j for j in junctions if j.signalized == where.signalized]
        if not junctions:
            which = "junction" if where.junction == "any" else f"junction {where.junction}"
            if where.junction == "any" and where.signalized is not None:
                which = ("signalized " if where.signalized else "unsignalized ") + which
            raise DoesNotFit(f"map '{network.name}' has no {which}", pos)
        junction = junctions[pick(len(junctions))] if len(junctions) > 1 else junctions[0]
        index = where.approach if where.approach is not None else pick(len(junction.approaches))
    approaches = junction.approaches
    if not 0 <= index < len(approaches):
        raise DoesNotFit(f"junction {junction.id} has approaches 0..{len(approaches) - 1}, not {index}", pos)
    a = approaches[index]
    if where.turn is not None and Turn(where.turn) not in a.turns:
        raise DoesNotFit(f"approach {index} of junction {junction.id} (road {a.road_id}, lane {a.lane_id}) cannot turn {where.turn}", pos)
    entry = network.point(a.road_id, a.lane_id, a.s_m)
    if where.after_m is None:
        point = advance_or_fail(network, entry, -where.before_m, pos, "junction approach")
    else:
        point = advance_or_fail(network, junction_exit(network, entry, Turn(where.turn or "straight"), pos), where.after_m, pos, "junction exit")
    return point


def next_junction(network: RoadNetwork, spot: Spot, name: str, pos: SourcePos) -> tuple[Junction, int]:
    """The junction `name` drives into next, and the index of the approach it enters by."""
    if spot.point is None or spot.point.junction_id is not None:
        raise DoesNotFit(f"'{name}' is not on a lane before a junction", pos)
    last = spot.point
    for p in network.walk(spot.point, NEXT_JUNCTION_M, (), 1.0):
        if p.junction_id is not None:
            junction = next((j for j in network.junctions() if j.id == p.junction_id), None)
            own = None if junction is None else next(
                (k for k, a in enumerate(junction.approaches) if (a.road_id, a.lane_id) == (last.road_id, last.lane_id)), None
            )
            if own is None:
                break
            return junction, own
        last = p
    raise DoesNotFit(f"'{name}' reaches no junction within {NEXT_JUNCTION_M:g} m ahead", pos)


def _side_approach(junction: Junction, own: int, where: Where, pick, pos: SourcePos) -> int:
    """An approach coming from `where.approach` (same/left/right/opposite) of the reference's one,
    that allows `where.turn`; the seed picks among several (lanes of a multi-lane approach)."""
    ref_yaw = junction.approaches[own].yaw_deg
    side = where.approach or "same"
    options = []
    for k, a in enumerate(junction.approaches):
        d = wrap_deg(a.yaw_deg - ref_yaw)
        lo, hi = SIDES_DEG.get(side, (135.0, 225.0))
        if (lo <= d <= hi or lo <= d + 360.0 <= hi) and (where.turn is None or Turn(where.turn) in a.turns):
            options.append(k)
    if not options:
        turn = f" that can turn {where.turn}" if where.turn else ""
        raise DoesNotFit(f"junction {junction.id} has no approach from the {side} of '{where.junction}'{turn}", pos)
    if side == "same" and where.after_m is not None and own in options:
        return own  # past the junction on the reference's own route (its exit lane), not a lane beside it
    return options[pick(len(options))] if len(options) > 1 else options[0]


def junction_exit(network: RoadNetwork, entry: LanePoint, turn: Turn, pos: SourcePos) -> LanePoint:
    """The first point (within 0.5 m) past the junction that `entry`'s lane enters, taking `turn`."""
    inside = False
    for p in network.walk(entry, 200.0, (turn,), 0.5):
        if p.junction_id is not None:
            inside = True
        elif inside:
            return p
    raise DoesNotFit(f"no way {turn.value} through the junction from road {entry.road_id}, lane {entry.lane_id}", pos)
