"""Background traffic: lane-following vehicles at a given density around the ego, for any scenario.

`--traffic DENSITY` (vehicles per km of driving lane) adds vehicles to a compiled plan, after
every random draw of the scenario and with a random stream of its own
(`numpy.random.default_rng([seed, STREAM])`), so the scenario's actors, params and timing are the
same with and without it; the traffic actors come after every other actor (cargo included), ids
N+1.., names `traffic[k]`, role background, behavior `follow_lane` (IDM car-following, default
route straight through junctions, stopping at red lights).

Densities, per lane: the Highway Capacity Manual (TRB, HCM 6th ed., 2016, basic freeway segments)
puts the level-of-service limits at 11/18/26/35/45 pc/mi/ln (7/11/16/22/28 per km) for A-E,
capacity near 28 veh/km/ln and anything denser is congested (LOS F); jam density (stopped queues,
about 8 m per vehicle) is about 190 pc/mi/ln, ~120 veh/km/ln. So roughly: 5-15 light, 15-30
busy free-flow urban traffic, 30-60 dense, over 60 congested; the upper bound of MAX_DENSITY is a
standing queue (the spacing here never goes below a vehicle's length plus MIN_GAP_M, which caps
what is placed near 1000 / (4.8 + 2) ~ 145 veh/km).

Placement rule (one lane at a time, in (road, lane) order, s ascending):

* every driving lane outside junctions is a renewal process along s: vehicle centres are
  half a length + MIN_GAP_M + half the next length apart plus an exponential gap whose mean makes
  the mean spacing 1000 / DENSITY m (a Poisson process with a hard core); a blueprint (car 80%,
  van 12%, truck 8%, never an emergency vehicle) and a speed are drawn for every candidate, kept
  or not, so one rejection never shifts the next vehicle's draws;
* a candidate is kept only if its centre is within RADIUS_M of the ego's start, its lane is at
  least its width + 0.2 m wide, its box is outside every junction's area, does not touch another
  traffic vehicle's box (SPACING_M), is at least CLEAR_M from every scenario actor's box, and its
  lane does not end ahead (a merge lane: it would stop half in the next lane) within as far as
  traffic drives in the episode,
  and its centre is not on a scenario vehicle's corridor: the lane of each scenario vehicle (ego,
  adversaries, parked cars, ...) from BEHIND traffic's stopping distance + CLEAR_M behind it to
  as far as it can drive in the episode (its fastest speed x duration + CLEAR_M) ahead, along its
  route (turn / follow_lane route, wrong_way: backwards), and the same strip on the side a
  lane_change or pull_out moves it to; nor upstream of a point where its lane crosses a scenario
  vehicle's path or a `cross` path (at over CROSSING_DEG) by as far as traffic drives in the
  episode, so no traffic vehicle reaches a conflict point while the scenario plays. So traffic never stands between the ego and the edge case,
  never queues into a scenario vehicle's way, and never starts close enough to touch anyone;
* speeds: the ego's initial speed (URBAN_MPS if it starts below 3 m/s) x U(0.85, 1.05), lowered
  so the IDM gap to the next traffic vehicle ahead on the same lane is not under its time
  headway: v <= (gap - s0) / T.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator

import numpy as np
from shapely import LineString, Polygon, union_all

from edgecase.errors import InputError
from edgecase.plan.blueprints import ActorClass, Blueprint, catalog
from edgecase.plan.checks import footprint
from edgecase.plan.model import ActorPlan, BehaviorPlan, EpisodePlan, LaneAnchor, Pose, Size
from edgecase.roads import LaneKind, RoadNetwork
from edgecase.roads.values import LanePoint, LaneRef, Turn

STREAM = 0x7AFF1C  # the traffic's own random stream: numpy default_rng([seed, STREAM])
MAX_DENSITY = 150.0  # veh/km/ln: above jam density (~120); see the module docstring
RADIUS_M = 150.0  # traffic within this distance of the ego's start
CLEAR_M = 20.0  # no traffic box this close to a scenario actor's box at the start
MIN_GAP_M = 2.0  # bumper to bumper along a lane: the IDM jam distance s0
SPACING_M = 0.5  # least distance between two traffic boxes (other lanes, merges, curves)
URBAN_MPS = 11.1  # 40 km/h: the traffic's speed when the ego starts (nearly) standing
SPEED_SPREAD = (0.85, 1.05)  # traffic speed = base x U(...)
COMFORT_BRAKE_MPS2 = 3.0  # traffic's stopping distance base^2 / (2 b): the corridor behind a scenario vehicle
CORRIDOR_HALF_M = 1.5  # a traffic centre this close to a corridor's centre line is in that lane
STEP_M = 2.0  # lane centre lines are sampled at this step
TRACE_STEP_M = 5.0  # corridors are traced along lanes at this step (chord error 6 cm on a 50 m radius)
LANE_END_STEP_M = 10.0  # how finely a lane's end ahead is looked for
CROSS_M = 30.0  # a `cross` path: across any urban road
CROSSING_DEG = 25.0  # a lane meeting a path at a larger angle crosses it
MAX_CORRIDOR_M = 1000.0
CLASS_SHARES = ((ActorClass.CAR, 0.80), (ActorClass.VAN, 0.12), (ActorClass.TRUCK, 0.08))
IDM = {"time_headway_s": 1.5, "min_gap_m": MIN_GAP_M, "max_accel_mps2": 1.5, "comfort_decel_mps2": 2.0}  # follow_lane's defaults
LATERAL = ("lane_change", "pull_out")  # behaviors that move the actor into the lane on `direction`
NOT_DRIVEN = (ActorClass.PEDESTRIAN.value, ActorClass.PROP.value)  # no corridor for walkers and props


def check_density(value: float | None) -> None:
    """InputError (exit 2) for a density outside 0..MAX_DENSITY."""
    if value is not None and not (0.0 <= value <= MAX_DENSITY):  # also False for NaN
        raise InputError(f"--traffic {value:g} is outside 0..{MAX_DENSITY:g} vehicles per km of lane",
                         hint="free-flow urban traffic is about 10-30, congested over 60, a standing queue ~120")


def add_traffic(plan: EpisodePlan, network: RoadNetwork, density: float) -> EpisodePlan:
    """The plan with background traffic at `density` vehicles per km of driving lane appended."""
    traffic = traffic_actors(plan, network, density)
    return plan.model_copy(update={"actors": plan.actors + traffic}) if traffic else plan


def traffic_actors(plan: EpisodePlan, network: RoadNetwork, density: float) -> tuple[ActorPlan, ...]:
    check_density(density)
    if density <= 0.0:
        return ()
    rng = np.random.default_rng([plan.seed, STREAM])
    ego = plan.ego
    base_mps = ego.speed_mps if ego.speed_mps >= 3.0 else URBAN_MPS
    zone = _Zone(plan, network, base_mps)
    mean_spacing_m = 1000.0 / density
    placed: list[tuple[LanePoint, Blueprint, float, Polygon]] = []
    for ref in network.lanes(LaneKind.DRIVING):
        if ref.junction_id is not None:
            continue
        lane: list[tuple[LanePoint, Blueprint, float, Polygon]] = []
        for p, bp, speed in _candidates(network, ref.road_id, ref.lane_id, rng, mean_spacing_m, base_mps):
            if math.hypot(p.x_m - ego.pose.x_m, p.y_m - ego.pose.y_m) > RADIUS_M or p.junction_id is not None:
                continue
            if p.width_m < bp.width_m + 0.2:
                continue
            box = _box(p, bp)
            if zone.blocks(p, box) or _touches(box, placed + lane):
                continue
            if _lane_ends(network, p, zone.upstream_m):
                continue  # it would stop at the lane's end, half in the lane beside it
            lane.append((p, bp, speed, box))
        placed += _ordered(lane, ref.lane_id)
    first_id = len(plan.actors) + 1
    return tuple(_actor(first_id + k, k, p, bp, speed) for k, (p, bp, speed, _) in enumerate(placed))


def _candidates(network: RoadNetwork, road_id: int, lane_id: int, rng: np.random.Generator, mean_spacing_m: float,
                base_mps: float) -> Iterator[tuple[LanePoint, Blueprint, float]]:
    """The renewal process along the road's s (every draw made whether the candidate is kept or not)."""
    road = network.xodr.roads[road_id]
    bp = _blueprint(rng)
    s = rng.exponential(mean_spacing_m)
    while s <= road.length_m:
        speed = base_mps * rng.uniform(*SPEED_SPREAD)
        if lane_id in road.lane_ids_at(s):
            try:
                yield network.point(road_id, lane_id, s), bp, speed
            except InputError:
                pass
        nxt = _blueprint(rng)
        hard_m = bp.length_m / 2 + MIN_GAP_M + nxt.length_m / 2
        s += hard_m + rng.exponential(max(mean_spacing_m - hard_m, 1e-6))
        bp = nxt


