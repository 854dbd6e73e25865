"""Metrics of a trace: per-tick series between actors and against the map, and an episode summary.

Everything is a pure function of a Trace (plus the plan and the RoadNetwork where the map matters),
so the embedded backend and CARLA are measured alike. Boxes face the actor's yaw, with the trace's
per-tick length and width, centred on its (x, y) moved box_offset_m to its right (an opening door
widens a box on the door's side only). While an
actor is inactive (not in the world) it has no box: distances and TTCs with it are inf, and its
boolean series are False.

Definitions (each function's docstring says more):
- collision: the two boxes overlap or touch (separating axis test, geometry.overlaps);
- TTC: constant-velocity time to collision, exact by swept separating axes, horizon 10 s;
- PET: post-encroachment time at the overlap of the two paths' footprints, to one tick;
- lane departure: a box corner further from the lane's centre line than half its width;
- off road: the box centre outside driving, parking, shoulder and biking lanes;
- red light: the box centre enters a junction while a light governing the lane it came by is Red.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edgecase.plan import EpisodePlan
from edgecase.roads.junctions import TRAFFIC_LIGHT
from edgecase.roads.values import LaneKind, LanePoint
from edgecase.sim import geometry
from edgecase.sim.state import ActorStates
from edgecase.sim.trace import LIGHT_COLORS, Trace

if TYPE_CHECKING:
    from edgecase.roads import RoadNetwork

TTC_HORIZON_S = 10.0  # beyond this, a constant-velocity extrapolation says little
DRIVABLE = (LaneKind.DRIVING, LaneKind.PARKING, LaneKind.SHOULDER, LaneKind.BIKING)
RED = LIGHT_COLORS.index("Red")
JUNCTION_REACH_M = 100.0  # lane lookups only this near a light-ruled junction (town junction lanes lie within 30 m)
_KIND_NAMES = frozenset(kind.value for kind in LaneKind)
_ON_MAP = ("car", "van", "truck", "bus", "motorcycle", "bicycle")  # the classes map metrics apply to


# --- boxes and motion ------------------------------------------------------------------------


def boxes(trace: Trace, i: int | slice = slice(None)) -> np.ndarray:
    """Corners of actor i's box at every tick, (T, 4, 2); all actors (T, N, 4, 2) by default."""
    return geometry.corners(trace.x_m[:, i], trace.y_m[:, i], trace.yaw_rad[:, i], trace.length_m[:, i], trace.width_m[:, i],
                            trace.box_offset_m[:, i])


def velocity_mps(trace: Trace, i: int | slice = slice(None)) -> np.ndarray:
    """(T, 2) world-frame velocity of actor i, speed along the heading (the state has no
    sideslip); all actors (T, N, 2) by default."""
    yaw = trace.yaw_rad[:, i]
    return trace.speed_mps[:, i][..., None] * np.stack([np.cos(yaw), np.sin(yaw)], axis=-1)


def _both(trace: Trace, i: int, j: int) -> np.ndarray:
    return trace.active[:, i].astype(bool) & trace.active[:, j].astype(bool)


# --- between two actors --------------------------------------------------------------------------


