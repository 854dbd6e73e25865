"""The criticality solver: turn a target (time-to-conflict, time gap) into start times and positions.

Solved in closed form from constant-speed kinematics, so every seed meets the target instead
of a share of seeds found by rejection sampling. Both definitions are the ones users quote:

* conflict, `ttc_s`: when the crosser's centre enters the ego's lane, the ego's front bumper is
  `ttc_s` seconds (at its speed) from the crosser's path.
* cut-in, `time_gap_s`: when the cutter's lane change ends, the gap from the ego's front bumper
  to the cutter's rear bumper, over the ego's speed.
* paths cross, `arrive_s` / `lead_s`: the ego's centre reaches the first point where the two
  routes' lane centres cross at arrive_s, the other's lead_s earlier (post-encroachment time is
  about lead_s minus the time the other takes to clear the point).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from edgecase.errors import DoesNotFit, InputError, SourcePos
from edgecase.plan.bend_speed import bend_delay_s
from edgecase.plan.model import BehaviorPlan
from edgecase.roads import LanePoint, RoadNetwork, Turn

NEWTON_STEPS = 12
ROUTE_REACH_M = 250.0  # how far along their routes crossing points are looked for


@dataclass(frozen=True, slots=True)
class Crossing:
    start_s: float  # when the crosser must start walking
    conflict_x_m: float
    conflict_y_m: float
    ego_to_conflict_m: float  # along the ego's lane, centre to the crossing path
    entry_distance_m: float  # crosser's walk to the ego lane's edge


def unit(yaw_deg: float) -> tuple[float, float]:
    yaw = math.radians(yaw_deg)
    return math.cos(yaw), math.sin(yaw)


def cross2(a: tuple[float, float], b: tuple[float, float]) -> float:
    return a[0] * b[1] - a[1] * b[0]


@dataclass(frozen=True, slots=True)
class Route:
    """Where a vehicle starts and the turns it takes at the next junctions."""

    start: LanePoint
    turns: tuple[Turn, ...] = ()

    def polyline(self, network: RoadNetwork, reach_m: float = ROUTE_REACH_M) -> list[tuple[float, float]]:
        """Its lane centre every metre, from the start."""
        points = [self.start] + network.walk(self.start, reach_m, self.turns, 1.0)
        return [(p.x_m, p.y_m) for p in points]


def route_turns(steps: Sequence[BehaviorPlan]) -> tuple[Turn, ...]:
    """An actor's route: the turns of every follow_lane `route` and `turn` step, in order. The
    simulation drives by this and the criticality solvers time by it, so both read it here."""
    turns: list[Turn] = []
    for step in steps:
        if step.name == "follow_lane":
            turns += [Turn(t) for t in step.params.get("route") or ()]
        elif step.name == "turn":
            turns.append(Turn(step.params["direction"]))
    return tuple(turns)


@dataclass(frozen=True, slots=True)
class Meeting:
    starts: tuple[LanePoint, LanePoint]
    x_m: float  # where the two routes' centre lines first cross (along the first route)
    y_m: float
    distances_m: tuple[float, float]  # each start to that point, along its route


def solve_meeting(network: RoadNetwork, routes: Sequence[Route], speeds_mps: Sequence[float], times_s: Sequence[float],
                  pos: SourcePos) -> Meeting:  # fmt: skip
    """Starts on each route from which, at constant speed, each centre reaches the point where the
    routes first cross (or merge) at its time. Each start is its placed point moved back along
    its lane (through earlier junctions, straight on) by what the timing asks."""
    import shapely

    lines = [shapely.LineString(route.polyline(network)) for route in routes]
    where = lines[0].intersection(lines[1])
    if where.is_empty:
        raise DoesNotFit(f"criticality.paths_cross: the two routes do not cross within {ROUTE_REACH_M:g} m of their starts", pos)
    crossing = min((shapely.Point(c) for c in shapely.get_coordinates(where)), key=lines[0].project)
    starts, distances = [], []
    for route, line, speed, time_s in zip(routes, lines, speeds_mps, times_s):
        if time_s <= 0:
            raise InputError(f"criticality.paths_cross: an actor would reach the crossing at {time_s:.2f} s; make arrive_s larger than lead_s", pos)
        along_m = line.project(crossing)
        need_m, start = _meeting_start(network, route, line, crossing, along_m, speed, time_s, pos)
        starts.append(start)
        distances.append(need_m)
    return Meeting(tuple(starts), float(crossing.x), float(crossing.y), tuple(distances))


def _meeting_start(network: RoadNetwork, route: Route, line, crossing, along_m: float, speed: float, time_s: float,
                   pos: SourcePos) -> tuple[float, LanePoint]:  # fmt: skip
    """The start (and its distance to the crossing along the route) from which the actor, at
    `speed` but slowing for the bends on the way (bend_delay_s), reaches `crossing` at `time_s`.
    Behind route.start the drive is timed from each candidate start (the time grows with the
    distance, so it is bisected); a start behind an earlier junction from which the route goes
    another way (the walk back took a turn its behavior will not take, or its `turn` would be used
    up there) does not fit."""
    import shapely

    def timed(need: float) -> tuple[float, LanePoint | None]:
        start = network.advance(route.start, along_m - need)
        if start is None:
            return math.inf, None
        ahead = shapely.LineString(Route(start, route.turns).polyline(network, need + 5.0))
        if ahead.distance(crossing) > 1.0:
            return math.inf, start
        to_m = ahead.project(crossing)
        return to_m / speed + bend_delay_s(ahead, to_m, speed), start

    here_s = along_m / speed + bend_delay_s(line, along_m, speed)
    if here_s > time_s + 0.5 / speed:
        raise DoesNotFit(
            f"criticality.paths_cross: at {speed:.1f} m/s the actor on road {route.start.road_id} lane {route.start.lane_id} needs "
            f"{here_s:.1f} s to the crossing from where it is placed, more than its {time_s:.1f} s; make arrive_s longer",
            pos,
        )
    if here_s >= time_s - 0.02:  # within the junction: move it forward at constant speed
        need_m = along_m - (here_s - time_s) * speed
        start = network.advance(route.start, along_m - need_m)
        return need_m, start if start is not None else route.start
    lo, hi = along_m, along_m + (time_s - here_s) * speed  # bends behind the placed point only add time: <= hi
    need_m, (t_s, start) = hi, timed(hi)
    for _ in range(12):
        if abs(t_s - time_s) < 0.02:
            break
        if t_s > time_s:
            hi = need_m
        else:
            lo = need_m
        need_m = (lo + hi) / 2
        t_s, start = timed(need_m)
    if start is None or abs(t_s - time_s) >= 0.1:
        raise DoesNotFit(
            f"criticality.paths_cross: the actor on road {route.start.road_id} lane {route.start.lane_id} cannot start "
            f"{need_m:.1f} m before the crossing: its lane ends, or it is behind another junction from which its route "
            f"does not lead to the crossing", pos)  # fmt: skip
    return need_m, start


def solve_crossing(
    network: RoadNetwork,
    route: Route,
    ego_length_m: float,
    ego_speed_mps: float,
    crosser_xy: tuple[float, float],
    heading_deg: float,
    crosser_speed_mps: float,
    ttc_s: float,
    pos: SourcePos,
) -> Crossing:
    if ego_speed_mps <= 0 or crosser_speed_mps <= 0:
        raise InputError("criticality.conflict needs the ego and the crosser moving (speed_mps > 0)", pos)
    d = unit(heading_deg)
    ego = route.start
    # Newton on u (metres along the ego's lane) so that the lane point lies on the crossing path;
    # each step advances from the last point by the correction, so the walk along the lane is short.
    if route.turns:  # a turning ego: the first metre of its route where the path crosses
        u = _first_crossing_m(route.polyline(network), crosser_xy, d)
        point = None if u is None else network.advance(ego, u, route.turns)
    else:
        t0 = unit(ego.yaw_deg)
        u = (crosser_xy[0] - ego.x_m) * t0[0] + (crosser_xy[1] - ego.y_m) * t0[1]
        point = network.advance(ego, u)
    for _ in range(NEWTON_STEPS):
        if point is None:
            raise DoesNotFit("criticality.conflict: the crosser's path does not meet the ego's lane ahead of the ego", pos)
        f = cross2(d, (point.x_m - crosser_xy[0], point.y_m - crosser_xy[1]))
        if abs(f) < 1e-4:  # 0.1 mm: carla's float32 positions resolve no finer
            break
        slope = cross2(d, unit(point.yaw_deg))
        if abs(slope) < 0.1:
            raise DoesNotFit("criticality.conflict: the crosser moves along the ego's lane, not across it", pos)
        u -= f / slope
        point = network.advance(point, -f / slope)
    if point is None:
        raise DoesNotFit("criticality.conflict: the crosser's path does not meet the ego's lane ahead of the ego", pos)
    to_path = (point.x_m - crosser_xy[0]) * d[0] + (point.y_m - crosser_xy[1]) * d[1]
    sin_angle = abs(cross2(d, unit(point.yaw_deg)))
    entry_m = to_path - (point.width_m / 2) / sin_angle
    if to_path <= 0:
        raise DoesNotFit("criticality.conflict: the crosser walks away from the ego's lane", pos)
    if entry_m < 0:
        raise DoesNotFit("criticality.conflict: the crosser starts inside the ego's lane; place it beside the lane", pos)
    if not route.turns:
        _check_straight_approach(network, point, ttc_s * ego_speed_mps + ego_length_m / 2, pos)
    ego_time_s = (u - ego_length_m / 2) / ego_speed_mps
    start_s = ego_time_s - ttc_s - entry_m / crosser_speed_mps
    if start_s < 0:
        need_m = (ttc_s + entry_m / crosser_speed_mps) * ego_speed_mps + ego_length_m / 2
        raise DoesNotFit(
            f"criticality: ttc_s = {ttc_s:.2f} s cannot be met: the ego ({ego_speed_mps:.1f} m/s) is {u:.1f} m from the crossing "
            f"path but needs at least {need_m:.1f} m (the crosser takes {entry_m / crosser_speed_mps:.2f} s to reach its lane); "
            "start the ego further back or the crossing further ahead",
            pos,
        )
    return Crossing(start_s, point.x_m, point.y_m, u, entry_m)


BEND_OFFSET_M = 1.0  # how far the conflict point may lie off the ego's heading line when the crosser enters its lane


def _check_straight_approach(network: RoadNetwork, conflict: LanePoint, back_m: float, pos: SourcePos) -> None:
    """A straight-driving ego's ttc_s is a constant-velocity TTC (held heading): where its lane bends
    before the conflict point, the line along its heading from where it is when the crosser enters
    its lane (back_m before the point) must pass within BEND_OFFSET_M of the point, else the TTC
    it would measure is not the planned one (on a bend, the crossing does not fit)."""
    back = network.advance(conflict, -back_m)
    if back is None:
        return
    off = abs(cross2(unit(back.yaw_deg), (conflict.x_m - back.x_m, conflict.y_m - back.y_m)))
    if off > BEND_OFFSET_M:
        raise DoesNotFit(
            f"criticality.conflict: the ego's lane bends before the crossing point (x={conflict.x_m:.1f}, y={conflict.y_m:.1f}): "
            f"{off:.1f} m off its heading {back_m:.0f} m before it, so the planned TTC would not be measured", pos,
        )  # fmt: skip


def _first_crossing_m(polyline: list[tuple[float, float]], origin: tuple[float, float], d: tuple[float, float]) -> float | None:
    """Arc length (1 m samples) where the polyline first crosses the line through origin along d, ahead of origin."""
    sides = [cross2(d, (x - origin[0], y - origin[1])) for x, y in polyline]
    for k in range(len(polyline) - 1):
        if sides[k] == 0 or sides[k] * sides[k + 1] < 0:
            f = sides[k] / (sides[k] - sides[k + 1]) if sides[k] != sides[k + 1] else 0.0
            x = polyline[k][0] + f * (polyline[k + 1][0] - polyline[k][0])
            y = polyline[k][1] + f * (polyline[k + 1][1] - polyline[k][1])
            if (x - origin[0]) * d[0] + (y - origin[1]) * d[1] > 0:
                return k + f
    return None


def cut_in_offset_m(
    time_gap_s: float,
    ego_speed_mps: float,
    cutter_speed_mps: float,
    start_s: float,
    duration_s: float,
    ego_length_m: float,
    cutter_length_m: float,
    pos: SourcePos,
) -> float:
    """How far ahead of the ego (centre to centre, along the lane) the cutter must start."""
    if ego_speed_mps <= 0:
        raise InputError("criticality.cut_in needs the ego moving (speed_mps > 0)", pos)
    end_s = start_s + duration_s
    return time_gap_s * ego_speed_mps + (ego_length_m + cutter_length_m) / 2 - (cutter_speed_mps - ego_speed_mps) * end_s
