"""`expect` oracles on hand-built traces: each oracle kind, windows, and/or/not, unknowns."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgecase.roads import RoadNetwork
from edgecase.sim.oracles import NEEDS_MAP, NEEDS_SENSORS, OracleResult, Visibility, actor_start_s, evaluate_expect, verdict
from edgecase.sim.trace import LIGHT_COLORS, Event
from tests.test_metrics import STEP_S, actor_plan, make_plan, make_trace, moving, step, ticks

T_S = ticks(6.0)
# ego at 10 m/s along lane -1; its front at 2 + 10 t, the child's near edge at 79.75: gap 77.75 - 10 t
EGO = moving(T_S, 0.0, 1.75, 0.0, 10.0, accel_mps2=np.where(T_S > 4.0, -3.0, 0.0))
CHILD = {"x_m": 80.0, "y_m": 1.75, "length_m": 0.5, "width_m": 0.5}
# the cutter rides beside the ego and swerves into it for t in [3, 3.5]
CUTTER = moving(T_S, 3.0, 0.0, 0.0, 10.0) | {"y_m": np.where((T_S >= 3.0) & (T_S <= 3.5 + 1e-9), 1.75, 5.25)}
PARKED = {"x_m": 300.0, "y_m": 4.75}
EVENTS = (
    Event(0, 0.0, "behavior_start", "ego", "follow_lane"),
    Event(0, 0.0, "behavior_start", "cutter", "follow_lane"),
    Event(40, 2.0, "trigger", "child", "after_s"),
    Event(40, 2.0, "behavior_start", "child", "cross"),
    Event(100, 5.0, "behavior_end", "child", "cross"),
)


@pytest.fixture(scope="module")
def urban() -> RoadNetwork:
    return RoadNetwork.load("builtin:urban_straight")


def evaluate(*lines: str, network: RoadNetwork | None = None, visibility: Visibility | None = None) -> dict[str, OracleResult]:
    plan = make_plan([
        actor_plan("ego", "ego", behaviors=(step("follow_lane"),)),
        actor_plan("child", "adversary", "pedestrian", "parking", behaviors=(step("cross", after_s=2.0),)),
        actor_plan("cutter", "adversary", behaviors=(step("follow_lane"), step("cut_in", after_s=2.5), step("follow_lane"))),
        actor_plan("parked[0]", lane_kind="parking"),
    ], expect=lines)
    trace = make_trace(T_S, {"ego": EGO, "child": CHILD, "cutter": CUTTER, "parked[0]": PARKED}, events=EVENTS)
    results = evaluate_expect(plan, trace, network, visibility)
    assert [r.expr for r in results] == list(lines)
    return dict(zip(lines, results))


def test_min_ttc_with_windows_at_an_actor_start():
    r = evaluate("min_ttc_s(ego, child) < 2.5", "min_ttc_s(ego, child, before=child.start) < 2.5",
                 "min_ttc_s(ego, child, after=child.start, before=child.end) < 3")
    whole, before, between = r.values()
    assert whole.passed is True and whole.actual == pytest.approx(7.775 - 6.0) and whole.threshold == 2.5 and whole.unit == "s"
    assert before.passed is False and before.actual == pytest.approx(7.775 - 1.95)  # ticks t < 2.0
    assert before.first_violation_t_s is None  # failed by absence: no tick to blame
    assert between.passed is True and between.actual == pytest.approx(7.775 - 4.95)  # 2.0 <= t < 5.0


def test_min_distance_reports_the_first_tick_that_broke_it():
    r = evaluate("min_distance_m(ego, child) > 20", "min_distance_m(ego, child, before=3) > 20",
                 "20 < min_distance_m(ego, child, after=3)")
    whole, early, flipped = r.values()
    assert whole.passed is False and whole.actual == pytest.approx(17.75) and whole.unit == "m"
    assert whole.first_violation_t_s == pytest.approx(5.8)  # 77.75 - 10 t <= 20 from t = 5.775
    assert early.passed is True and early.first_violation_t_s is None
    assert flipped.passed is False and flipped.threshold == 20.0 and flipped.first_violation_t_s == pytest.approx(5.8)


def test_collision_oracles_and_not():
    r = evaluate("not collision(ego, cutter)", "collision(ego, child)", "any_collision(ego)", "any_collision(child)",
                 "not collision(ego, child)")
    assert r["not collision(ego, cutter)"].passed is False
    assert r["not collision(ego, cutter)"].actual is True
    assert r["not collision(ego, cutter)"].first_violation_t_s == pytest.approx(3.0)
    assert r["collision(ego, child)"].passed is False and r["collision(ego, child)"].first_violation_t_s is None
    assert r["any_collision(ego)"].passed is True and r["any_collision(child)"].passed is False
    assert r["not collision(ego, child)"].passed is True


def test_max_decel_with_windows():
    r = evaluate("max_decel_mps2(ego) >= 3", "max_decel_mps2(ego, before=4) < 1", "max_decel_mps2(ego) < 2")
    hard, calm_before, soft = r.values()
    assert hard.passed is True and hard.actual == 3.0 and hard.unit == "m/s2"
    assert calm_before.passed is True and calm_before.actual == 0.0
    assert soft.passed is False and soft.first_violation_t_s == pytest.approx(4.05)


def test_started_uses_the_first_triggered_behavior():
    r = evaluate("started(child)", "started(ego)", "started(cutter)", "not started(cutter)")
    assert [x.passed for x in r.values()] == [True, True, False, True]


def test_an_actor_time_that_never_came_gives_an_empty_after_window():
    r = evaluate("min_ttc_s(ego, child, after=cutter.start) < 100", "min_ttc_s(ego, child, before=cutter.start) < 100")
    after, before = r.values()
    assert after.passed is False and after.actual == math.inf and "cutter.start never happened" in after.note
    assert before.passed is True and before.actual == pytest.approx(1.775)


def test_max_visible_fraction_is_reported_not_evaluated():
    r = evaluate("max_visible_fraction(child, before=child.start) < 0.3")
    (result,) = r.values()
    assert result.passed is None and result.actual is None and result.threshold == 0.3
    assert result.note == NEEDS_SENSORS and result.first_violation_t_s is None


def test_max_visible_fraction_reads_the_cameras_visibility_within_its_window():
    """Frames every 10 ticks (0.5 s); the child is glimpsed (0.2) before it starts at 2 s, then seen whole."""
    frame_ticks = np.arange(0, len(T_S), 10)
    seen = np.where(T_S[frame_ticks] < 2.0, 0.2, 1.0)
    seen[0] = 0.0
    visibility = Visibility(frame_ticks, {"child": seen})
    r = evaluate("max_visible_fraction(child, before=child.start) < 0.3", "max_visible_fraction(child) < 0.3",
                 "max_visible_fraction(cutter) < 0.3", visibility=visibility)
    before, whole, never_seen = r.values()
    assert before.passed is True and before.actual == pytest.approx(0.2)
    assert whole.passed is False and whole.actual == pytest.approx(1.0) and whole.first_violation_t_s == pytest.approx(2.0)
    assert never_seen.passed is True and never_seen.actual == 0.0  # out of every camera's view: nothing visible


def test_and_or_not_are_three_valued():
    unknown = "max_visible_fraction(child) < 0.3"
    r = evaluate(f"{unknown} and min_ttc_s(ego, child) > 100", f"{unknown} or min_ttc_s(ego, child) < 2.5",
                 f"{unknown} and min_ttc_s(ego, child) < 2.5", f"not ({unknown})",
                 "min_distance_m(ego, child) > 20 and not collision(ego, cutter)",
                 "min_distance_m(ego, child) > 20 or not collision(ego, cutter)",
                 "min_ttc_s(ego, child) < 2.5 and not any_collision(child)")
    values = list(r.values())
    assert [x.passed for x in values] == [False, True, None, None, False, False, True]
    assert values[0].note == NEEDS_SENSORS  # the unknown part is named even where it did not matter
    assert values[4].first_violation_t_s == pytest.approx(3.0)  # the earlier of the two failures
    assert values[5].first_violation_t_s == pytest.approx(5.8)  # failed once both parts had
    assert values[4].actual is False and values[4].threshold is None and values[4].unit == ""


def test_verdict_counts_only_evaluated_lines():
    r = evaluate("min_ttc_s(ego, child) < 2.5", "max_visible_fraction(child) < 0.3")
    assert verdict(r.values()) is True
    r = evaluate("min_ttc_s(ego, child) > 2.5", "max_visible_fraction(child) < 0.3")
    assert verdict(r.values()) is False


def test_arithmetic_names_and_missing_actors():
    r = evaluate("min_ttc_s(ego, child) * 2 < 4", "-min_ttc_s(ego, child) > -2", "min_distance_m(ego, parked) > 100",
                 "min_distance_m(ego, parked[0]) > 100", "min_ttc_s(ego, ghost) < 1")
    products, negated, bare, indexed, ghost = r.values()
    assert products.passed is True and products.actual is True  # not one call compared with a number
    assert negated.passed is True
    assert bare.passed is True and bare.actual == indexed.actual == pytest.approx(300.0 - 60.0 - 2.0 - 2.0, abs=0.5)
    assert ghost.passed is None and "no actor 'ghost[0]'" in ghost.note


def test_map_oracles_need_the_network(urban):
    lines = ("lane_departure(ego)", "off_road(ego)", "ran_red_light(ego)", "lane_departure(cutter)")
    r = evaluate(*lines, network=urban)
    assert [x.passed for x in r.values()] == [False, False, False, True]
    assert r["lane_departure(cutter)"].first_violation_t_s is None  # a bool that held has no violation
    missing = evaluate(*lines)
    assert all(x.passed is None and x.note == NEEDS_MAP for x in missing.values())


def test_ran_red_light_oracle():
    network = RoadNetwork.load("builtin:junction4")
    t_s = ticks(4.0)
    plan = make_plan([actor_plan("ego", "ego")], expect=("not ran_red_light(ego)",), map_source="builtin:junction4")
    red = np.full((len(t_s), 1), LIGHT_COLORS.index("Red"))
    trace = make_trace(t_s, {"ego": moving(t_s, 40.0, -1.75, math.pi, 10.0)}, light_ids=(1,), light_codes=red)
    (result,) = evaluate_expect(plan, trace, network)
    assert result.passed is False and result.first_violation_t_s == pytest.approx(2.6, abs=STEP_S + 1e-9)


def test_min_pet_of_crossing_paths():
    t_s = ticks(10.0)
    trace = make_trace(t_s, {"a": moving(t_s, -50.0, 0.0, 0.0, 10.0), "b": moving(t_s, 0.0, -60.0, math.pi / 2, 10.0)})
    plan = make_plan([actor_plan("a", "ego"), actor_plan("b")], expect=("min_pet_s(a, b) < 0.5", "min_pet_s(a, b) > 1"))
    fast, slow = evaluate_expect(plan, trace)
    assert fast.passed is True and fast.actual == pytest.approx(0.4, abs=STEP_S + 1e-9) and fast.unit == "s"
    assert slow.passed is False and slow.first_violation_t_s == pytest.approx(5.7, abs=STEP_S + 1e-9)


def test_actor_start_matches_steps_by_name_or_else_by_position():
    plan = make_plan([actor_plan("cutter", behaviors=(step("follow_lane"), step("cut_in", after_s=2.5), step("follow_lane")))])
    named = (Event(0, 0.0, "behavior_start", "cutter", "follow_lane"), Event(50, 2.5, "behavior_start", "cutter", "cut_in"),
             Event(90, 4.5, "behavior_start", "cutter", "follow_lane"))
    trace = make_trace(T_S, {"cutter": {}}, events=named)
    assert actor_start_s(plan, trace, "cutter") == 2.5
    numbered = tuple(Event(e.tick, e.t_s, e.kind, e.actor, f"step {n}") for n, e in enumerate(named))
    assert actor_start_s(plan, make_trace(T_S, {"cutter": {}}, events=numbered), "cutter") == 2.5
    assert actor_start_s(plan, make_trace(T_S, {"cutter": {}}, events=named[:1]), "cutter") is None


def test_starter_scenario_lines_evaluate():
    r = evaluate("min_ttc_s(ego, child) < 2.5", "max_visible_fraction(child, before=child.start) < 0.3",
                 "not collision(ego, child)")
    assert [x.passed for x in r.values()] == [True, None, True]
