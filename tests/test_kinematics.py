"""Embedded kinematics against closed forms, limits, walkers, props, presence, width, determinism.

Plans are built directly (no map, no compiler) so the tests are about the kinematics alone.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgecase.backends.embedded import EmbeddedBackend
from edgecase.backends.embedded.kinematics import CLASS_LIMITS, WHEELBASE_PER_LENGTH, LimitArrays, step
from edgecase.errors import InputError
from edgecase.plan.model import ActorPlan, EpisodePlan, MapRef, Pose, Size, WeatherPlan
from edgecase.sim.state import ActorStates, Controls, LightState

STEP_S = 0.05
SIZES = {"car": (4.9, 1.84, 1.49, 2.935), "truck": (7.9, 2.9, 3.8, 4.761), "pedestrian": (0.5, 0.5, 1.8, None),
         "prop": (0.6, 0.6, 0.9, None), "motorcycle": (2.2, 0.9, 1.5, 1.424)}
FIELDS = ActorStates.__slots__


def actor(actor_class: str, x_m: float = 0.0, y_m: float = 0.0, yaw_deg: float = 0.0, speed_mps: float = 0.0,
          wheelbase_m: float | None = -1.0) -> dict:
    length_m, width_m, height_m, catalogue_wheelbase_m = SIZES[actor_class]
    return dict(actor_class=actor_class, pose=(x_m, y_m, yaw_deg), speed_mps=speed_mps, size=(length_m, width_m, height_m),
                wheelbase_m=catalogue_wheelbase_m if wheelbase_m == -1.0 else wheelbase_m)


def make_plan(*actors: dict, duration_s: float = 10.0) -> EpisodePlan:
    rows = []
    for i, a in enumerate(actors):
        x_m, y_m, yaw_deg = a["pose"]
        length_m, width_m, height_m = a["size"]
        rows.append(ActorPlan(
            id=i + 1, name="ego" if i == 0 else f"a[{i}]", role="ego" if i == 0 else "background", blueprint="test",
            actor_class=a["actor_class"], semantic_tag=14, size=Size(length_m=length_m, width_m=width_m, height_m=height_m),
            wheelbase_m=a["wheelbase_m"], pose=Pose(x_m=x_m, y_m=y_m, z_m=0.0, yaw_deg=yaw_deg), lane=None,
            speed_mps=a["speed_mps"], behaviors=()))
    return EpisodePlan(scenario="test", scenario_sha256="0" * 64, seed=0, map=MapRef(source="builtin:curve", name="curve", sha256="0" * 64),
                       duration_s=duration_s, step_s=STEP_S, weather=WeatherPlan(preset="ClearNoon", params={}), params={},
                       actors=tuple(rows))


def controls(n: int, accel: float | list = 0.0, steer: float | list = 0.0, heading: float | list = math.nan,
             width: float | list = math.nan, active: bool | list = True, lights: tuple = ()) -> Controls:
    def column(value, dtype=float):
        return np.broadcast_to(np.asarray(value, dtype=dtype), (n,)).copy()
    return Controls(accel_mps2=column(accel), steer_rad=column(steer), heading_rad=column(heading), width_m=column(width),
                    active=column(active, bool), lights=lights)


def run(plan: EpisodePlan, control: Controls, steps: int) -> list:
    backend = EmbeddedBackend()
    states = [backend.reset(plan)]
    backend.apply(control)
    states += [backend.tick() for _ in range(steps)]
    backend.close()
    return states


def rear_axle(state, row: int, wheelbase_m: float) -> tuple[float, float]:
    a = state.actors
    return (a.x_m[row] - 0.5 * wheelbase_m * math.cos(a.yaw_rad[row]), a.y_m[row] - 0.5 * wheelbase_m * math.sin(a.yaw_rad[row]))


def fit_circle(points: np.ndarray) -> tuple[float, float, float]:
    """Least-squares (Kasa) circle: x^2 + y^2 = a x + b y + c; centre (a/2, b/2)."""
    x, y = points[:, 0], points[:, 1]
    (a, b, c), *_ = np.linalg.lstsq(np.column_stack([x, y, np.ones_like(x)]), x**2 + y**2, rcond=None)
    return a / 2, b / 2, math.sqrt(c + a * a / 4 + b * b / 4)


# --- closed forms -------------------------------------------------------------------------------

def test_constant_acceleration_matches_closed_form_within_1cm_over_10s():
    v0_mps, accel_mps2, yaw_deg = 5.0, 2.0, 30.0
    plan = make_plan(actor("car", x_m=10.0, y_m=-4.0, yaw_deg=yaw_deg, speed_mps=v0_mps))
    states = run(plan, controls(1, accel=accel_mps2), steps=200)
    for s in states:
        t_s = s.tick * STEP_S
        expected_m = v0_mps * t_s + 0.5 * accel_mps2 * t_s**2
        travelled_m = math.hypot(s.actors.x_m[0] - 10.0, s.actors.y_m[0] + 4.0)
        assert abs(travelled_m - expected_m) < 0.01
        assert s.actors.speed_mps[0] == pytest.approx(v0_mps + accel_mps2 * t_s, abs=1e-9)
        assert s.actors.yaw_rad[0] == pytest.approx(math.radians(yaw_deg), abs=1e-12)
    assert states[-1].t_s == 200 * STEP_S
    assert abs(math.hypot(states[-1].actors.x_m[0] - 10.0, states[-1].actors.y_m[0] + 4.0) - 150.0) < 1e-9


def test_braking_stops_exactly_where_the_closed_form_says_and_never_reverses():
    v0_mps, decel_mps2 = 20.0, 6.0
    states = run(make_plan(actor("car", speed_mps=v0_mps)), controls(1, accel=-decel_mps2), steps=200)
    x_m = np.array([s.actors.x_m[0] for s in states])
    speed = np.array([s.actors.speed_mps[0] for s in states])
    assert (speed >= 0).all() and (np.diff(x_m) >= 0).all()
    assert x_m[-1] == pytest.approx(v0_mps**2 / (2 * decel_mps2), abs=1e-9)
    stop_tick = math.ceil(v0_mps / decel_mps2 / STEP_S)
    assert speed[stop_tick] == 0.0 and speed[stop_tick - 1] > 0.0
    assert all(s.actors.accel_mps2[0] == 0.0 for s in states[stop_tick + 1:])  # held by the brakes, not decelerating


@pytest.mark.parametrize("steer_rad", [0.3, -0.15, 0.05])
def test_steady_turn_matches_bicycle_radius_within_2_percent(steer_rad):
    wheelbase_m = SIZES["car"][3]
    backend = EmbeddedBackend()
    backend.reset(make_plan(actor("car", speed_mps=8.0)))
    backend.apply(controls(1, steer=steer_rad))
    states = [backend.tick() for _ in range(400)]
    steady = [s for s in states if s.actors.steer_rad[0] == steer_rad]
    assert len(steady) > 300  # the steer rate limit took under 5 s to reach the angle
    cx, cy, radius_m = fit_circle(np.array([rear_axle(s, 0, wheelbase_m) for s in steady]))
    expected_m = wheelbase_m / math.tan(abs(steer_rad))
    assert radius_m == pytest.approx(expected_m, rel=0.02)
    assert radius_m == pytest.approx(expected_m, rel=1e-6)  # the arc is exact, not just within 2 %
    centre = np.array([(s.actors.x_m[0], s.actors.y_m[0]) for s in steady])
    assert np.hypot(centre[:, 0] - cx, centre[:, 1] - cy) == pytest.approx(math.hypot(expected_m, wheelbase_m / 2), rel=1e-6)
    # positive steer turns +x towards +y (right, in CARLA's frame): the circle's centre is on that side
    assert math.copysign(1.0, cy) == math.copysign(1.0, steer_rad)  # started at y = 0 heading +x


# --- limits -------------------------------------------------------------------------------------

@pytest.mark.parametrize("actor_class", ["car", "truck", "motorcycle", "pedestrian"])
def test_accel_and_decel_are_clipped_to_the_class_limits(actor_class):
    limits = CLASS_LIMITS[actor_class]
    plan = make_plan(actor(actor_class, speed_mps=5.0), actor(actor_class, y_m=20.0, speed_mps=5.0))
    state = run(plan, controls(2, accel=[100.0, -100.0]), steps=1)[-1]
    assert state.actors.speed_mps[0] == pytest.approx(5.0 + limits.max_accel_mps2 * STEP_S)
    assert state.actors.speed_mps[1] == pytest.approx(5.0 - limits.max_decel_mps2 * STEP_S)
    assert state.actors.accel_mps2.tolist() == pytest.approx([limits.max_accel_mps2, -limits.max_decel_mps2])


def test_speed_stays_at_or_below_max_speed():
    max_speed_mps = CLASS_LIMITS["car"].max_speed_mps
    states = run(make_plan(actor("car", speed_mps=max_speed_mps - 0.1)), controls(1, accel=10.0), steps=20)
    assert max(s.actors.speed_mps[0] for s in states) == pytest.approx(max_speed_mps)


def test_steer_lock_and_steer_rate_are_enforced():
    limits = CLASS_LIMITS["car"]
    backend = EmbeddedBackend()
    backend.reset(make_plan(actor("car", speed_mps=3.0)))
    backend.apply(controls(1, steer=2.0))
    steer = [backend.tick().actors.steer_rad[0] for _ in range(40)]
    assert steer[0] == pytest.approx(limits.max_steer_rate_rps * STEP_S)
    assert np.diff(steer).max() <= limits.max_steer_rate_rps * STEP_S + 1e-12
    assert steer[-1] == limits.max_steer_rad
    backend.apply(controls(1, steer=-2.0))
    back = backend.tick().actors.steer_rad[0]
    assert back == pytest.approx(limits.max_steer_rad - limits.max_steer_rate_rps * STEP_S)
    backend.apply(controls(1, steer=math.nan))  # NaN holds the wheel where it is
    assert backend.tick().actors.steer_rad[0] == back


@settings(max_examples=60, deadline=None)
@given(speed=st.lists(st.floats(0, 40), min_size=6, max_size=6), accel=st.lists(st.floats(-50, 50), min_size=6, max_size=6),
       steer=st.lists(st.floats(-2, 2), min_size=6, max_size=6), prior_steer=st.lists(st.floats(-0.6, 0.6), min_size=6, max_size=6))
def test_every_step_stays_within_the_limits(speed, accel, steer, prior_steer):
    classes = ["car", "truck", "motorcycle", "pedestrian", "prop", "car"]
    limits = LimitArrays.build(classes, [2.9, 4.8, 1.4, None, None, None], [4.9, 7.9, 2.2, 0.5, 0.6, 4.5])
    n = len(classes)
    before = ActorStates(x_m=np.zeros(n), y_m=np.zeros(n), yaw_rad=np.zeros(n), speed_mps=np.array(speed), accel_mps2=np.zeros(n),
                         steer_rad=np.clip(prior_steer, -limits.max_steer_rad, limits.max_steer_rad), length_m=np.ones(n),
                         width_m=np.ones(n), height_m=np.ones(n), active=np.ones(n, bool))
    after = step(before, controls(n, accel=accel, steer=steer), STEP_S, limits)
    dv = after.speed_mps - before.speed_mps
    assert (after.speed_mps >= 0).all()
    assert (dv <= limits.max_accel_mps2 * STEP_S + 1e-9).all() and (dv >= -limits.max_decel_mps2 * STEP_S - 1e-9).all()
    assert (np.abs(after.steer_rad) <= limits.max_steer_rad + 1e-12).all()
    assert (np.abs(after.steer_rad - before.steer_rad) <= limits.max_steer_rate_rps * STEP_S + 1e-12).all()
    assert np.isfinite([getattr(after, f) for f in ("x_m", "y_m", "yaw_rad")]).all()


# --- walkers, props, presence, width ------------------------------------------------------------

def test_walkers_turn_on_the_spot_and_hold_speed():
    plan = make_plan(actor("pedestrian", x_m=3.0, y_m=4.0, yaw_deg=0.0, speed_mps=1.4))
    backend = EmbeddedBackend()
    backend.reset(plan)
    backend.apply(controls(1, heading=math.pi / 2, steer=0.5))  # steer means nothing to a walker
    states = [backend.tick() for _ in range(20)]
    a = states[0].actors
    assert a.yaw_rad[0] == pytest.approx(math.pi / 2) and a.steer_rad[0] == 0.0
    assert a.x_m[0] == pytest.approx(3.0, abs=1e-12) and a.y_m[0] == pytest.approx(4.0 + 1.4 * STEP_S)
    assert all(s.actors.speed_mps[0] == 1.4 for s in states)
    assert states[-1].actors.y_m[0] == pytest.approx(4.0 + 1.4 * 20 * STEP_S)
    backend.apply(controls(1, heading=math.nan))  # NaN: keep walking the same way
    assert backend.tick().actors.yaw_rad[0] == pytest.approx(math.pi / 2)


def test_props_never_move():
    plan = make_plan(actor("car", speed_mps=10.0), actor("prop", x_m=30.0, y_m=2.0, yaw_deg=45.0, speed_mps=3.0))
    states = run(plan, controls(2, accel=3.0, steer=0.3, heading=1.0), steps=50)
    for s in states:
        assert (s.actors.x_m[1], s.actors.y_m[1], s.actors.yaw_rad[1], s.actors.speed_mps[1]) == (30.0, 2.0, pytest.approx(math.pi / 4), 0.0)
    assert states[-1].actors.speed_mps[0] > 10.0 and states[-1].actors.yaw_rad[0] != 0.0  # the same controls move the car


def test_inactive_actors_never_move_and_move_again_when_present():
    plan = make_plan(actor("car", speed_mps=10.0), actor("car", y_m=5.0, speed_mps=10.0))
    backend = EmbeddedBackend()
    start = backend.reset(plan)
    backend.apply(controls(2, accel=1.0, steer=0.2, active=[True, False]))
    for _ in range(20):
        state = backend.tick()
    assert state.actors.active.tolist() == [True, False]
    for f in ("x_m", "y_m", "yaw_rad", "speed_mps", "steer_rad"):
        assert getattr(state.actors, f)[1] == getattr(start.actors, f)[1]
    assert state.actors.accel_mps2[1] == 0.0
    backend.apply(controls(2, active=True))
    assert backend.tick().actors.x_m[1] == pytest.approx(10.0 * STEP_S)


def test_width_control_widens_the_box_and_nan_keeps_it():
    plan = make_plan(actor("car"))
    backend = EmbeddedBackend()
    backend.reset(plan)
    backend.apply(controls(1, width=2.8))
    assert backend.tick().actors.width_m[0] == 2.8
    backend.apply(controls(1, width=math.nan))
    state = backend.tick()
    assert state.actors.width_m[0] == 2.8 and state.actors.length_m[0] == SIZES["car"][0]


# --- the backend ----------------------------------------------------------------------------------

def test_reset_builds_the_plan_state():
    plan = make_plan(actor("car", x_m=1.0, y_m=2.0, yaw_deg=90.0, speed_mps=7.0), actor("pedestrian", yaw_deg=-90.0, speed_mps=1.0))
    state = EmbeddedBackend().reset(plan)
    a = state.actors
    assert (state.tick, state.t_s, state.lights) == (0, 0.0, ())
    assert a.x_m.tolist() == [1.0, 0.0] and a.y_m.tolist() == [2.0, 0.0]
    assert a.yaw_rad.tolist() == pytest.approx([math.pi / 2, -math.pi / 2])
    assert a.speed_mps.tolist() == [7.0, 1.0] and a.steer_rad.tolist() == [0.0, 0.0] and a.active.all()
    assert a.width_m.tolist() == [SIZES["car"][1], SIZES["pedestrian"][1]]
    assert not a.x_m.flags.writeable


def test_time_is_tick_times_step_and_lights_come_from_the_last_apply():
    plan = make_plan(actor("car", speed_mps=10.0))
    backend = EmbeddedBackend()
    backend.reset(plan)
    lights = (LightState(id=7, color="Red"),)
    backend.apply(controls(1, lights=lights))
    states = [backend.tick() for _ in range(1000)]
    assert [s.t_s for s in states] == [k * STEP_S for k in range(1, 1001)]
    assert states[-1].lights == lights


def test_backend_misuse_is_a_clear_error_and_close_is_idempotent():
    backend = EmbeddedBackend()
    assert backend.name == "embedded"
    backend.close()
    with pytest.raises(RuntimeError, match="reset"):
        backend.tick()
    backend.reset(make_plan(actor("car"), actor("car", y_m=5.0)))
    with pytest.raises(ValueError, match="accel_mps2"):
        backend.apply(controls(3))
    backend.close()
    backend.close()
    with pytest.raises(RuntimeError):
        backend.apply(controls(2))


def test_limits_from_the_plan():
    with pytest.raises(InputError, match="actor class"):
        LimitArrays.build(["hovercraft"], [None], [3.0])
    limits = LimitArrays.from_plan(make_plan(actor("car", wheelbase_m=None), actor("pedestrian"), actor("prop")))
    assert limits.half_wheelbase_m.tolist() == pytest.approx([0.5 * WHEELBASE_PER_LENGTH * SIZES["car"][0], 0.0, 0.0])
    assert limits.turns_on_spot.tolist() == [False, True, False] and limits.mobile.tolist() == [True, True, False]


def test_two_runs_are_byte_identical():
    rng = np.random.default_rng(3)
    n = 30
    plan = make_plan(*[actor(("car", "truck", "motorcycle", "pedestrian", "prop")[i % 5], x_m=10.0 * i, speed_mps=float(i % 7))
                       for i in range(n)])
    schedule = [controls(n, accel=rng.uniform(-12, 6, n), steer=rng.uniform(-0.8, 0.8, n), heading=rng.uniform(-4, 4, n),
                         width=np.where(rng.random(n) < 0.1, 2.5, np.nan), active=rng.random(n) < 0.95) for _ in range(200)]

    def trace() -> bytes:
        backend = EmbeddedBackend()
        backend.reset(plan)
        chunks = []
        for c in schedule:
            backend.apply(c)
            state = backend.tick()
            chunks += [getattr(state.actors, f).tobytes() for f in FIELDS]
        return b"".join(chunks)

    assert trace() == trace()