def _lane_ends(network: RoadNetwork, p: LanePoint, distance_m: float) -> bool:
    """Does the lane end within distance_m ahead while the road goes on (a merge lane)? A lane
    that runs into the map's edge does not count: a vehicle stops there in its own lane."""
    q, done = p, 0.0
    while done < distance_m:
        nxt = network.advance(q, LANE_END_STEP_M)
        if nxt is None:
            road = network.xodr.roads[q.road_id]
            section = road.sections[-1] if q.lane_id < 0 else road.sections[0]  # where the road ends, in q's direction
            lane = section.lanes.get(q.lane_id)
            return lane is None or lane.type != LaneKind.DRIVING.value  # gone, or tapered into a shoulder: a lane that ends
        q, done = nxt, done + LANE_END_STEP_M
    return False


def _blueprint(rng: np.random.Generator) -> Blueprint:
    u = rng.random()
    k = rng.random()
    acc = 0.0
    for cls, share in CLASS_SHARES:
        acc += share
        if u < acc:
            break
    options = _pool(cls)
    return options[min(int(k * len(options)), len(options) - 1)]


@functools.lru_cache(maxsize=8)
def _pool(cls: ActorClass) -> tuple[Blueprint, ...]:
    return tuple(b for b in catalog().match("vehicle.*", classes={cls}) if b.special_type != "emergency")


