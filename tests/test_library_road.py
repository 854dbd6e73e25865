"""The road and highway scenarios of the library (issue 9) really are their edge cases.

Each compiles for seeds 0..49 (the compiler checks overlaps and lane types), and its `expect`
oracles hold in at least 9 of seeds 0..9 on its builtin map (a 50-seed sweep is the fuller
measure: `edgecase sweep scenarios/FILE --episodes 50`). Lines that need sensor data
(`max_visible_fraction`) are not evaluated here; at least one other line always is.
"""

from __future__ import annotations

import math

import pytest

import edgecase
from edgecase.errors import DoesNotFit
from tests.helpers import SCENARIOS, realized, shared_map

ROAD_SCENARIOS = [
    "construction_zone_lane_shift",
    "wrong_way_driver",
    "stalled_after_curve",
    "cut_out_reveals_stalled",
    "dense_highway_merge",
    "lost_cargo_truck",
    "overtake_into_oncoming",
]


@pytest.fixture(scope="module", params=sorted(ROAD_SCENARIOS))
def scenario(request):
    return request.param, edgecase.load(SCENARIOS / f"{request.param}.yaml")


def test_seeds_0_to_49_compile(scenario):
    name, sc = scenario
    for seed in range(50):
        plan = edgecase.compile(sc, seed)
        assert plan.seed == seed
        assert any(a.role == "ego" for a in plan.actors)


def test_edge_case_is_realized_in_9_of_10_seeds(scenario):
    name, sc = scenario
    held, failures = realized(sc, range(10))
    assert held >= 9, f"{name}: {held}/10 held; failures: {failures[:5]}"



def _on_town(tmp_path, name: str, town: str):
    file = tmp_path / f"{name}_{town}.yaml"
    file.write_text(f"extends: {SCENARIOS / (name + '.yaml')}\nmap: {shared_map(town)}\n")
    return edgecase.load(file)


def test_the_bend_placements_find_the_builtin_curve():
    """before_bend_m / past_bend_m measure from the bend the map has: builtin:curve's runs s 150-205 on road 0."""
    plan = edgecase.compile(edgecase.load(SCENARIOS / "stalled_after_curve.yaml"), 0)
    ego, stalled = (next(a for a in plan.actors if a.name == n) for n in ("ego", "stalled"))
    assert ego.lane.s_m == pytest.approx(150.0 - plan.params["before_bend_m"], abs=2.0)
    assert stalled.lane.s_m == pytest.approx(205.0 + plan.params["past_bend_m"], abs=2.0)


@pytest.mark.parametrize("town", ["Town01", "Town10HD"])
def test_stalled_after_curve_finds_a_bend_on_the_towns(tmp_path, town):
    """On a town the search finds a lane with a bend ahead: the stalled car's heading differs from the
    ego's by the bend (45 degrees or more), and the edge case holds."""
    sc = _on_town(tmp_path, "stalled_after_curve", town)
    for seed in range(3):
        plan = edgecase.compile(sc, seed)
        ego, stalled = (next(a for a in plan.actors if a.name == n) for n in ("ego", "stalled"))
        turned = abs(math.remainder(stalled.pose.yaw_deg - ego.pose.yaw_deg, 360.0))
        assert turned >= 45.0, f"seed {seed}: no bend between the ego and the stalled car ({turned:.0f} degrees)"
    held, failures = realized(sc, range(5))
    assert held >= 4, failures


@pytest.mark.parametrize("name", ["aggressive_cut_in", "cut_out_reveals_stalled", "construction_zone_lane_shift", "dense_highway_merge"])
def test_multi_lane_scenarios_give_a_clear_error_on_a_two_lane_town(tmp_path, name):
    """Town01 has one lane each way: a scenario that needs a lane beside the ego's does not fit, and
    says which lane is missing, rather than running a wrong episode."""
    with pytest.raises(DoesNotFit, match=r"no '(left|right)' lane beside"):
        edgecase.compile(_on_town(tmp_path, name, "Town01"), 0)


@pytest.mark.parametrize(("name", "why"), [("aggressive_cut_in", "'right' lane beside"), ("cut_out_reveals_stalled", "straight_ahead_m")])
def test_what_town10hd_lacks_is_a_clear_error(tmp_path, name, why):
    """Town10HD has two lanes each way at most (no lane with a lane on both sides) and no straight
    multi-lane stretch of 200 m and more (its loop turns every ~120 m): a clear error, not a wrong episode."""
    with pytest.raises(DoesNotFit, match=rf"no place on map 'Town10HD' fits this scenario.*{why}"):
        edgecase.compile(_on_town(tmp_path, name, "Town10HD"), 0)


@pytest.mark.parametrize(("name", "town"), [("construction_zone_lane_shift", "Town10HD"), ("lost_cargo_truck", "Town01")])
def test_highway_scenarios_run_on_a_town_that_has_their_lanes(tmp_path, name, town):
    held, failures = realized(_on_town(tmp_path, name, town), range(5))
    assert held >= 4, f"{name} on {town}: {held}/5; {failures[:3]}"
