"""The criticality solver: turn a target (time-to-conflict, time gap) into start times and positions.

Solved in closed form from constant-speed kinematics, so every seed meets the target instead
of a share of seeds found by rejection sampling. Both definitions are the ones users quote:

* conflict, `ttc_s`: when the crosser's centre enters the ego's lane, the ego's front bumper is
  `ttc_s` seconds (at its speed) from the crosser's path.
* cut-in, `time_gap_s`: when the cutter's lane change ends, the gap from the ego's front bumper
  to the cutter's rear bumper, over the ego's speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgecase.errors import InputError, SourcePos
from edgecase.roads import LanePoint, RoadNetwork

NEWTON_STEPS = 12


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


def solve_crossing(
    network: RoadNetwork,
    ego: LanePoint,
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
    # Newton on u (metres along the ego's lane) so that the lane point lies on the crossing path;
    # each step advances from the last point by the correction, so the walk along the lane is short.
    t0 = unit(ego.yaw_deg)
    u = (crosser_xy[0] - ego.x_m) * t0[0] + (crosser_xy[1] - ego.y_m) * t0[1]
    point = network.advance(ego, u)
    for _ in range(NEWTON_STEPS):
        if point is None:
            raise InputError("criticality.conflict: the crosser's path does not meet the ego's lane ahead of the ego", pos)
        f = cross2(d, (point.x_m - crosser_xy[0], point.y_m - crosser_xy[1]))
        if abs(f) < 1e-4:  # 0.1 mm: carla's float32 positions resolve no finer
            break
        slope = cross2(d, unit(point.yaw_deg))
        if abs(slope) < 0.1:
            raise InputError("criticality.conflict: the crosser moves along the ego's lane, not across it", pos)
        u -= f / slope
        point = network.advance(point, -f / slope)
    if point is None:
        raise InputError("criticality.conflict: the crosser's path does not meet the ego's lane ahead of the ego", pos)
    to_path = (point.x_m - crosser_xy[0]) * d[0] + (point.y_m - crosser_xy[1]) * d[1]
    sin_angle = abs(cross2(d, unit(point.yaw_deg)))
    entry_m = to_path - (point.width_m / 2) / sin_angle
    if to_path <= 0:
        raise InputError("criticality.conflict: the crosser walks away from the ego's lane", pos)
    if entry_m < 0:
        raise InputError("criticality.conflict: the crosser starts inside the ego's lane; place it beside the lane", pos)
    ego_time_s = (u - ego_length_m / 2) / ego_speed_mps
    start_s = ego_time_s - ttc_s - entry_m / crosser_speed_mps
    if start_s < 0:
        need_m = (ttc_s + entry_m / crosser_speed_mps) * ego_speed_mps + ego_length_m / 2
        raise InputError(
            f"criticality: ttc_s = {ttc_s:.2f} s cannot be met: the ego ({ego_speed_mps:.1f} m/s) is {u:.1f} m from the crossing "
            f"path but needs at least {need_m:.1f} m (the crosser takes {entry_m / crosser_speed_mps:.2f} s to reach its lane); "
            "start the ego further back or the crossing further ahead",
            pos,
        )
    return Crossing(start_s, point.x_m, point.y_m, u, entry_m)


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