def _box(p: LanePoint, bp: Blueprint) -> Polygon:
    yaw = math.radians(p.yaw_deg)
    fx, fy = math.cos(yaw), math.sin(yaw)
    hl, hw = bp.length_m / 2, bp.width_m / 2
    return Polygon([(p.x_m + a * hl * fx - b * hw * fy, p.y_m + a * hl * fy + b * hw * fx)
                    for a, b in ((1, 1), (1, -1), (-1, -1), (-1, 1))])


def _touches(box: Polygon, others: list[tuple[LanePoint, Blueprint, float, Polygon]]) -> bool:
    c = box.centroid
    for p, bp, _, other in others:
        if math.hypot(p.x_m - c.x, p.y_m - c.y) < 12.0 + bp.length_m and other.distance(box) < SPACING_M:
            return True
    return False


def _ordered(lane: list[tuple[LanePoint, Blueprint, float, Polygon]], lane_id: int) -> list[tuple[LanePoint, Blueprint, float, Polygon]]:
    """Speeds lowered so the IDM gap to the next vehicle ahead on the lane is at least v T + s0."""
    out = list(lane)
    forward = lane_id < 0  # OpenDRIVE: right lanes (negative ids) drive towards +s
    for i, (p, bp, speed, box) in enumerate(out):
        j = i + 1 if forward else i - 1
        if 0 <= j < len(out):
            q, qbp = out[j][0], out[j][1]
            gap = math.hypot(q.x_m - p.x_m, q.y_m - p.y_m) - bp.length_m / 2 - qbp.length_m / 2
            speed = min(speed, max(0.0, (gap - IDM["min_gap_m"]) / IDM["time_headway_s"]))
        out[i] = (p, bp, speed, box)
    return out


