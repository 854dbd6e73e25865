"""Reference paths: lanes as numpy polylines sampled every metre, built once, looked up per tick.

Asking carla for waypoints costs ~10 us per metre, far too much for every actor every tick, so a
path is walked once with `RoadNetwork.advance` (exact metres along the lane centre, through
junctions by the actor's turns) and kept as arrays. Sample k sits at arc k * STEP_M; between
samples positions are interpolated linearly (1 m chords on a 7 m kerb radius are off by 2 cm),
and beyond either end a path runs on straight along its end segment.

A `PathBank` holds every path of an episode in one flat table, so one numpy expression answers
for all actors at once (`at`, `project`): the per-tick work does not grow with Python loops.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edgecase.plan.bend_speed import STEP_M, speed_envelope
from edgecase.roads import LanePoint, RoadNetwork, Turn

BACK_M = 20.0  # paths start this far behind their anchor, so actors just behind it project cleanly
EXTEND_M = 200.0  # past its last sample every path runs on straight this far (then stays put)
NEWTON_STEPS = 2  # refinements after a global search for the nearest sample (a first fix)


@dataclass(frozen=True, slots=True)
class JunctionSpan:
    """Where a path runs through a junction: entered at entry_m (the approach lane's end), left at exit_m."""

    junction_id: int
    entry_m: float
    exit_m: float
    approach: tuple[int, int]  # (road_id, lane_id) of the lane the path enters by
    connector: tuple[int, int]  # (road_id, lane_id) of the connecting lane it takes


@dataclass(frozen=True, eq=False)
class LanePath:
    """One polyline; arrays have one row per sample, arc_m = k * STEP_M.

    `anchor_m` is the arc of the lane point the path was built from; `lanes` holds each sample's
    (road_id, lane_id, s_m) so a lane change can ask the network for the lane beside any sample.
    """

    x_m: np.ndarray
    y_m: np.ndarray
    yaw_rad: np.ndarray  # unwrapped, so interpolation never jumps by 2 pi
    width_m: np.ndarray
    lanes: tuple[tuple[int, int, float], ...]  # empty for synthetic (straight) paths
    anchor_m: float
    reverse: bool = False
    spans: tuple[JunctionSpan, ...] = ()
    speed_cap_mps: np.ndarray = field(default=None)  # type: ignore[assignment]  # curvature envelope

    def __post_init__(self) -> None:
        if self.speed_cap_mps is None:
            object.__setattr__(self, "speed_cap_mps", speed_envelope(self.yaw_rad))

    def __len__(self) -> int:
        return len(self.x_m)

    @property
    def length_m(self) -> float:
        return (len(self) - 1) * STEP_M

    def at(self, arc_m: float) -> tuple[float, float, float]:
        """(x, y, yaw) at arc; beyond the ends, straight on along the end segment."""
        k = min(max(int(math.floor(arc_m / STEP_M)), 0), len(self) - 2)
        f = arc_m / STEP_M - k
        x = self.x_m[k] + f * (self.x_m[k + 1] - self.x_m[k])
        y = self.y_m[k] + f * (self.y_m[k + 1] - self.y_m[k])
        g = min(max(f, 0.0), 1.0)
        return float(x), float(y), float(self.yaw_rad[k] + g * (self.yaw_rad[k + 1] - self.yaw_rad[k]))

    def project(self, x_m: float, y_m: float) -> float:
        """The arc of the path point nearest to (x, y): a global search, for a first fix."""
        k = int(np.argmin((self.x_m - x_m) ** 2 + (self.y_m - y_m) ** 2))
        arc = k * STEP_M
        for _ in range(NEWTON_STEPS + 1):
            px, py, yaw = self.at(arc)
            arc += (x_m - px) * math.cos(yaw) + (y_m - py) * math.sin(yaw)
        return arc

    def lateral_m(self, x_m: float, y_m: float, arc_m: float) -> float:
        """Signed offset of (x, y) from the path at arc, positive to the right (CARLA's +y side)."""
        px, py, yaw = self.at(arc_m)
        return -(x_m - px) * math.sin(yaw) + (y_m - py) * math.cos(yaw)

    def lane_at(self, arc_m: float) -> tuple[int, int, float] | None:
        """(road_id, lane_id, s_m) of the sample at or after arc (None on synthetic paths)."""
        if not self.lanes:
            return None
        return self.lanes[min(max(int(math.ceil(arc_m / STEP_M - 1e-9)), 0), len(self.lanes) - 1)]

    def next_span(self, arc_m: float) -> JunctionSpan | None:
        """The first junction the path has not yet left at arc."""
        return next((span for span in self.spans if span.exit_m > arc_m), None)


def lane_path(network: RoadNetwork, start: LanePoint, ahead_m: float, turns: Sequence[Turn] = (),
              reverse: bool = False, back_m: float = BACK_M) -> LanePath:
    """The lane's centre from back_m behind `start` to ahead_m after it, along the direction of
    travel (against it with `reverse`: a wrong-way driver), taking `turns` at junction branches.
    It stops early where the lane ends or a wanted turn does not exist."""
    behind = _walk(network, start, back_m, (), not reverse)
    ahead = _walk(network, start, ahead_m, turns, reverse)
    points = behind[::-1] + [start] + ahead
    flip = math.pi if reverse else 0.0
    yaw = np.unwrap(np.radians([p.yaw_deg for p in points]) + flip)
    dead_end = len(ahead) < int(ahead_m / STEP_M)
    return LanePath(
        x_m=np.array([p.x_m for p in points]),
        y_m=np.array([p.y_m for p in points]),
        yaw_rad=yaw,
        width_m=np.array([p.width_m for p in points]),
        lanes=tuple((p.road_id, p.lane_id, p.s_m) for p in points),
        anchor_m=len(behind) * STEP_M,
        reverse=reverse,
        spans=() if reverse else _spans(network, points),
        speed_cap_mps=speed_envelope(yaw, dead_end),
    )


def _walk(network: RoadNetwork, start: LanePoint, distance_m: float, turns: Sequence[Turn], backwards: bool) -> list[LanePoint]:
    return network.walk(start, distance_m, turns, STEP_M, backwards)


def _spans(network: RoadNetwork, points: list[LanePoint]) -> tuple[JunctionSpan, ...]:
    """Junction runs along the samples; the entry is placed at the approach lane's exact end."""
    spans = []
    k, n = 1, len(points)
    while k < n:
        if points[k].junction_id is None or points[k - 1].junction_id is not None:
            k += 1
            continue
        before, inside = points[k - 1], points[k]
        end = k
        while end < n and points[end].junction_id == inside.junction_id:
            end += 1
        road = network.xodr.roads[before.road_id]
        to_end_m = road.length_m - before.s_m if before.lane_id < 0 else before.s_m
        entry = (k - 1) * STEP_M + min(max(to_end_m, 0.0), STEP_M)
        spans.append(JunctionSpan(inside.junction_id, entry, end * STEP_M, (before.road_id, before.lane_id), (inside.road_id, inside.lane_id)))
        k = end
    return tuple(spans)


def straight_path(x_m: float, y_m: float, yaw_rad: float, ahead_m: float, width_m: float = 1.0) -> LanePath:
    """A straight line from (x, y) along yaw: where a crossing walker goes, or a car off the map."""
    arc = np.arange(int(ahead_m / STEP_M) + 2) * STEP_M
    n = len(arc)
    return LanePath(
        x_m=x_m + arc * math.cos(yaw_rad), y_m=y_m + arc * math.sin(yaw_rad), yaw_rad=np.full(n, yaw_rad),
        width_m=np.full(n, width_m), lanes=(), anchor_m=0.0,
    )  # fmt: skip


@dataclass
class _Packed:
    """Every path's samples in one flat table (path p's sample k in row p * size + k) of
    (x, y, cos yaw, sin yaw), with each row's step to the next, so a lookup is two `take`s and a
    multiply-add. Paths are padded to one size by running on straight along their last heading
    (for EXTEND_M at least), so no lookup needs clamping on the way out."""

    size: int
    table: np.ndarray  # (paths * size, 4)
    delta: np.ndarray  # (paths * size, 4): row k+1 - row k
    width: np.ndarray  # (paths * size,)
    cap: np.ndarray  # (paths * size,)


def _pack(paths: list[LanePath]) -> _Packed:
    paths = paths or [straight_path(0.0, 0.0, 0.0, STEP_M)]  # a stand-in: rows without a path look up path 0
    size = max(len(p) for p in paths) + int(EXTEND_M / STEP_M)
    table = np.empty((len(paths), size, 4))
    for row, p in enumerate(paths):
        n = len(p)
        c, s = np.cos(p.yaw_rad), np.sin(p.yaw_rad)
        on = np.arange(1, size - n + 1) * STEP_M  # the straight run past the end
        table[row, :n] = np.stack([p.x_m, p.y_m, c, s], axis=1)
        table[row, n:] = np.stack([p.x_m[-1] + on * c[-1], p.y_m[-1] + on * s[-1], np.full_like(on, c[-1]), np.full_like(on, s[-1])], axis=1)
    delta = np.zeros_like(table)
    delta[:, :-1] = np.diff(table, axis=1)
    delta[:, -1, :2] = delta[:, -2, :2]

    def edge(values: list[np.ndarray]) -> np.ndarray:
        return np.stack([np.pad(v, (0, size - len(v)), mode="edge") for v in values]).ravel()

    return _Packed(size, table.reshape(-1, 4), delta.reshape(-1, 4), edge([p.width_m for p in paths]), edge([p.speed_cap_mps for p in paths]))


class PathBank:
    """The episode's paths by index, with vectorized lookups over (path index, arc) arrays."""

    def __init__(self) -> None:
        self.paths: list[LanePath] = []
        self._packed: _Packed | None = None
        self._lanes: dict[tuple, list[tuple[int, float]]] = {}  # lane key -> (path, arc it serves to)

    def add(self, path: LanePath) -> int:
        self.paths.append(path)
        self._packed = None
        return len(self.paths) - 1

    def lane(self, network: RoadNetwork, start: LanePoint, ahead_m: float, turns: Sequence[Turn] = (), reverse: bool = False) -> tuple[int, float]:
        """(path index, arc of start) of a lane path reaching ahead_m past start, shared where it
        can be: the cars of a row on one lane get one path (build the rearmost's first)."""
        key = (start.road_id, start.lane_id, reverse, tuple(turns))
        for index, reach_m in self._lanes.get(key, ()):
            path = self.paths[index]
            arc = path.project(start.x_m, start.y_m)
            before_turns = not turns or not path.spans or arc < path.spans[0].entry_m
            if 0.0 <= arc and arc + ahead_m <= reach_m and before_turns and abs(path.lateral_m(start.x_m, start.y_m, arc)) < 0.3:
                return index, arc
        path = lane_path(network, start, ahead_m, turns, reverse)
        index = self.add(path)
        ended_early = path.length_m < path.anchor_m + ahead_m - STEP_M  # the lane ends: no longer path exists
        self._lanes.setdefault(key, []).append((index, math.inf if ended_early else path.anchor_m + ahead_m))
        return index, path.anchor_m

    def __getitem__(self, index: int) -> LanePath:
        return self.paths[index]

    @property
    def packed(self) -> _Packed:
        """Rebuilt only when a path was added (at init, and when a lane change needs a new lane)."""
        if self._packed is None:
            self._packed = _pack(self.paths)
        return self._packed

    def at(self, path: np.ndarray, arc_m: np.ndarray) -> tuple[np.ndarray, ...]:
        """(x, y, cos yaw, sin yaw, row) for arrays of path indices and arcs (broadcast together);
        row (into the packed tables: width, cap) is the sample just before the point. Before a
        path's start, and EXTEND_M past its end, positions run on along the end segments."""
        p = self.packed
        u = arc_m * (1.0 / STEP_M) if STEP_M != 1.0 else arc_m
        k = u.astype(np.intp)  # truncation: negative arcs land on 0 below
        np.maximum(k, 0, out=k)
        np.minimum(k, p.size - 2, out=k)
        row = path * p.size + k
        out = p.table.take(row, axis=0)
        out += (u - k)[..., None] * p.delta.take(row, axis=0)
        return out[..., 0], out[..., 1], out[..., 2], out[..., 3], row

    def project(self, path: np.ndarray, x_m: np.ndarray, y_m: np.ndarray, guess_m: np.ndarray, steps: int = 1) -> tuple[np.ndarray, tuple, np.ndarray]:
        """Arcs of points on paths by Newton steps from `guess_m` (one is enough from last tick's
        arc); also the lookup at the last step's arc (x, y, cos, sin, index) and that step's
        size, which stays large only where the point is far off the path and did not converge."""
        arc = guess_m
        for _ in range(steps):
            look = self.at(path, arc)
            step = (x_m - look[0]) * look[2] + (y_m - look[1]) * look[3]
            arc = arc + step
        return arc, look, step


def shared_lane_paths(bank: PathBank, network: RoadNetwork, starts: Sequence[tuple[LanePoint, float, tuple[Turn, ...]]]) -> list[tuple[int, float]]:
    """(path, arc) for each (start, ahead_m, turns): starts on one lane with one route share a
    path, built once from the rearmost start far enough for every one of them."""

    def travel_m(p: LanePoint) -> float:  # position along the direction of travel (lanes < 0 run along s)
        return p.s_m if p.lane_id < 0 else -p.s_m

    groups: dict[tuple, list[int]] = {}
    for n, (start, _, turns) in enumerate(starts):
        groups.setdefault((start.road_id, start.lane_id, tuple(turns)), []).append(n)
    for members in groups.values():
        rear = min(members, key=lambda n: travel_m(starts[n][0]))
        base = travel_m(starts[rear][0])
        reach = max(travel_m(starts[n][0]) - base + starts[n][1] for n in members)
        bank.lane(network, starts[rear][0], reach, starts[rear][2])
    return [bank.lane(network, start, ahead, turns) for start, ahead, turns in starts]
