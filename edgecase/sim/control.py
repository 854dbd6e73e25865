"""Low-level controllers: steer onto a reference path, reach a speed. Pure and vectorized.

Lateral: pure pursuit (Coulter 1992). The backend's bicycle turns about the rear axle, so the
rear axle aims at a point `lookahead` ahead on the path and the wheel angle is the one whose arc
passes through it: steer = atan(2 L sin(alpha) / d), alpha the bearing of the point from the
heading, d its distance. The lookahead grows with speed (max(4 m, 0.8 s * v)): long enough to be
smooth at motorway speed, short enough to hold a junction's kerb radius at walking pace.

A lane change is the path itself moving sideways: the target point is blended from the old lane
to the new one with a quintic (minimum-jerk) profile over the manoeuvre's duration, evaluated at
the time the car will reach the point, so the car anticipates the bend instead of lagging it.

Longitudinal: a proportional speed tracker within comfort limits, or the IDM (idm.py).
"""

from __future__ import annotations

import numpy as np

from edgecase.plan.bend_speed import SPEED_GAIN_PER_S

MIN_LOOKAHEAD_M = 4.0
LOOKAHEAD_S = 0.5
WALKER_LOOKAHEAD_M = 1.0  # walkers turn on the spot: they only need a direction


def lookahead_m(speed_mps: np.ndarray) -> np.ndarray:
    return np.maximum(MIN_LOOKAHEAD_M, LOOKAHEAD_S * speed_mps)


def pure_pursuit_steer_rad(x_m, y_m, cos, sin, half_wheelbase_m, target_x_m, target_y_m) -> np.ndarray:
    """Front-wheel angle that takes the rear axle (half a wheelbase behind the centre (x, y),
    heading (cos, sin) of yaw) along an arc through the target point; positive steers right, as
    CARLA's yaw turns +x towards +y."""
    dx = target_x_m - (x_m - half_wheelbase_m * cos)
    dy = target_y_m - (y_m - half_wheelbase_m * sin)
    right = -dx * sin + dy * cos
    distance2 = np.maximum(dx * dx + dy * dy, 1e-6)
    # sin(alpha) / d = right / d^2, so no trigonometry is needed for the bearing
    return np.arctan(2.0 * (2.0 * half_wheelbase_m) * right / distance2)


def quintic(u: np.ndarray) -> np.ndarray:
    """The minimum-jerk ramp from 0 to 1 over u in [0, 1]: zero speed and acceleration at both ends."""
    u = np.minimum(np.maximum(u, 0.0), 1.0)
    return u * u * u * (10.0 + u * (-15.0 + 6.0 * u))


def track_speed_mps2(speed_mps, target_mps, max_accel_mps2, max_decel_mps2) -> np.ndarray:
    """Acceleration that closes the speed error at SPEED_GAIN_PER_S, within [-max_decel, max_accel]."""
    return np.minimum(np.maximum(SPEED_GAIN_PER_S * (target_mps - speed_mps), -max_decel_mps2), max_accel_mps2)


def reach_speed_mps2(speed_mps, target_mps, dt_s: float) -> np.ndarray:
    """Acceleration that reaches the target speed in one step (the backend clips it to the actor's limits)."""
    return (target_mps - speed_mps) / dt_s