def _actor(number: int, k: int, p: LanePoint, bp: Blueprint, speed: float) -> ActorPlan:
    params = {"speed_mps": speed, **IDM, "route": ()}
    return ActorPlan(
        id=number, name=f"traffic[{k}]", role="background", blueprint=bp.id, actor_class=bp.actor_class.value,
        semantic_tag=int(bp.semantic_tag), size=Size(length_m=bp.length_m, width_m=bp.width_m, height_m=bp.height_m),
        wheelbase_m=bp.wheelbase_m, pose=Pose(x_m=p.x_m, y_m=p.y_m, z_m=p.z_m, yaw_deg=p.yaw_deg),
        lane=LaneAnchor(road_id=p.road_id, lane_id=p.lane_id, s_m=p.s_m, kind=p.kind.value if p.kind else None, width_m=p.width_m),
        speed_mps=speed, behaviors=(BehaviorPlan(name="follow_lane", params=params),),
    )  # fmt: skip


class _Zone:
    """Where traffic may not start: near a scenario actor, on a scenario vehicle's corridor, in a junction."""

    def __init__(self, plan: EpisodePlan, network: RoadNetwork, base_mps: float):
        self.network = network
        self.boxes = [footprint(a) for a in plan.actors if a.spawn == "start"]
        behind_m = base_mps**2 / (2 * COMFORT_BRAKE_MPS2) + CLEAR_M
        upstream_m = self.upstream_m = base_mps * SPEED_SPREAD[1] * plan.duration_s + CLEAR_M  # as far as traffic drives in the episode
        lines, paths = [], []
        for actor in plan.actors:
            own, ahead, lanes = _corridors(network, actor, plan.duration_s, behind_m)
            lines += own
            paths += [(ahead, lanes)] if ahead is not None else []
            paths += [(line, frozenset()) for line in _crossing(actor)]
        lines += _conflicts(network, paths, upstream_m)
        self.corridors = union_all([line.buffer(CORRIDOR_HALF_M) for line in lines]) if lines else None
        self.junctions = _junction_area(network)

    def blocks(self, p: LanePoint, box: Polygon) -> bool:
        if any(box.distance(other) < CLEAR_M for other in self.boxes):
            return True
        if self.corridors is not None and self.corridors.contains(box.centroid):
            return True
        return self.junctions is not None and box.intersects(self.junctions)


def _corridors(network: RoadNetwork, actor: ActorPlan, duration_s: float,
               behind_m: float) -> tuple[list[LineString], LineString | None, frozenset[tuple[int, int]]]:
    """The strips of lane a scenario vehicle drives in the episode (and the lane behind it); also
    the path ahead alone and the lanes it drives on."""
    lane = actor.lane
    if actor.actor_class in NOT_DRIVEN or actor.spawn != "start" or lane is None or lane.kind not in ("driving", "biking"):
        return [], None, frozenset()
    try:
        start = network.point(lane.road_id, lane.lane_id, lane.s_m)
    except InputError:
        return [], None, frozenset()
    names = [b.name for b in actor.behaviors]
    speeds = [actor.speed_mps] + [float(v) for b in actor.behaviors for k, v in b.params.items()
                                  if k == "speed_mps" and isinstance(v, (int, float))]
    ahead_m = min(max(speeds) * duration_s + CLEAR_M, MAX_CORRIDOR_M)
    sign = -1.0 if "wrong_way" in names else 1.0
    turns = tuple(Turn(t) for b in actor.behaviors for t in
                  ((b.params.get("direction"),) if b.name == "turn" else b.params.get("route") or ()) if t)
    visited: set[tuple[int, int]] = set()
    ahead = _trace(network, start, sign * ahead_m, turns, visited)
    traced = [(ahead, 1.0), (_trace(network, start, -sign * behind_m, ()), -1.0)]
    lines = [line for line, _ in traced if line is not None]
    for b in actor.behaviors:
        if b.name in LATERAL and b.params.get("direction") in ("left", "right"):
            offset = start.width_m * (1.0 if b.params["direction"] == "right" else -1.0)
            lines += [_shifted(line, way * offset) for line, way in traced if line is not None]  # behind: traced backwards
    return lines, ahead, frozenset(visited)


def _crossing(actor: ActorPlan) -> list[LineString]:
    """A walker's (or anyone's) `cross` path: CROSS_M along its crossing heading."""
    out = []
    for b in actor.behaviors:
        if b.name == "cross" and isinstance(b.params.get("heading_deg"), (int, float)):
            yaw = math.radians(float(b.params["heading_deg"]))
            x, y = actor.pose.x_m, actor.pose.y_m
            out.append(LineString([(x, y), (x + CROSS_M * math.cos(yaw), y + CROSS_M * math.sin(yaw))]))
    return out


