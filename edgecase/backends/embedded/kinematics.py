"""Embedded kinematics: pure, vectorized step functions over one row per actor.

Vehicles and two-wheelers are kinematic bicycles about the REAR AXLE. The plan's pose (and
`ActorStates.x_m/y_m`) is the box centre, and the axles are taken to sit symmetrically about it
(the blueprint catalogue gives CARLA's wheelbase but not the overhangs, which differ by a few
tenths of a metre), so the rear axle is half a wheelbase behind the centre along the heading:

    rear = centre - (wheelbase / 2) (cos yaw, sin yaw)

Over one step of `dt` with the front-wheel angle `steer` held (after the rate limit) and the
acceleration `a` held (after the limits), the rear axle drives an exact arc:

    ds      = v t + a t^2 / 2,  t = dt, or the time to stop if braking reaches v = 0 first
    kappa   = tan(steer) / wheelbase               (yaw_rate = v kappa; turn radius R = 1 / kappa)
    dyaw    = kappa ds
    rear'   = rear + ds sinc(dyaw / 2) (cos m, sin m),  m = yaw + dyaw / 2  (the chord of the arc)

and the centre follows the rear axle. So a constant acceleration on a straight heading is the
closed form to rounding, and a steady turn is a circle of radius R for the rear axle (and of
sqrt(R^2 + (wheelbase / 2)^2) for the box centre).

Walkers are the same arc with no wheelbase and no steering: a straight line along their heading,
which they take at once from `Controls.heading_rad` (they turn on the spot). Props never move.

Cargo (an actor the plan spawns `dropped`, `carried_by` a carrier) has its own class: while it is
inactive it rides with its carrier (its plan pose, on the load bed at the rear, held in the
carrier's frame, at the carrier's speed); at the step where Controls activate it, it is placed
just behind the carrier's rear bumper (DROP_GAP_M clear of it, at the same offset across the
carrier as it rode), with the carrier's heading and
speed, and from the next step on it slides straight ahead, braking at its class's friction
deceleration whatever the controls ask, until it stops. The carrier moves first in each step,
so the cargo is placed against the carrier's pose after the step.

Every function here returns new arrays and keeps no state, and every operation is an elementwise
numpy ufunc over all actors (no per-actor Python loop), so one step costs about the same for 2
actors as for 100. Angles are radians; frame and units as in `edgecase.sim.state`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from edgecase.errors import InputError
from edgecase.plan import EpisodePlan
from edgecase.sim.state import ActorStates, Controls, frozen

Motion = Literal["bicycle", "walker", "static", "slide"]
DROP_GAP_M = 0.1  # a falling box lands this far behind the rear bumper (not touching the carrier)


@dataclass(frozen=True, slots=True)
class Limits:
    """What one actor class can physically do; the backend clips every control to these."""

    max_accel_mps2: float
    max_decel_mps2: float  # a positive number: the hardest braking
    max_speed_mps: float
    max_steer_rad: float  # front-wheel angle lock; 0 for walkers and props
    max_steer_rate_rps: float  # front-wheel angle rate [rad/s]
    motion: Motion

    def __post_init__(self) -> None:
        if min(self.max_accel_mps2, self.max_decel_mps2, self.max_speed_mps, self.max_steer_rad, self.max_steer_rate_rps) < 0:
            raise ValueError(f"limits must be >= 0: {self}")


# Rationale per class (engineering estimates, not measurements of CARLA's physics):
# - accel: a family car doing 0-100 km/h in ~8 s averages 27.8 / 8 = 3.5 m/s^2; loaded trucks and
#   buses manage ~1-2 m/s^2 (1.5); vans sit between (2.5); motorcycles out-accelerate cars (5);
#   cyclists ~1.5 m/s^2 and walkers ~2 m/s^2 (standing to a run in about a second).
# - decel: ~0.9 g on dry asphalt for a car with ABS (tyre-road friction 0.8-1.0), 8 for vans,
#   7 m/s^2 for heavy vehicles (air brakes, higher centre of mass), 9 for motorcycles with ABS,
#   5 for bicycles (the rear wheel lifts near 0.5-0.6 g), 3 for walkers stopping within a stride.
#   Behaviors ask for less (follow_lane's comfort 2 m/s^2, hard_brake 8 m/s^2 by default).
# - max speed: generous top speeds so that no scenario is silently slowed: 70 m/s (252 km/h) cars,
#   45 vans, 35 trucks (EU trucks are governed at 90 km/h = 25 m/s), 30 buses, 80 motorcycles,
#   15 bicycles (54 km/h, downhill), 10 walkers (a sprint).
# - steer lock (road-wheel angle): passenger cars have ~30-40 deg of lock: 0.61 rad (35 deg) for
#   cars and vans, which on a 2.9 m wheelbase turns the rear axle on R = 2.9 / tan(0.61) = 4.2 m,
#   an ~11.5 m kerb-to-kerb turning circle (outer front wheel); 0.70 rad (40 deg) for trucks and
#   buses, whose long wheelbases need more lock; 0.52 rad (30 deg) for motorcycles; 0.70 rad for
#   bicycles' handlebars.
# - steer rate (road-wheel angle): 0.7 rad/s is ~600 deg/s at a car's steering wheel through a
#   typical 15:1 ratio, fast evasive steering for a human driver; 0.4 rad/s for trucks and buses
#   (20-25:1 ratios); handlebars have no ratio: 1.0 rad/s for motorcycles, 1.5 rad/s for bicycles.
CLASS_LIMITS: dict[str, Limits] = {
    "car": Limits(3.5, 9.0, 70.0, 0.61, 0.7, "bicycle"),
    "van": Limits(2.5, 8.0, 45.0, 0.61, 0.7, "bicycle"),
    "truck": Limits(1.5, 7.0, 35.0, 0.70, 0.4, "bicycle"),
    "bus": Limits(1.5, 7.0, 30.0, 0.70, 0.4, "bicycle"),
    "motorcycle": Limits(5.0, 9.0, 80.0, 0.52, 1.0, "bicycle"),
    "bicycle": Limits(1.5, 5.0, 15.0, 0.70, 1.5, "bicycle"),
    "pedestrian": Limits(2.0, 3.0, 10.0, 0.0, 0.0, "walker"),
    "prop": Limits(0.0, 0.0, 0.0, 0.0, 0.0, "static"),
    # Lost cargo sliding on asphalt: Coulomb friction decelerates it at mu g. mu ~ 0.5 is an
    # estimate for a cardboard or wooden box on dry asphalt (sliding friction of wood or paper on
    # rough concrete is commonly tabulated at 0.4-0.6), so 0.5 * 9.81 = 4.9 m/s^2; not measured.
    "cargo": Limits(0.0, 4.9, 70.0, 0.0, 0.0, "slide"),
}
WHEELBASE_PER_LENGTH = 0.6  # fallback wheelbase when the catalogue has none: CARLA's cars run 0.56-0.62
G_MPS2 = 9.81  # a tyre with friction mu transmits at most mu * g of acceleration (braking, driving or cornering)


@dataclass(frozen=True, slots=True)
class PatchArrays:
    """The plan's low-friction surfaces (oriented rectangles), one entry per patch, shape (P,).

    A wheeled actor (motion 'bicycle') whose box centre is inside a patch brakes and accelerates at
    most friction * g, and steers no tighter than v^2 kappa <= friction * g (the front wheels would
    slide: understeer); outside every patch its class limits hold (a car's 9 m/s^2 is mu ~0.9).
    Where patches overlap the lowest friction wins. Walkers, props and sliding cargo ignore them.
    """

    x_m: np.ndarray
    y_m: np.ndarray
    cos: np.ndarray
    sin: np.ndarray
    half_length_m: np.ndarray
    half_width_m: np.ndarray
    grip_mps2: np.ndarray  # friction * G_MPS2

    @classmethod
    def from_plan(cls, plan: EpisodePlan) -> PatchArrays | None:
        surfaces = plan.surfaces
        if not surfaces:
            return None
        yaw = np.radians([p.yaw_deg for p in surfaces])
        return cls(
            x_m=np.array([p.x_m for p in surfaces], dtype=float), y_m=np.array([p.y_m for p in surfaces], dtype=float),
            cos=np.cos(yaw), sin=np.sin(yaw),
            half_length_m=0.5 * np.array([p.length_m for p in surfaces], dtype=float),
            half_width_m=0.5 * np.array([p.width_m for p in surfaces], dtype=float),
            grip_mps2=G_MPS2 * np.array([p.friction for p in surfaces], dtype=float),
        )

    def grip(self, x_m: np.ndarray, y_m: np.ndarray) -> np.ndarray:
        """Per point (N,): the lowest friction * g of the patches containing it, +inf on none."""
        dx, dy = x_m[:, None] - self.x_m[None, :], y_m[:, None] - self.y_m[None, :]
        along, across = dx * self.cos + dy * self.sin, -dx * self.sin + dy * self.cos
        inside = (np.abs(along) <= self.half_length_m) & (np.abs(across) <= self.half_width_m)
        return np.where(inside, self.grip_mps2, np.inf).min(axis=1, initial=np.inf)


@dataclass(frozen=True, slots=True)
class LimitArrays:
    """`Limits` per row (shape (N,)), plus the geometry the step needs, built once per episode."""

    max_accel_mps2: np.ndarray
    max_decel_mps2: np.ndarray
    max_speed_mps: np.ndarray
    max_steer_rad: np.ndarray
    max_steer_rate_rps: np.ndarray
    half_wheelbase_m: np.ndarray  # centre to rear axle; 0 for walkers and props
    inv_wheelbase_per_m: np.ndarray  # curvature per unit tan(steer); 0 for walkers and props
    turns_on_spot: np.ndarray  # bool: walkers take Controls.heading_rad at once
    mobile: np.ndarray  # bool: False for props
    sliding: np.ndarray  # bool: cargo, which brakes at max_decel whatever the controls say
    carrier: np.ndarray  # intp: the row carrying this cargo until it falls; -1 for everyone else
    carry_back_m: np.ndarray  # while carried, the cargo's centre is this far behind the carrier's
    carry_right_m: np.ndarray  # and this far to its right (boxes side by side), carried and dropped
    drop_back_m: np.ndarray  # where it falls: this far behind the carrier's centre
    any_cargo: bool = False
    patches: PatchArrays | None = None  # low-friction surfaces (plan.surfaces); None: dry road everywhere

    def __post_init__(self) -> None:
        for name in self.__slots__:
            if name == "carrier":
                self.carrier.setflags(write=False)
            elif name not in ("any_cargo", "patches"):
                object.__setattr__(self, name, frozen(getattr(self, name)))
        object.__setattr__(self, "any_cargo", bool((self.carrier >= 0).any()))

    @classmethod
    def build(cls, actor_classes: Sequence[str], wheelbases_m: Sequence[float | None], lengths_m: Sequence[float],
              cargo: Sequence[tuple[int, float, float] | None] | None = None) -> LimitArrays:
        """Rows in the given order; a missing wheelbase is WHEELBASE_PER_LENGTH times the length.
        `cargo`, per row: None, or (carrier row, carry_back_m, carry_right_m, drop_back_m) for a cargo row."""
        rows = [_class_limits(c) for c in actor_classes]
        cargo = cargo or [None] * len(rows)
        bicycle = np.array([r.motion == "bicycle" for r in rows], dtype=bool)
        wheelbase_m = np.array([wb or WHEELBASE_PER_LENGTH * length for wb, length in zip(wheelbases_m, lengths_m)], dtype=float)
        wheelbase_m = np.where(bicycle, wheelbase_m, 0.0)

        def column(name: str) -> np.ndarray:
            return np.array([getattr(r, name) for r in rows], dtype=float)

        return cls(
            max_accel_mps2=column("max_accel_mps2"),
            max_decel_mps2=column("max_decel_mps2"),
            max_speed_mps=column("max_speed_mps"),
            max_steer_rad=column("max_steer_rad"),
            max_steer_rate_rps=column("max_steer_rate_rps"),
            half_wheelbase_m=0.5 * wheelbase_m,
            inv_wheelbase_per_m=np.divide(1.0, wheelbase_m, out=np.zeros_like(wheelbase_m), where=bicycle),
            turns_on_spot=np.array([r.motion == "walker" for r in rows], dtype=bool),
            mobile=np.array([r.motion != "static" for r in rows], dtype=bool),
            sliding=np.array([r.motion == "slide" for r in rows], dtype=bool),
            carrier=np.array([-1 if c is None else c[0] for c in cargo], dtype=np.intp),
            carry_back_m=np.array([0.0 if c is None else c[1] for c in cargo], dtype=float),
            carry_right_m=np.array([0.0 if c is None else c[2] for c in cargo], dtype=float),
            drop_back_m=np.array([0.0 if c is None else c[3] for c in cargo], dtype=float),
        )

    @classmethod
    def from_plan(cls, plan: EpisodePlan) -> LimitArrays:
        """Cargo rows (carried_by set) take the 'cargo' class whatever their blueprint's class."""
        actors = plan.actors
        rows = {a.name: i for i, a in enumerate(actors)}
        cargo: list[tuple[int, float, float, float] | None] = []
        for a in actors:
            carrier = plan.actor(a.carried_by) if a.carried_by else None
            if carrier is None:
                cargo.append(None)
                continue
            yaw = math.radians(carrier.pose.yaw_deg)
            dx, dy = a.pose.x_m - carrier.pose.x_m, a.pose.y_m - carrier.pose.y_m
            back_m, right_m = -dx * math.cos(yaw) - dy * math.sin(yaw), -dx * math.sin(yaw) + dy * math.cos(yaw)
            cargo.append((rows[carrier.name], back_m, right_m, (carrier.size.length_m + a.size.length_m) / 2 + DROP_GAP_M))
        classes = ["cargo" if c is not None else a.actor_class for a, c in zip(actors, cargo)]
        limits = cls.build(classes, [a.wheelbase_m for a in actors], [a.size.length_m for a in actors], cargo)
        patches = PatchArrays.from_plan(plan)
        return limits if patches is None else replace(limits, patches=patches)

    def grip(self, x_m: np.ndarray, y_m: np.ndarray) -> np.ndarray | None:
        """Per row, the friction limit (m/s^2) of the surface under a wheeled actor's centre (+inf: dry);
        None when the episode has no patches."""
        if self.patches is None:
            return None
        return np.where(self.inv_wheelbase_per_m > 0.0, self.patches.grip(x_m, y_m), np.inf)


def _class_limits(actor_class: str) -> Limits:
    if actor_class not in CLASS_LIMITS:
        raise InputError(f"the embedded backend has no kinematics for actor class {actor_class!r}",
                         hint=f"classes: {', '.join(CLASS_LIMITS)}")
    return CLASS_LIMITS[actor_class]


def longitudinal_step(speed_mps: np.ndarray, accel_mps2: np.ndarray, dt_s: float,
                      limits: LimitArrays, grip_mps2: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(distance_m, new speed_mps) for a constant acceleration over dt, integrated exactly.

    The command is clipped to [-max_decel, max_accel], and above so the speed ends no higher than
    max_speed (an actor already faster may only coast or brake). Braking that would pass v = 0
    stops there, at distance v^2 / (2 decel): speed never goes negative. NaN accel means coast.
    `grip_mps2` (per row, +inf: no limit) caps both braking and driving: the road's friction * g.
    """
    max_accel, max_decel = limits.max_accel_mps2, limits.max_decel_mps2
    if grip_mps2 is not None:
        max_accel, max_decel = np.minimum(max_accel, grip_mps2), np.minimum(max_decel, grip_mps2)
    ceiling_mps2 = np.maximum(np.minimum(max_accel, (limits.max_speed_mps - speed_mps) / dt_s), 0.0)
    accel = np.where(np.isnan(accel_mps2), 0.0, accel_mps2)
    accel = np.minimum(np.maximum(accel, -max_decel), ceiling_mps2)
    new_speed_mps = speed_mps + accel * dt_s
    stops = new_speed_mps < 0.0
    moving_s = np.divide(speed_mps, -accel, out=np.full_like(speed_mps, dt_s), where=stops)  # time to stop, or dt
    distance_m = moving_s * (speed_mps + 0.5 * accel * moving_s)
    return distance_m, np.maximum(new_speed_mps, 0.0)


def steer_step(steer_rad: np.ndarray, target_rad: np.ndarray, dt_s: float, limits: LimitArrays) -> np.ndarray:
    """The front-wheel angle after one step: towards the target (NaN: hold), within lock and rate."""
    target = np.where(np.isnan(target_rad), steer_rad, target_rad)
    target = np.minimum(np.maximum(target, -limits.max_steer_rad), limits.max_steer_rad)
    max_change_rad = limits.max_steer_rate_rps * dt_s
    return steer_rad + np.minimum(np.maximum(target - steer_rad, -max_change_rad), max_change_rad)


def grip_steer(steer_rad: np.ndarray, speed_mps: np.ndarray, grip_mps2: np.ndarray, limits: LimitArrays) -> np.ndarray:
    """The front-wheel angle no tighter than the road holds: lateral v^2 tan(steer) / wheelbase <= grip."""
    wheelbase_m = 2.0 * limits.half_wheelbase_m
    limited = np.isfinite(grip_mps2) & (wheelbase_m > 0.0)
    lock_rad = np.arctan(np.where(limited, grip_mps2, 0.0) * wheelbase_m / np.maximum(speed_mps * speed_mps, 1e-6))
    lock_rad = np.where(limited, lock_rad, np.inf)
    return np.minimum(np.maximum(steer_rad, -lock_rad), lock_rad)


def heading_step(yaw_rad: np.ndarray, heading_rad: np.ndarray, limits: LimitArrays) -> np.ndarray:
    """Walkers face the requested heading at once (they turn on the spot); NaN, or not a walker: keep."""
    keep = np.isnan(heading_rad) | ~limits.turns_on_spot
    return np.where(keep, yaw_rad, heading_rad)


def arc_step(x_m: np.ndarray, y_m: np.ndarray, yaw_rad: np.ndarray, distance_m: np.ndarray, steer_rad: np.ndarray,
             limits: LimitArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Box centre and yaw after the rear axle drives `distance_m` along the arc of curvature tan(steer) / wheelbase.

    The centre moves by the rear axle's chord plus its swing about the rear axle:
    d_centre = chord (cos m, sin m) + wheelbase sin(dyaw / 2) (-sin m, cos m), m = yaw + dyaw / 2.
    """
    half_turn_rad = 0.5 * np.tan(steer_rad) * limits.inv_wheelbase_per_m * distance_m
    sin_half = np.sin(half_turn_rad)
    sinc_half = np.divide(sin_half, half_turn_rad, out=np.ones_like(half_turn_rad), where=half_turn_rad != 0.0)
    chord_m = distance_m * sinc_half
    swing_m = 2.0 * limits.half_wheelbase_m * sin_half
    mid_rad = yaw_rad + half_turn_rad
    cos_mid, sin_mid = np.cos(mid_rad), np.sin(mid_rad)
    new_x_m = x_m + chord_m * cos_mid - swing_m * sin_mid
    new_y_m = y_m + chord_m * sin_mid + swing_m * cos_mid
    return new_x_m, new_y_m, wrap_rad(mid_rad + half_turn_rad)


def wrap_rad(angle_rad: np.ndarray) -> np.ndarray:
    """Angles into [-pi, pi), as CARLA reports yaw (in degrees, [-180, 180])."""
    return np.remainder(angle_rad + math.pi, 2.0 * math.pi) - math.pi


def step(actors: ActorStates, controls: Controls, dt_s: float, limits: LimitArrays) -> ActorStates:
    """Every actor one step of dt_s under `controls`. Presence and width come from the controls;
    only actors present in the step and not props move. `accel_mps2` reports what was applied
    on average over the step ((v' - v) / dt: 0 for a car held at a stop by its brakes)."""
    yaw_rad = heading_step(actors.yaw_rad, controls.heading_rad, limits)
    steer_rad = steer_step(actors.steer_rad, controls.steer_rad, dt_s, limits)
    grip_mps2 = limits.grip(actors.x_m, actors.y_m)  # None without patches: the dry road's limits only
    if grip_mps2 is not None:
        steer_rad = grip_steer(steer_rad, actors.speed_mps, grip_mps2, limits)
    accel_mps2 = np.where(limits.sliding, -limits.max_decel_mps2, controls.accel_mps2) if limits.any_cargo else controls.accel_mps2
    distance_m, speed_mps = longitudinal_step(actors.speed_mps, accel_mps2, dt_s, limits, grip_mps2)
    x_m, y_m, new_yaw_rad = arc_step(actors.x_m, actors.y_m, yaw_rad, distance_m, steer_rad, limits)
    moves = controls.active & limits.mobile
    x_m, y_m = np.where(moves, x_m, actors.x_m), np.where(moves, y_m, actors.y_m)
    new_yaw_rad, new_speed_mps = np.where(moves, new_yaw_rad, actors.yaw_rad), np.where(moves, speed_mps, actors.speed_mps)
    accel_mps2 = np.where(moves, (speed_mps - actors.speed_mps) / dt_s, 0.0)
    if limits.any_cargo:
        x_m, y_m, new_yaw_rad, new_speed_mps, accel_mps2 = _carry(x_m, y_m, new_yaw_rad, new_speed_mps, accel_mps2,
                                                                  actors.active, controls.active, limits)  # fmt: skip
    return ActorStates(
        x_m=x_m,
        y_m=y_m,
        yaw_rad=new_yaw_rad,
        speed_mps=new_speed_mps,
        accel_mps2=accel_mps2,
        steer_rad=np.where(moves, steer_rad, actors.steer_rad),
        length_m=actors.length_m,
        width_m=np.where(np.isnan(controls.width_m), actors.width_m, controls.width_m),
        height_m=actors.height_m,
        active=controls.active,
        box_offset_m=np.where(np.isnan(controls.box_offset_m), actors.box_offset_m, controls.box_offset_m),
        light_state=controls.light_state,
    )


def _carry(x_m, y_m, yaw_rad, speed_mps, accel_mps2, was_active, active, limits: LimitArrays):
    """Cargo still carried rides with its carrier; cargo activated in this step lands behind it."""
    cargo = limits.carrier >= 0
    carried = cargo & ~active
    falls = cargo & active & ~was_active
    placed = carried | falls
    c = np.where(cargo, limits.carrier, 0)
    cyaw = yaw_rad[c]
    cos, sin, right_m = np.cos(cyaw), np.sin(cyaw), limits.carry_right_m
    back_m = np.where(carried, limits.carry_back_m, limits.drop_back_m)
    return (
        np.where(placed, x_m[c] - back_m * cos - right_m * sin, x_m),
        np.where(placed, y_m[c] - back_m * sin + right_m * cos, y_m),
        np.where(placed, cyaw, yaw_rad),
        np.where(placed, speed_mps[c], speed_mps),
        np.where(placed, 0.0, accel_mps2),
    )


def initial_states(plan: EpisodePlan, limits: LimitArrays) -> ActorStates:
    """The plan's actors at t = 0: pose centres, yaw in radians, plan speeds (props 0), wheels straight,
    present unless spawned 'dropped' (cargo, carried until it falls)."""
    actors = plan.actors
    n = len(actors)
    speed_mps = np.array([a.speed_mps for a in actors], dtype=float)
    return ActorStates(
        x_m=np.array([a.pose.x_m for a in actors], dtype=float),
        y_m=np.array([a.pose.y_m for a in actors], dtype=float),
        yaw_rad=wrap_rad(np.radians(np.array([a.pose.yaw_deg for a in actors], dtype=float))),
        speed_mps=np.where(limits.mobile, speed_mps, 0.0),
        accel_mps2=np.zeros(n),
        steer_rad=np.zeros(n),
        length_m=np.array([a.size.length_m for a in actors], dtype=float),
        width_m=np.array([a.size.width_m for a in actors], dtype=float),
        height_m=np.array([a.size.height_m for a in actors], dtype=float),
        active=np.array([a.spawn == "start" for a in actors], dtype=bool),
    )


def neutral_controls(n: int, active: np.ndarray | None = None) -> Controls:
    """What holds before the first `apply`: no acceleration, wheels straight, presence as given
    (default: every actor present)."""
    return Controls(accel_mps2=np.zeros(n), steer_rad=np.zeros(n), heading_rad=np.full(n, np.nan), width_m=np.full(n, np.nan),
                    active=np.ones(n, dtype=bool) if active is None else active)