def collision_pairs(actors: ActorStates, active: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Pairs (i < j) of active actors whose boxes overlap or touch at this tick, sorted.

    Bounding circles prefilter the pairs (an N x N distance check), so only near pairs get the
    separating axis test: 100 actors cost well under a millisecond.
    """
    mask = actors.active if active is None else active
    return _pairs(actors.x_m, actors.y_m, actors.yaw_rad, actors.length_m, actors.width_m, mask, actors.box_offset_m)


def _pairs(x, y, yaw, length, width, active, offset=0.0) -> list[tuple[int, int]]:
    x, y, active = np.asarray(x, dtype=float), np.asarray(y, dtype=float), np.asarray(active, dtype=bool)
    radius = np.hypot(length, width) / 2 + np.abs(offset)  # about (x, y): the box may sit off it
    near = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :]) <= radius[:, None] + radius[None, :]
    near &= active[:, None] & active[None, :]
    i, j = np.nonzero(np.triu(near, k=1))
    if len(i) == 0:
        return []
    box = geometry.corners(x, y, yaw, length, width, offset)
    hit = geometry.overlaps(box[i], box[j])
    return [(int(a), int(b)) for a, b in zip(i[hit], j[hit])]


def collisions(trace: Trace, i: int, j: int) -> np.ndarray:
    """(T,) bool: the boxes of i and j overlap or touch."""
    return geometry.overlaps(boxes(trace, i), boxes(trace, j)) & _both(trace, i, j)


def any_collision(trace: Trace, i: int) -> np.ndarray:
    """(T,) bool: actor i's box overlaps or touches any other active actor's."""
    others = [k for k in range(len(trace.names)) if k != i]
    if not others:
        return np.zeros(len(trace.t_s), dtype=bool)
    hit = geometry.overlaps(boxes(trace, i)[:, None], boxes(trace, others))
    hit &= trace.active[:, others].astype(bool)
    return hit.any(axis=1) & trace.active[:, i].astype(bool)


def distance_m(trace: Trace, i: int, j: int) -> np.ndarray:
    """(T,) box-to-box distance, 0 while they overlap, inf while either is inactive."""
    return np.where(_both(trace, i, j), geometry.box_distance_m(boxes(trace, i), boxes(trace, j)), np.inf)


def ttc_s(trace: Trace, i: int, j: int, horizon_s: float = TTC_HORIZON_S) -> np.ndarray:
    """(T,) constant-velocity time-to-collision: at each tick, how long until the two boxes would
    first overlap if each kept its velocity vector and heading; 0 while they overlap, inf if not
    within `horizon_s` (never closing, passing clear, or too far) or while either is inactive.

    Computed exactly (geometry.time_to_overlap_s, swept separating axes), not by sampling: the
    only error is floating point. Headings are held, so a turning actor's TTC is its tangent's.
    """
    rel = velocity_mps(trace, j) - velocity_mps(trace, i)
    ttc = geometry.time_to_overlap_s(boxes(trace, i), boxes(trace, j), rel, horizon_s)
    return np.where(_both(trace, i, j), ttc, np.inf)


def thw_s(trace: Trace, follower: int, leader: int) -> np.ndarray:
    """(T,) time headway: the bumper-to-bumper gap to `leader` over the follower's speed, at ticks
    where the leader is ahead of the follower and overlaps its width (in its path); inf otherwise.

    This is the quantity a cut-in's `time_gap_s` targets and drivers' two-second rule speaks of.
    """
    yaw = trace.yaw_rad[:, follower]
    dx = trace.x_m[:, leader] - trace.x_m[:, follower]
    dy = trace.y_m[:, leader] - trace.y_m[:, follower]
    ahead_m = dx * np.cos(yaw) + dy * np.sin(yaw)
    aside_m = -dx * np.sin(yaw) + dy * np.cos(yaw)
    gap_m = ahead_m - (trace.length_m[:, follower] + trace.length_m[:, leader]) / 2
    in_path = (ahead_m > 0) & (np.abs(aside_m) < (trace.width_m[:, follower] + trace.width_m[:, leader]) / 2)
    speed = trace.speed_mps[:, follower]
    with np.errstate(divide="ignore", invalid="ignore"):
        thw = np.where(in_path & (speed > 0.1), np.maximum(gap_m, 0.0) / speed, np.inf)
    return np.where(_both(trace, follower, leader), thw, np.inf)


@dataclass(frozen=True, slots=True)
class Encroachment:
    """Post-encroachment at the conflict area of two paths: `first` left it at exit_t_s, the
    other entered it at entry_t_s. pet_s is inf (and the times None) where the paths never meet."""

    pet_s: float
    first: int | None = None
    exit_t_s: float | None = None
    entry_t_s: float | None = None


def post_encroachment(trace: Trace, i: int, j: int) -> Encroachment:
    """The smallest PET over the conflict areas of actors i and j.

    The conflict area is the intersection of the two footprints (the union of each actor's boxes
    over its active ticks); each connected part is one conflict area. At each part, the actor
    that occupies it first (its box's interior meets the part) leaves it at the first tick it is
    out again, the other enters at its first occupied tick after that; PET = entry - exit, 0 if
    they occupy it at the same tick. Times are tick times, so PET is accurate to one step.
    """
    import shapely  # lazily: shapely's import costs ~75 ms, and most callers never need it

    polys_i, polys_j = shapely.polygons(boxes(trace, i)), shapely.polygons(boxes(trace, j))
    act_i, act_j = trace.active[:, i].astype(bool), trace.active[:, j].astype(bool)
    if not (act_i.any() and act_j.any()):
        return Encroachment(math.inf)
    conflict = shapely.intersection(shapely.union_all(polys_i[act_i]), shapely.union_all(polys_j[act_j]))
    best = Encroachment(math.inf)
    for part in shapely.get_parts(conflict):
        if part.area <= 1e-9:
            continue  # paths that only touch along a line share no area
        occ_i = act_i & shapely.intersects(part, polys_i) & ~shapely.touches(part, polys_i)
        occ_j = act_j & shapely.intersects(part, polys_j) & ~shapely.touches(part, polys_j)
        found = _encroachment(trace.t_s, occ_i, occ_j, i, j)
        if found.pet_s < best.pet_s:
            best = found
    return best


def _encroachment(t_s: np.ndarray, occ_i: np.ndarray, occ_j: np.ndarray, i: int, j: int) -> Encroachment:
    if not (occ_i.any() and occ_j.any()):
        return Encroachment(math.inf)
    if (occ_i & occ_j).any():
        k = int(np.argmax(occ_i & occ_j))
        return Encroachment(0.0, None, float(t_s[k]), float(t_s[k]))
    first, occ_a, occ_b = (i, occ_i, occ_j) if np.argmax(occ_i) < np.argmax(occ_j) else (j, occ_j, occ_i)
    entry = int(np.argmax(occ_b))
    exit_ = int(np.nonzero(occ_a[:entry])[0][-1]) + 1  # the first tick out after its last visit before
    return Encroachment(float(t_s[entry] - t_s[exit_]), first, float(t_s[exit_]), float(t_s[entry]))


def pet_s(trace: Trace, i: int, j: int) -> float:
    """Post-encroachment time of i and j in seconds (inf if their paths share no area)."""
    return post_encroachment(trace, i, j).pet_s


# --- one actor -----------------------------------------------------------------------------------


def decel_mps2(trace: Trace, i: int) -> np.ndarray:
    """(T,) braking deceleration: the applied acceleration's negative part, 0 while inactive."""
    return np.where(trace.active[:, i].astype(bool), np.maximum(-trace.accel_mps2[:, i], 0.0), 0.0)


def lane_departure(trace: Trace, i: int, plan: EpisodePlan, network: RoadNetwork) -> np.ndarray:
    """(T,) bool: a corner of the box lies further from the lane's centre line than half its width.

    The lane is the one of the actor's starting kind (the plan's lane anchor: driving, parking,
    ...) nearest the box centre, as carla projects it; a car that drifts onto the shoulder is
    thereby measured against the driving lane it left. Any lane change counts (deliberate ones
    too), and ticks with the centre inside a junction do not (no lane lines there). The offset
    is taken across the lane's direction at the projected point, which on a bend of radius R
    misjudges a corner d metres ahead by about d^2 / 2R (8 cm for a car on a 35 m bend).
    """
    anchor = plan.actors[i].lane
    kind = LaneKind(anchor.kind) if anchor is not None and anchor.kind in _KIND_NAMES else None
    active = trace.active[:, i].astype(bool)
    xy = zip(trace.x_m[:, i], trace.y_m[:, i], active)
    lanes = [network.nearest(float(x), float(y), kind) if a else None for x, y, a in xy]
    no_lane = active & np.array([lane is None for lane in lanes])
    counted = active & np.array([lane is not None and lane.junction_id is None for lane in lanes])
    nan = (math.nan, math.nan, 0.0, 0.0)
    lane_x, lane_y, yaw_deg, width = np.array([(p.x_m, p.y_m, p.yaw_deg, p.width_m) if p else nan for p in lanes]).T
    corners = boxes(trace, i)  # (T, 4, 2); across = the lane's right vector (-sin, cos) at the lane point
    yaw = np.radians(yaw_deg)[:, None]
    across = (corners[..., 0] - lane_x[:, None]) * -np.sin(yaw) + (corners[..., 1] - lane_y[:, None]) * np.cos(yaw)
    with np.errstate(invalid="ignore"):
        outside = np.abs(across).max(axis=1) > width / 2 + 1e-6
    return no_lane | (counted & outside)


def off_road(trace: Trace, i: int, network: RoadNetwork) -> np.ndarray:
    """(T,) bool: the box centre is outside every driving, parking, shoulder and biking lane
    (a point on a lane's edge is on it). Walkers on sidewalks are 'off road' by this definition."""
    import shapely

    x, y = trace.x_m[:, i], trace.y_m[:, i]
    on = np.zeros(len(trace.t_s), dtype=bool)
    for kind in DRIVABLE:
        on |= shapely.intersects_xy(network.area(kind), x, y)
    return ~on & trace.active[:, i].astype(bool)


# --- traffic lights ------------------------------------------------------------------------------


def governing_lights(network: RoadNetwork, road_id: int, lane_id: int) -> frozenset[int]:
    """The traffic lights (OpenDRIVE signal ids) that rule a lane: a light, or a <signalReference>
    to it, on that road whose <validity> covers the lane (no validity: every lane of the road).

    This is how both kinds of map place them: roadgen's builtin maps put the light on the approach
    road with a validity on its entering lanes, CARLA's towns put references on the junction's
    connecting roads. Signal orientation is not read: a validity names lanes of one direction.
    """
    signals = network.xodr.signals
    lights = {s.id for s in signals if s.type == TRAFFIC_LIGHT and not s.is_reference and s.id.lstrip("-").isdigit()}
    found = set()
    for s in signals:
        if s.id in lights and s.road_id == road_id:
            if not s.validity or any(min(v) <= lane_id <= max(v) for v in s.validity):
                found.add(int(s.id))
    return frozenset(found)


def _junction_lane(network: RoadNetwork, x_m: float, y_m: float) -> LanePoint | None:
    """The driving lane holding the point (centre within half its width), or None off driving lanes."""
    lane = network.nearest(x_m, y_m, LaneKind.DRIVING)
    if lane is None or math.hypot(x_m - lane.x_m, y_m - lane.y_m) > lane.width_m / 2 + 1e-6:
        return None
    return lane


def ran_red_light(trace: Trace, i: int, network: RoadNetwork) -> np.ndarray:
    """(T,) bool, True at each tick where the actor's centre entered a junction on red.

    Entering: at tick k the centre is on a junction's driving lane and at tick k-1 it was not in
    that junction. The lights that rule the entry are those governing the lane it came by (tick
    k-1) or the connecting lane it entered (tick k) (governing_lights); it ran a red light when
    any of them that the trace records is Red at tick k. An entry no light governs (an
    unsignalized approach) is never a violation. Yellow is not Red (as CARLA's criterion).
    """
    out = np.zeros(len(trace.t_s), dtype=bool)
    index = {light: n for n, light in enumerate(trace.light_ids)}
    active = trace.active[:, i].astype(bool)
    centres = np.array([(j.x_m, j.y_m) for j in network.junctions() if j.signalized]).reshape(-1, 2)
    x, y = trace.x_m[:, i], trace.y_m[:, i]
    near = np.hypot(x[:, None] - centres[:, 0], y[:, None] - centres[:, 1]).min(axis=1, initial=np.inf) < JUNCTION_REACH_M
    if not index or not (active & near).any():
        return out
    lanes = [_junction_lane(network, float(xk), float(yk)) if a and n else None for xk, yk, a, n in zip(x, y, active, near)]
    for k in range(1, len(lanes)):
        now, before = lanes[k], lanes[k - 1]
        if now is None or now.junction_id is None or not active[k - 1]:
            continue
        if before is not None and before.junction_id == now.junction_id:
            continue
        ruling = governing_lights(network, now.road_id, now.lane_id)
        if before is not None:
            ruling |= governing_lights(network, before.road_id, before.lane_id)
        out[k] = any(trace.light_codes[k, index[light]] == RED for light in ruling if light in index)
    return out


# --- the episode summary -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairMetrics:
    """The ego against one other actor; a time is when the minimum was reached (None: never)."""

    actors: tuple[str, str]
    min_ttc_s: float
    min_ttc_t_s: float | None
    min_distance_m: float
    min_distance_t_s: float | None


@dataclass(frozen=True, slots=True)
class Collision:
    actors: tuple[str, str]
    first_tick: int
    first_t_s: float


@dataclass(frozen=True, slots=True)
class ActorMetrics:
    """One actor's own measures. The map measures are checked only for vehicles that move
    (map_checked); for the others, and without a road network, they are None."""

    name: str
    max_decel_mps2: float
    map_checked: bool
    lane_departure_t_s: float | None = None  # first tick with a corner outside the lane
    off_road_t_s: float | None = None  # first tick with the centre off the drivable area
    red_light_t_s: tuple[float, ...] = ()  # each entry into a junction on red


@dataclass(frozen=True, slots=True)
class EpisodeMetrics:
    pairs: tuple[PairMetrics, ...]  # the ego with every other actor, plan order
    collisions: tuple[Collision, ...]  # every pair that ever touched, by first tick
    actors: tuple[ActorMetrics, ...]  # plan order

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types, units in the keys. inf (never on a collision course within the
        horizon, never closer) and 'never happened' times are written as null."""
        return {
            "pairs": [
                {"actors": list(p.actors), "min_ttc_s": _finite(p.min_ttc_s), "min_ttc_at_s": p.min_ttc_t_s,
                 "min_distance_m": _finite(p.min_distance_m), "min_distance_at_s": p.min_distance_t_s}
                for p in self.pairs
            ],
            "collisions": [
                {"actors": list(c.actors), "first_tick": c.first_tick, "first_t_s": c.first_t_s} for c in self.collisions
            ],
            "actors": [
                {"name": a.name, "max_decel_mps2": a.max_decel_mps2, "map_checked": a.map_checked,
                 "lane_departure_first_t_s": a.lane_departure_t_s, "off_road_first_t_s": a.off_road_t_s,
                 "red_light_t_s": list(a.red_light_t_s)}
                for a in self.actors
            ],
        }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _first_t_s(trace: Trace, series: np.ndarray) -> float | None:
    return float(trace.t_s[np.argmax(series)]) if series.any() else None


def episode_metrics(plan: EpisodePlan, trace: Trace, network: RoadNetwork | None = None) -> EpisodeMetrics:
    """The summary the episode records: ego pairs, every collision, each actor's own measures."""
    egos = [n for n, a in enumerate(plan.actors) if a.role == "ego"]
    pairs = tuple(pair for e in egos for pair in _ego_pairs(trace, e))
    actors = tuple(_actor(plan, trace, i, network) for i in range(len(trace.names)))
    return EpisodeMetrics(pairs, _collisions(trace), actors)


def _ego_pairs(trace: Trace, e: int) -> list[PairMetrics]:
    """ttc_s and distance_m of the ego against every actor at once: (T, N) arrays."""
    ego = boxes(trace, e)[:, None]
    ttc = geometry.time_to_overlap_s(ego, boxes(trace), velocity_mps(trace) - velocity_mps(trace, e)[:, None], TTC_HORIZON_S)
    dist = geometry.box_distance_m(ego, boxes(trace))
    both = trace.active.astype(bool) & trace.active[:, e, None].astype(bool)
    ttc, dist = np.where(both, ttc, np.inf), np.where(both, dist, np.inf)
    found = []
    for j in (j for j in range(len(trace.names)) if j != e):
        k_ttc, k_dist = int(np.argmin(ttc[:, j])), int(np.argmin(dist[:, j]))
        found.append(PairMetrics(
            (trace.names[e], trace.names[j]),
            float(ttc[k_ttc, j]), float(trace.t_s[k_ttc]) if np.isfinite(ttc[k_ttc, j]) else None,
            float(dist[k_dist, j]), float(trace.t_s[k_dist]) if np.isfinite(dist[k_dist, j]) else None,
        ))
    return found


def _collisions(trace: Trace) -> tuple[Collision, ...]:
    """Every pair that touched and its first tick: collision_pairs over all ticks, a chunk of
    ticks at a time (the bounding-circle prefilter is a (chunk, N, N) array of ~1M cells)."""
    n = len(trace.names)
    chunk = max(1, 1_000_000 // max(1, n * n))
    upper = np.triu(np.ones((n, n), dtype=bool), k=1)
    radius = np.hypot(trace.length_m, trace.width_m) / 2 + np.abs(trace.box_offset_m)
    active = trace.active.astype(bool)
    box = boxes(trace)
    first: dict[tuple[int, int], int] = {}
    for start in range(0, len(trace.t_s), chunk):
        rows = slice(start, start + chunk)
        dx = trace.x_m[rows, :, None] - trace.x_m[rows, None, :]
        dy = trace.y_m[rows, :, None] - trace.y_m[rows, None, :]
        reach = radius[rows, :, None] + radius[rows, None, :]
        near = (dx * dx + dy * dy <= reach * reach) & upper & active[rows, :, None] & active[rows, None, :]
        k, i, j = np.nonzero(near)  # ticks ascending, so the first setdefault per pair is its first tick
        if len(k):
            hit = geometry.overlaps(box[rows][k, i], box[rows][k, j])
            for tick, a, b in zip(k[hit] + start, i[hit], j[hit]):
                first.setdefault((int(a), int(b)), int(tick))
    ordered = sorted(first.items(), key=lambda item: (item[1], item[0]))
    return tuple(Collision((trace.names[i], trace.names[j]), k, float(trace.t_s[k])) for (i, j), k in ordered)


def _actor(plan: EpisodePlan, trace: Trace, i: int, network: RoadNetwork | None) -> ActorMetrics:
    name, decel = trace.names[i], float(decel_mps2(trace, i).max(initial=0.0))
    active = trace.active[:, i].astype(bool)
    moves = bool((trace.speed_mps[:, i][active] > 0).any())
    if network is None or not moves or plan.actors[i].actor_class not in _ON_MAP:
        return ActorMetrics(name, decel, map_checked=False)
    return ActorMetrics(
        name, decel, map_checked=True,
        lane_departure_t_s=_first_t_s(trace, lane_departure(trace, i, plan, network)),
        off_road_t_s=_first_t_s(trace, off_road(trace, i, network)),
        red_light_t_s=tuple(float(t) for t in trace.t_s[ran_red_light(trace, i, network)]),
    )
