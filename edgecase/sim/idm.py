"""The Intelligent Driver Model (Treiber, Hennecke & Helbing 2000): car-following in one formula.

    a = a_max [1 - (v / v0)^delta - (s* / s)^2],   s* = s0 + max(0, v T + v dv / (2 sqrt(a_max b)))

v is the follower's speed, v0 its desired speed, s the bumper-to-bumper gap to its leader, dv the
closing speed (follower minus leader, positive while approaching), T the desired time headway,
s0 the jam distance, b the comfortable deceleration. Without a leader the gap is infinite and
only the free-road term remains. The model never brakes harder than it must, which is why a
platoon of IDM drivers is collision-free as long as the brakes can deliver what it asks.

The formula is pure and vectorized: every argument may be a numpy array (one row per follower).
`find_leaders` finds each follower's leader and gap for every follower at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgecase.sim.paths import PathBank

MIN_DESIRED_MPS = 1e-3  # v0 -> 0 would divide by zero: a desired speed of 1 mm/s means "stop"
MIN_GAP_M = 1e-3  # a gap at or below zero (boxes touching) asks for the hardest braking, not a NaN


@dataclass(frozen=True, slots=True)
class IdmParams:
    """Treiber's parameters with units; the defaults are the scenario language's follow_lane defaults.

    Treiber et al. (2000) fitted motorway traffic with T = 1.6 s, s0 = 2 m, a = 0.73 m/s2,
    b = 1.67 m/s2, delta = 4; HighwayEnv's IDMVehicle uses TIME_WANTED = 1.5 s, DELTA = 4,
    COMFORT_ACC_MAX = 3 m/s2 and COMFORT_ACC_MIN = -5 m/s2.
    """

    time_headway_s: float = 1.5  # T
    min_gap_m: float = 2.0  # s0, the jam distance
    max_accel_mps2: float = 1.5  # a
    comfort_decel_mps2: float = 2.0  # b (a positive number)
    delta: float = 4.0  # acceleration exponent

    def __post_init__(self) -> None:
        if min(self.time_headway_s, self.min_gap_m) < 0 or min(self.max_accel_mps2, self.comfort_decel_mps2, self.delta) <= 0:
            raise ValueError(f"IDM parameters out of range: {self}")

    @classmethod
    def from_params(cls, params: dict) -> IdmParams:
        """From a follow_lane step's plan params (numbers already drawn); missing keys keep the defaults."""
        keys = ("time_headway_s", "min_gap_m", "max_accel_mps2", "comfort_decel_mps2")
        return cls(**{k: float(params[k]) for k in keys if params.get(k) is not None})


def desired_gap_m(speed_mps, closing_mps, time_headway_s, min_gap_m, max_accel_mps2, comfort_decel_mps2):
    """s*: the jam distance, plus the time headway, plus what a braking manoeuvre needs to close dv."""
    dynamic = speed_mps * time_headway_s + speed_mps * closing_mps / (2.0 * np.sqrt(max_accel_mps2 * comfort_decel_mps2))
    return min_gap_m + np.maximum(dynamic, 0.0)


def idm_accel_mps2(speed_mps, desired_mps, gap_m, closing_mps, params: IdmParams):
    """IDM acceleration [m/s2] for followers at `speed_mps` wanting `desired_mps`, `gap_m` behind
    their leader (np.inf: none), closing at `closing_mps` (follower minus leader speed)."""
    p = params
    return idm_accel_arrays(speed_mps, desired_mps, gap_m, closing_mps, p.time_headway_s, p.min_gap_m, p.max_accel_mps2, p.comfort_decel_mps2, p.delta)


def idm_accel_arrays(speed_mps, desired_mps, gap_m, closing_mps, time_headway_s, min_gap_m, max_accel_mps2, comfort_decel_mps2, delta=4.0):
    """`idm_accel_mps2` with each parameter its own array, so followers with different drivers are one call."""
    speed = np.asarray(speed_mps, dtype=float)
    ratio = speed / np.maximum(desired_mps, MIN_DESIRED_MPS)
    free = np.square(np.square(ratio)) if delta == 4.0 else ratio**delta  # the usual delta, without pow
    s_star = desired_gap_m(speed, closing_mps, time_headway_s, min_gap_m, max_accel_mps2, comfort_decel_mps2)
    interaction = np.square(s_star / np.maximum(gap_m, MIN_GAP_M))  # inf gap -> 0
    return max_accel_mps2 * (1.0 - free - interaction)


MAX_NEWTON_STEP_M = 3.0  # a projection still moving this much is off in a bend far away, not a leader


@dataclass(frozen=True, slots=True)
class Others:
    """Every actor as a possible leader, arrays of shape (N,): where it counts as being (its lane
    position: the old lane's centre while it changes lanes), heading, speed and half box sizes."""

    x_m: np.ndarray
    y_m: np.ndarray
    yaw_rad: np.ndarray
    speed_mps: np.ndarray
    half_length_m: np.ndarray
    half_width_m: np.ndarray
    present: np.ndarray  # bool: active in the world
    cos_yaw: np.ndarray | None = None  # cos and sin of yaw_rad, when the caller has them
    sin_yaw: np.ndarray | None = None


def find_leaders(bank: PathBank, rows: np.ndarray, path: np.ndarray, arc_m: np.ndarray, half_width_m: np.ndarray,
                 others: Others, here: tuple[np.ndarray, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(gap_m, closing_mps) of each follower (rows, with their path, arc and lane half-width) to
    its leader: the nearest other actor ahead whose centre, projected on the follower's path,
    lies within the lane. The gap is bumper to bumper along the path (the leader's extent along
    the path from its box and heading); inf and 0 without a leader. All pairs in one expression;
    `here` is the followers' own bank.at(path, arc_m) when the caller has it already."""
    x0, y0, c0, s0, _ = here if here is not None else bank.at(path, arc_m)
    ox, oy = others.x_m, others.y_m
    guess = (arc_m - x0 * c0 - y0 * s0)[:, None] + np.multiply.outer(c0, ox) + np.multiply.outer(s0, oy)  # along the tangent
    along, (px, py, c, s, _), step = bank.project(path[:, None], ox, oy, guess, steps=1)
    lateral = (oy - py) * c - (ox - px) * s
    ahead = along - arc_m[:, None]
    ok = (ahead > 0) & (np.abs(lateral) < half_width_m[:, None]) & (np.abs(step) < MAX_NEWTON_STEP_M) & others.present
    pick = np.arange(len(rows))
    ok[pick, rows] = False  # not its own leader
    centre = np.where(ok, ahead, np.inf)
    leader = np.argmin(centre, axis=1)
    centre_m = centre[pick, leader]
    cl, sl = c[pick, leader], s[pick, leader]
    if others.cos_yaw is None:
        cos_j, sin_j = np.cos(others.yaw_rad[leader]), np.sin(others.yaw_rad[leader])
    else:
        cos_j, sin_j = others.cos_yaw[leader], others.sin_yaw[leader]
    cos_rel = cos_j * cl + sin_j * sl  # the leader's heading against the path's
    sin_rel = sin_j * cl - cos_j * sl
    extent = np.abs(cos_rel) * others.half_length_m[leader] + np.abs(sin_rel) * others.half_width_m[leader]
    gap = centre_m - others.half_length_m[rows] - extent
    closing = others.speed_mps[rows] - others.speed_mps[leader] * cos_rel
    found = np.isfinite(centre_m)
    return np.where(found, gap, np.inf), np.where(found, closing, 0.0)
