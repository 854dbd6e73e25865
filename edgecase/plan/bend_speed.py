"""Speed through bends: the driver model the simulation applies and the compiler predicts.

Drivers keep their lateral acceleration in bends and turns under LATERAL_ACCEL_MPS2 and slow for
them at ENVELOPE_DECEL_MPS2 (`speed_envelope`, sampled on 1 m paths), closing speed errors at
SPEED_GAIN_PER_S. edgecase.sim drives by these numbers; the criticality solver uses `bend_delay_s`
to time a turning car to a crossing point, so both read them from here (plan sits below sim).
"""

from __future__ import annotations

import math

import numpy as np

STEP_M = 1.0  # path sample spacing (edgecase.sim.paths samples every metre)
LATERAL_ACCEL_MPS2 = 3.0  # drivers hold lateral acceleration to about 0.3 g in bends and turns
ENVELOPE_DECEL_MPS2 = 2.0  # and slow down for them at follow_lane's comfortable deceleration
DEAD_END_STOP_M = 5.5  # where a lane ends the speed cap is 0 this far before it: cars come to rest with the front bumper at about the end
SPEED_GAIN_PER_S = 2.0  # speed error to acceleration: 1/2 s to close most of a small error
FREE_ACCEL_MPS2 = 1.5  # follow_lane's default IDM maximum acceleration, back up to speed after a bend


def speed_envelope(yaw_rad: np.ndarray, dead_end: bool = False) -> np.ndarray:
    """The fastest speed at each sample that keeps LATERAL_ACCEL_MPS2 in every bend ahead, when
    slowing for them at ENVELOPE_DECEL_MPS2: v <= sqrt(a_lat / kappa), swept backwards. On a
    path whose lane ends (a dead end, a turn that does not exist) the speed falls to 0 the last
    DEAD_END_STOP_M before its end, so cars stop there instead of driving off the map."""
    turn = np.abs(np.diff(yaw_rad)) / STEP_M if len(yaw_rad) > 1 else np.zeros(1)
    padded = np.concatenate([turn[:1], turn, turn[-1:]])
    kappa = np.maximum.reduce([padded[:-2], padded[1:-1], padded[2:]])  # a bend shows in the samples around it
    kappa = np.append(kappa, kappa[-1])
    cap = np.sqrt(LATERAL_ACCEL_MPS2 / np.maximum(kappa, 1e-9)).tolist()
    if dead_end:
        stop = max(1, int(DEAD_END_STOP_M / STEP_M))
        cap[-stop:] = [0.0] * min(stop, len(cap))
    room = 2.0 * ENVELOPE_DECEL_MPS2 * STEP_M
    for k in range(len(cap) - 2, -1, -1):
        cap[k] = min(cap[k], math.sqrt(cap[k + 1] ** 2 + room))
    return np.array(cap)


def bend_delay_s(line, along_m: float, speed_mps: float) -> float:
    """How much later than at constant speed a vehicle starting at `speed_mps` at the start of
    `line` (a shapely LineString, its route) reaches `along_m` along it, because it slows for the
    bends on the way and gets back up to speed: the simulator's rule, stepped in time (the
    curvature envelope speed_envelope, approached at SPEED_GAIN_PER_S, and the
    IDM's free-road acceleration). 0 on a straight route; a left turn taken at 8 m/s arrives
    ~0.3 s late without it."""
    if speed_mps <= 0 or along_m <= STEP_M:
        return 0.0
    arcs = np.append(np.arange(0.0, along_m, STEP_M), along_m)
    xy = np.array([line.interpolate(float(a)).coords[0] for a in arcs])
    d = np.diff(xy, axis=0)
    yaw = np.unwrap(np.arctan2(d[:, 1], d[:, 0]))
    cap = speed_envelope(np.append(yaw, yaw[-1]))
    if cap.min() >= speed_mps:
        return 0.0
    accel, dt = FREE_ACCEL_MPS2, 0.05
    v, s_m, t_s = speed_mps, 0.0, 0.0
    while s_m < along_m and t_s < 600.0:
        a = min(accel * (1.0 - (v / speed_mps) ** 4), SPEED_GAIN_PER_S * (float(np.interp(s_m, arcs, cap)) - v))
        v = max(v + a * dt, 0.1)
        step = min(v * dt, along_m - s_m)
        s_m, t_s = s_m + step, t_s + step / v
    return max(0.0, t_s - along_m / speed_mps)
