"""Geometry and metrics: boxes against shapely, TTC/PET/distance against closed forms, map metrics."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import shapely

from edgecase.plan.model import ActorPlan, BehaviorPlan, EpisodePlan, LaneAnchor, MapRef, Pose, Size, TriggerPlan, WeatherPlan
from edgecase.roads import RoadNetwork
from edgecase.sim import geometry, metrics
from edgecase.sim.state import ActorStates
from edgecase.sim.trace import FIELDS, LIGHT_COLORS, Trace

STEP_S = 0.05
RED, GREEN = LIGHT_COLORS.index("Red"), LIGHT_COLORS.index("Green")
_DEFAULTS = {"yaw_rad": 0.0, "speed_mps": 0.0, "accel_mps2": 0.0, "steer_rad": 0.0, "length_m": 4.0, "width_m": 2.0,
             "height_m": 1.5, "active": True, "box_offset_m": 0.0, "light_state": 0}


# --- builders (test_oracles.py uses them too) ----------------------------------------------------


def ticks(duration_s: float, step_s: float = STEP_S) -> np.ndarray:
    return np.arange(round(duration_s / step_s) + 1) * step_s


def make_trace(t_s: np.ndarray, actors: dict[str, dict], light_ids=(), light_codes=None, events=()) -> Trace:
    """A Trace from per-actor fields, each a scalar or a (T,) array; unset fields take _DEFAULTS."""
    columns = {}
    for field in FIELDS:
        values = [spec.get(field, _DEFAULTS.get(field)) for spec in actors.values()]
        rows = [np.broadcast_to(np.asarray(value, dtype=float), t_s.shape) for value in values]
        columns[field] = np.stack(rows, axis=1)
    columns["active"] = columns["active"].astype(bool)
    columns["light_state"] = columns["light_state"].astype(np.uint32)
    codes = np.zeros((len(t_s), len(light_ids)), dtype=np.int8) if light_codes is None else np.asarray(light_codes, dtype=np.int8)
    return Trace(names=tuple(actors), t_s=t_s, light_ids=tuple(light_ids), light_codes=codes, events=tuple(events), **columns)


def moving(t_s: np.ndarray, x0: float, y0: float, yaw_rad: float, speed_mps: float, **extra) -> dict:
    """An actor at constant velocity along its heading (CARLA frame: yaw turns +x towards +y)."""
    return {"x_m": x0 + speed_mps * math.cos(yaw_rad) * t_s, "y_m": y0 + speed_mps * math.sin(yaw_rad) * t_s,
            "yaw_rad": yaw_rad, "speed_mps": speed_mps, **extra}


def actor_plan(name: str, role: str = "background", actor_class: str = "car", lane_kind: str | None = "driving",
               behaviors: tuple[BehaviorPlan, ...] = ()) -> ActorPlan:
    lane = LaneAnchor(road_id=0, lane_id=-1, s_m=0.0, kind=lane_kind, width_m=3.5) if lane_kind else None
    return ActorPlan(
        id=1, name=name, role=role, blueprint="vehicle.test", actor_class=actor_class, semantic_tag=14,
        size=Size(length_m=4.0, width_m=2.0, height_m=1.5), wheelbase_m=2.8, pose=Pose(x_m=0, y_m=0, z_m=0, yaw_deg=0),
        lane=lane, speed_mps=0.0, behaviors=behaviors,
    )


def make_plan(actors: list[ActorPlan], expect: tuple[str, ...] = (), map_source: str = "builtin:urban_straight") -> EpisodePlan:
    return EpisodePlan(
        scenario="test", scenario_sha256="0" * 64, seed=0, map=MapRef(source=map_source, name=map_source, sha256="0" * 64),
        duration_s=10.0, step_s=STEP_S, weather=WeatherPlan(preset="ClearNoon", params={}), params={},
        actors=tuple(actors), expect=expect,
    )


def step(name: str, after_s: float | None = None) -> BehaviorPlan:
    trigger = TriggerPlan(kind="after_s", after_s=after_s) if after_s is not None else None
    return BehaviorPlan(name=name, params={}, trigger=trigger)


# --- geometry ------------------------------------------------------------------------------------


def test_corners_follow_carla_frame():
    box = geometry.corners(10.0, 5.0, 0.0, 4.0, 2.0)
    np.testing.assert_allclose(box, [[12, 4], [12, 6], [8, 6], [8, 4]])  # FL, FR, RR, RL; +y is right
    turned = geometry.corners(0.0, 0.0, math.pi / 2, 4.0, 2.0)  # facing +y: its right is -x
    np.testing.assert_allclose(turned, [[1, 2], [-1, 2], [-1, -2], [1, -2]], atol=1e-12)
    assert geometry.corners(np.zeros((3, 5)), 0, 0, 1, 1).shape == (3, 5, 4, 2)


def _random_boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    return geometry.corners(rng.uniform(-4, 4, n), rng.uniform(-4, 4, n), rng.uniform(-math.pi, math.pi, n),
                            rng.uniform(0.2, 8.0, n), rng.uniform(0.2, 3.0, n))


def test_overlap_and_distance_agree_with_shapely_on_10000_pairs():
    rng = np.random.default_rng(20240611)
    a, b = _random_boxes(rng, 10_000), _random_boxes(rng, 10_000)
    pa, pb = shapely.polygons(a), shapely.polygons(b)
    ours, theirs = geometry.overlaps(a, b), shapely.intersects(pa, pb)
    area, gap = shapely.area(shapely.intersection(pa, pb)), shapely.distance(pa, pb)
    touching = (area < 1e-9) & (gap < 1e-9)  # exactly touching: either answer is a rounding of the same fact
    assert 2_000 < theirs.sum() < 8_000  # both outcomes well represented
    assert np.array_equal(ours[~touching], theirs[~touching])
    np.testing.assert_allclose(geometry.box_distance_m(a, b), gap, atol=1e-6)


def test_distance_of_simple_layouts():
    left, right = geometry.corners(0.0, 0.0, 0.0, 4.0, 2.0), geometry.corners(0.0, 3.5, 0.0, 4.0, 2.0)
    assert geometry.box_distance_m(left, right) == pytest.approx(1.5)  # side by side: 3.5 - 1 - 1
    diamond = geometry.corners(5.0, 0.0, math.pi / 4, math.sqrt(2), math.sqrt(2))  # a corner points at x = 4
    assert geometry.box_distance_m(left, diamond) == pytest.approx(2.0)
    assert geometry.box_distance_m(left, left) == 0.0


def test_time_to_overlap_is_exact_against_fine_sampling():
    """Boxes at the reported TTC just touch, a hair earlier they do not, and sampling never finds earlier contact."""
    rng = np.random.default_rng(7)
    n, horizon_s = 300, 10.0
    a, b = _random_boxes(rng, n), _random_boxes(rng, n) + np.array([15.0, 0.0])
    velocity = rng.uniform(-5, 5, (n, 2)) + np.array([-6.0, 0.0])
    ttc = geometry.time_to_overlap_s(a, b, velocity, horizon_s)
    assert 50 < np.isfinite(ttc).sum() < n
    hit = np.isfinite(ttc) & (ttc > 0)
    shifted = lambda t: b[hit] + (velocity[hit] * t[:, None])[:, None, :]  # noqa: E731
    assert geometry.overlaps(a[hit], shifted(ttc[hit] + 1e-9)).all()
    assert not geometry.overlaps(a[hit], shifted(ttc[hit] - 1e-6)).any()
    samples = np.linspace(0.0, horizon_s, 2001)
    moved = b[:, None] + velocity[:, None, None, :] * samples[None, :, None, None]
    sampled = geometry.overlaps(a[:, None], moved)
    first = np.where(sampled.any(axis=1), samples[np.argmax(sampled, axis=1)], np.inf)
    assert (ttc <= first + 1e-9).all()  # sampling can miss a graze, never an earlier contact


# --- TTC, distance, collisions ---------------------------------------------------------------------


def test_ttc_head_on_is_gap_over_closing_speed():
    t_s = ticks(3.0)
    trace = make_trace(t_s, {"a": moving(t_s, 0.0, 0.0, 0.0, 10.0), "b": moving(t_s, 50.0, 0.0, math.pi, 15.0)})
    ttc = metrics.ttc_s(trace, 0, 1)
    closing = t_s < 46.0 / 25.0
    np.testing.assert_allclose(ttc[closing], 46.0 / 25.0 - t_s[closing], atol=1e-9)  # gap 50 - 4, closing 25 m/s
    assert (ttc[~closing & (t_s < 2.0)] == 0.0).all()  # overlapping
    np.testing.assert_allclose(metrics.distance_m(trace, 0, 1)[closing], 46.0 - 25.0 * t_s[closing], atol=1e-9)


def test_ttc_following_a_slower_leader():
    t_s = ticks(1.0)
    trace = make_trace(t_s, {"follower": moving(t_s, 0.0, 1.75, 0.0, 20.0, length_m=4.5),
                             "leader": moving(t_s, 30.0, 1.75, 0.0, 10.0, length_m=4.5)})
    np.testing.assert_allclose(metrics.ttc_s(trace, 0, 1), (25.5 - 10.0 * t_s) / 10.0, atol=1e-9)
    np.testing.assert_allclose(metrics.ttc_s(trace, 1, 0), metrics.ttc_s(trace, 0, 1))  # symmetric


def test_ttc_inf_when_never_closing_passing_clear_or_beyond_horizon():
    t_s = ticks(4.0)
    trace = make_trace(t_s, {
        "ego": moving(t_s, 0.0, 0.0, 0.0, 10.0),
        "faster_leader": moving(t_s, 20.0, 0.0, 0.0, 15.0),
        "oncoming_next_lane": moving(t_s, 60.0, 3.5, math.pi, 10.0),  # 3.5 m apart, 2 m wide: passes clear
        "far": moving(t_s, 400.0, 0.0, 0.0, 0.0),  # closing at 10 m/s from 356+ m: TTC > 35 s > 10 s
    })
    for other in (1, 2, 3):
        assert np.isinf(metrics.ttc_s(trace, 0, other)).all()
    assert metrics.distance_m(trace, 0, 2).min() == pytest.approx(1.5)


def test_inactive_actor_has_no_box():
    t_s = ticks(1.0)
    trace = make_trace(t_s, {"a": {"x_m": 0.0}, "b": {"x_m": 1.0, "active": t_s >= 0.5}})
    assert np.array_equal(metrics.collisions(trace, 0, 1), t_s >= 0.5)
    assert np.isinf(metrics.distance_m(trace, 0, 1)[t_s < 0.5]).all()
    assert np.isinf(metrics.ttc_s(trace, 0, 1)[t_s < 0.5]).all()
    assert np.array_equal(metrics.any_collision(trace, 0), t_s >= 0.5)


def _states(**fields) -> ActorStates:
    n = len(fields["x_m"])
    base = {f: np.full(n, v, dtype=float) for f, v in _DEFAULTS.items()}
    base["active"] = np.ones(n, dtype=bool)
    return ActorStates(**{**base, **{k: np.asarray(v) for k, v in fields.items()}})


def test_collision_pairs_on_a_hand_made_scene():
    states = _states(x_m=[0.0, 3.9, 50.0, 5.0, 0.0], y_m=[0.0, 0.5, 0.0, 0.0, 2.0],
                     yaw_rad=[0.0, 0.3, 0.0, 0.0, 0.0], active=[True, True, True, False, True])
    # 0-1 overlap (nose to tail, 1 rotated); 3 would hit 1 but is inactive; 4 touches 0 side to side
    assert metrics.collision_pairs(states) == [(0, 1), (0, 4)]
    assert metrics.collision_pairs(states, active=np.array([True, True, True, True, False])) == [(0, 1), (1, 3)]


def test_collision_pairs_agree_with_brute_force_and_are_fast_for_100_actors():
    rng = np.random.default_rng(3)
    n = 100
    states = _states(x_m=rng.uniform(0, 120, n), y_m=rng.uniform(0, 40, n), yaw_rad=rng.uniform(-3, 3, n),
                     length_m=rng.uniform(0.5, 6, n), width_m=rng.uniform(0.5, 2.5, n), active=rng.random(n) < 0.9)
    box = geometry.corners(states.x_m, states.y_m, states.yaw_rad, states.length_m, states.width_m)
    expected = [(i, j) for i in range(n) for j in range(i + 1, n)
                if states.active[i] and states.active[j] and geometry.overlaps(box[i], box[j])]
    assert metrics.collision_pairs(states) == expected and expected
    started = time.perf_counter()
    for _ in range(200):
        metrics.collision_pairs(states)
    assert (time.perf_counter() - started) / 200 < 2e-3


# --- PET ----------------------------------------------------------------------------------------


def test_pet_of_two_crossing_paths():
    """a (4 x 2 m, along x) occupies the 2 x 2 m crossing square while x in (-3, 3): leaves at 5.3 s;
    b (along y) enters it when y = -3: at 5.7 s. PET 0.4 s, to one tick."""
    t_s = ticks(10.0)
    trace = make_trace(t_s, {"a": moving(t_s, -50.0, 0.0, 0.0, 10.0), "b": moving(t_s, 0.0, -60.0, math.pi / 2, 10.0)})
    found = metrics.post_encroachment(trace, 0, 1)
    assert found.pet_s == pytest.approx(0.4, abs=STEP_S + 1e-9)
    assert found.first == 0 and found.exit_t_s == pytest.approx(5.3, abs=STEP_S + 1e-9)
    assert found.entry_t_s == pytest.approx(5.7, abs=STEP_S + 1e-9)
    assert metrics.pet_s(trace, 1, 0) == found.pet_s


def test_pet_zero_when_both_occupy_the_area_and_inf_when_paths_never_meet():
    t_s = ticks(10.0)
    crash = make_trace(t_s, {"a": moving(t_s, -50.0, 0.0, 0.0, 10.0), "b": moving(t_s, 0.0, -50.0, math.pi / 2, 10.0)})
    assert metrics.pet_s(crash, 0, 1) == 0.0
    parallel = make_trace(t_s, {"a": moving(t_s, 0.0, 0.0, 0.0, 10.0), "b": moving(t_s, 0.0, 3.5, 0.0, 12.0)})
    assert math.isinf(metrics.pet_s(parallel, 0, 1))


# --- one actor, against the map --------------------------------------------------------------------


def test_decel_is_the_negative_part_of_the_applied_acceleration():
    t_s = ticks(1.0)
    trace = make_trace(t_s, {"a": {"accel_mps2": np.where(t_s < 0.5, 2.0, -6.5)}})
    assert metrics.decel_mps2(trace, 0).max() == 6.5 and metrics.decel_mps2(trace, 0)[0] == 0.0


@pytest.fixture(scope="module")
def urban() -> RoadNetwork:
    return RoadNetwork.load("builtin:urban_straight")  # driving lane -1: y in [0, 3.5]; parking -2: [3.5, 6]


@pytest.fixture(scope="module")
def junction4() -> RoadNetwork:
    return RoadNetwork.load("builtin:junction4")  # light 1 rules road 0 lane -1, entering the junction at x = 14


def test_lane_departure_when_a_corner_crosses_the_lane_edge(urban):
    t_s = ticks(4.0)
    drift_y = 1.75 + np.clip(t_s - 1.0, 0.0, None) * 1.0  # drifts right at 1 m/s from t = 1 s
    trace = make_trace(t_s, {"car": {"x_m": 50.0 + 10 * t_s, "y_m": drift_y, "width_m": 1.8, "speed_mps": 10.0}})
    plan = make_plan([actor_plan("car")])
    departed = metrics.lane_departure(trace, 0, plan, urban)
    first = t_s[np.argmax(departed)]
    assert first == pytest.approx(1.85, abs=STEP_S + 1e-9)  # corner at y = 1.75 + 0.9 + (t - 1) > 3.5
    assert departed[t_s >= first].all() and not departed[t_s < first].any()


def test_off_road_outside_driving_parking_shoulder_and_biking_lanes(urban):
    t_s = ticks(1.0)
    y = np.array([1.75, 4.75, 7.0, -1.75])  # driving, parking, sidewalk, the other driving lane
    trace = make_trace(t_s, {f"p{k}": {"x_m": 100.0, "y_m": v} for k, v in enumerate(y)})
    assert [bool(metrics.off_road(trace, k, urban).all()) for k in range(4)] == [False, False, True, False]


def test_ran_red_light_on_entering_a_signalized_junction(junction4):
    t_s = ticks(4.0)
    car = moving(t_s, 40.0, -1.75, math.pi, 10.0)  # road 0 lane -1, towards the junction (edge near x = 14)
    lights = (1, 4)
    entry_s = (40.0 - 14.0) / 10.0

    def run(codes) -> np.ndarray:
        trace = make_trace(t_s, {"car": car}, light_ids=lights, light_codes=np.broadcast_to(codes, (len(t_s), 2)))
        return metrics.ran_red_light(trace, 0, junction4)

    red = run([RED, GREEN])
    assert red.sum() == 1 and t_s[np.argmax(red)] == pytest.approx(entry_s, abs=STEP_S + 1e-9)
    assert not run([GREEN, RED]).any()  # another approach's light
    assert metrics.governing_lights(junction4, 0, -1) == frozenset({1})


def test_episode_metrics_summary_is_json_ready(urban):
    t_s = ticks(3.0)
    trace = make_trace(t_s, {
        "ego": moving(t_s, 20.0, 1.75, 0.0, 10.0, accel_mps2=np.where(t_s > 2, -4.0, 0.0)),
        "leader": moving(t_s, 45.0, 1.75, 0.0, 0.0),
        "walker": {"x_m": 200.0, "y_m": 7.0, "length_m": 0.5, "width_m": 0.5},
    })
    walker = actor_plan("walker", actor_class="pedestrian", lane_kind="sidewalk")
    plan = make_plan([actor_plan("ego", "ego"), actor_plan("leader"), walker])
    summary = metrics.episode_metrics(plan, trace, urban)
    assert [p.actors for p in summary.pairs] == [("ego", "leader"), ("ego", "walker")]
    assert summary.pairs[0].min_ttc_s == 0.0 and summary.pairs[1].min_ttc_s == math.inf
    first_touch = (45.0 - 20.0 - 4.0) / 10.0
    assert [(c.actors, c.first_t_s) for c in summary.collisions] == [(("ego", "leader"), pytest.approx(first_touch, abs=STEP_S))]
    ego, leader, walker = summary.actors
    assert ego.max_decel_mps2 == 4.0 and ego.map_checked and ego.lane_departure_t_s is None and ego.off_road_t_s is None
    assert not leader.map_checked and not walker.map_checked  # the leader never moves; walkers are not on lanes
    import json

    text = json.dumps(summary.to_json(), allow_nan=False)
    assert '"min_ttc_s": null' in text and '"min_distance_m"' in text


def test_ran_red_light_through_every_signalized_approach_of_a_carla_town(shared_maps):
    """CARLA towns put the lights' references on the junction's connecting roads, not the approaches."""
    town = RoadNetwork.load(str(shared_maps / "Town10HD.xodr"))
    lights = sorted({int(s.id) for s in town.xodr.signals if s.type == "1000001" and not s.is_reference})
    approaches = [a for j in town.junctions() if j.signalized for a in j.approaches]
    assert len(approaches) >= 20
    for a in approaches:
        start = town.advance(town.point(a.road_id, a.lane_id, a.s_m), -30.0)
        path = [p for p in (town.advance(start, d) for d in np.arange(0.0, 60.0, 0.5)) if p is not None]
        t_s = np.arange(len(path)) * STEP_S
        car = {"x_m": np.array([p.x_m for p in path]), "y_m": np.array([p.y_m for p in path]),
               "yaw_rad": np.radians([p.yaw_deg for p in path]), "speed_mps": 10.0}
        for color, violations in ((RED, 1), (GREEN, 0)):
            codes = np.full((len(t_s), len(lights)), color)
            trace = make_trace(t_s, {"car": car}, light_ids=lights, light_codes=codes)
            assert metrics.ran_red_light(trace, 0, town).sum() == violations, (a, color)


def test_time_headway_is_the_bumper_gap_over_the_followers_speed():
    t = ticks(2.0)
    follower = moving(t, 0.0, 0.0, 0.0, 10.0)  # 4.5 m long cars by default in this file's helpers
    leader = moving(t, 24.5, 0.0, 0.0, 10.0)
    beside = moving(t, 24.5, 3.5, 0.0, 10.0)  # the next lane: not in the follower's path
    trace = make_trace(t, {"f": follower, "l": leader, "b": beside})
    gap_m = 24.5 - (trace.length_m[0, 0] + trace.length_m[0, 1]) / 2
    assert metrics.thw_s(trace, 0, 1) == pytest.approx(np.full(len(t), gap_m / 10.0))
    assert np.all(np.isinf(metrics.thw_s(trace, 0, 2)))
    assert np.all(np.isinf(metrics.thw_s(trace, 1, 0)))  # the leader has nobody ahead