def _conflicts(network: RoadNetwork, paths: list[tuple[LineString, frozenset[tuple[int, int]]]], upstream_m: float) -> list[LineString]:
    """Every lane that crosses a scenario actor's path (at more than CROSSING_DEG), from the
    crossing point back upstream_m against its direction of travel: traffic there would reach the
    crossing during the episode."""
    out = []
    for ref, line, points, xy in _centrelines(network):
        for path, own in paths:
            if (ref.road_id, ref.lane_id) in own or not line.intersects(path):
                continue
            hits = line.intersection(path)
            for hit in getattr(hits, "geoms", [hits]):
                if hit.is_empty:
                    continue
                c = hit.centroid
                p = points[int(np.argmin(np.hypot(xy[:, 0] - c.x, xy[:, 1] - c.y)))]
                along = path.project(c)
                a, b = path.interpolate(max(along - 1.0, 0.0)), path.interpolate(min(along + 1.0, path.length))
                heading = math.degrees(math.atan2(b.y - a.y, b.x - a.x))
                if abs((p.yaw_deg - heading + 180.0) % 360.0 - 180.0) < CROSSING_DEG:
                    continue  # the path's own lane (or one merging at a shallow angle)
                back = _trace(network, p, -upstream_m, ())
                out += [back] if back is not None else []
    return out


@functools.lru_cache(maxsize=16)
def _centrelines(network: RoadNetwork) -> tuple[tuple[LaneRef, LineString, tuple[LanePoint, ...], np.ndarray], ...]:
    """Every driving lane's centre line, in its direction of travel, sampled every STEP_M."""
    out = []
    for ref in network.lanes(LaneKind.DRIVING):
        road = network.xodr.roads[ref.road_id]
        n = max(int(road.length_m // STEP_M), 1)
        points = []
        for i in range(n + 1):
            s = min(i * STEP_M, road.length_m)
            if ref.lane_id in road.lane_ids_at(s):
                try:
                    points.append(network.point(ref.road_id, ref.lane_id, s))
                except InputError:
                    pass
        if ref.lane_id > 0:
            points.reverse()  # left lanes drive towards -s
        if len(points) > 1:
            xy = np.array([(q.x_m, q.y_m) for q in points])
            out.append((ref, LineString(xy), tuple(points), xy))
    return tuple(out)


def _trace(network: RoadNetwork, start: LanePoint, distance_m: float, turns: tuple[Turn, ...],
           visited: set[tuple[int, int]] | None = None) -> LineString | None:
    """The lane centre from start over distance_m (negative: backwards; whole TRACE_STEP_M steps,
    rounded up), taking `turns` at junctions as the simulation does (RoadNetwork.walk); the
    (road, lane) pairs it passes go into `visited`."""
    steps = math.ceil(abs(distance_m) / TRACE_STEP_M - 1e-9)
    points = [start] + network.walk(start, steps * TRACE_STEP_M, turns, TRACE_STEP_M, backwards=distance_m < 0)
    if visited is not None:
        visited.update((q.road_id, q.lane_id) for q in points)
    return LineString([(q.x_m, q.y_m) for q in points]) if len(points) > 1 else None


def _shifted(line: LineString, offset_m: float) -> LineString:
    """The line moved sideways by offset_m (positive: to the right of its direction, CARLA's frame)."""
    coords = list(line.coords)
    out = []
    for i, (x, y) in enumerate(coords):
        a, b = coords[max(i - 1, 0)], coords[min(i + 1, len(coords) - 1)]
        yaw = math.atan2(b[1] - a[1], b[0] - a[0])
        out.append((x - math.sin(yaw) * offset_m, y + math.cos(yaw) * offset_m))
    return LineString(out)


@functools.lru_cache(maxsize=16)
def _junction_area(network: RoadNetwork):
    """The union of every driving lane inside a junction (None without junctions)."""
    parts = [network.lane_polygon(r.road_id, r.lane_id) for r in network.lanes(LaneKind.DRIVING) if r.junction_id is not None]
    return union_all(parts) if parts else None
