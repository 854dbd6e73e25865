"""The compiler: deterministic, JSON round-trips, places actors exactly, meets criticality targets."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

import edgecase
from edgecase.plan import EpisodePlan
from edgecase.roads import LaneKind, RoadNetwork
from tests.helpers import REPO, SCENARIOS, lane_polyline, project, shared_map

CHILD = SCENARIOS / "occluded_child_dartout.yaml"
CUT_IN = SCENARIOS / "aggressive_cut_in.yaml"


def test_same_scenario_and_seed_give_the_same_plan_in_two_processes():
    code = f"import edgecase; print(edgecase.compile({str(CHILD)!r}, 7).content_hash())"
    hashes = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout.strip() for _ in range(2)}
    assert len(hashes) == 1
    assert hashes == {edgecase.compile(CHILD, 7).content_hash()}


def test_different_seeds_give_different_plans():
    scenario = edgecase.load(CHILD)
    plans = [edgecase.compile(scenario, seed) for seed in range(20)]
    assert len({p.content_hash() for p in plans}) == 20
    assert len({p.params["ego_speed_mps"] for p in plans}) == 20


def test_plan_round_trips_through_json_and_is_frozen():
    plan = edgecase.compile(CUT_IN, 3)
    again = EpisodePlan.model_validate_json(plan.model_dump_json())
    assert again == plan and again.content_hash() == plan.content_hash()
    with pytest.raises(Exception):
        plan.seed = 4  # type: ignore[misc]
    assert hash(plan) == hash(again)


def test_overrides_fix_a_param():
    plan = edgecase.compile(CUT_IN, 3, overrides={"time_gap_s": 0.5})
    assert plan.params["time_gap_s"] == 0.5 and plan.criticality.target_s == 0.5


def test_every_random_choice_is_in_the_plan():
    plan = edgecase.compile(CHILD, 11)
    parked = [a for a in plan.actors if a.name.startswith("parked[")]
    assert len(parked) == 3 and all(a.actor_class in ("car", "van") for a in parked)
    assert plan.actor("child").behaviors[0].trigger.kind == "after_s"
    assert plan.weather.preset == "WetCloudySunset" and "fog_density" in plan.weather.params


def _ahead_30(map_source: str, road: int, lane: int, s_m: float) -> EpisodePlan:
    text = f"""
edgecase: 1
name: ahead_30
map: {map_source}
actors:
  ego:
    blueprint: vehicle.lincoln.mkz_2020
    at: {{road: {road}, lane_id: {lane}, s_m: {s_m}}}
  lead:
    blueprint: vehicle.tesla.model3
    at: {{relative_to: ego, lane: same, ahead_m: 30}}
"""
    return edgecase.compile(edgecase.loads(text, "ahead_30.yaml"), 0)


def _along_m(network: RoadNetwork, plan: EpisodePlan) -> float:
    ego, lead = plan.ego, plan.actor("lead")
    line = lane_polyline(network.carla_map, ego.lane.road_id, ego.lane.lane_id, ego.lane.s_m, 60.0, step_m=0.05)
    arc, lateral = project(line, np.array([[lead.pose.x_m, lead.pose.y_m]]))
    assert abs(lateral[0]) < 0.05
    return float(arc[0])


def test_ahead_m_is_exact_along_the_lane_on_a_builtin_map():
    plan = _ahead_30("builtin:urban_straight", 0, -1, 20.0)
    assert _along_m(RoadNetwork.load("builtin:urban_straight"), plan) == pytest.approx(30.0, abs=0.1)


def test_ahead_m_is_exact_through_the_bend_of_curve():
    network = RoadNetwork.load("builtin:curve")
    lane = next(l for l in network.lanes(LaneKind.DRIVING) if l.lane_id < 0)
    plan = _ahead_30("builtin:curve", lane.road_id, lane.lane_id, 140.0)  # the bend starts at s = 150
    assert _along_m(network, plan) == pytest.approx(30.0, abs=0.1)
    assert abs(plan.actor("lead").pose.yaw_deg - plan.ego.pose.yaw_deg) > 10  # really on the bend


def test_ahead_m_is_exact_on_town10hd():
    path = shared_map("Town10HD")
    network = RoadNetwork.load(str(path))
    lane = next(l for l in network.lanes(LaneKind.DRIVING) if l.junction_id is None and l.length_m > 50 and l.lane_id < 0)
    plan = _ahead_30(str(path), lane.road_id, lane.lane_id, 5.0)
    assert _along_m(network, plan) == pytest.approx(30.0, abs=0.1)


def _crossing_ttc_s(plan: EpisodePlan, network: RoadNetwork) -> float:
    """Integrate the plan at constant speeds; measure the ego's time to the crossing path when the crosser enters its lane."""
    ego, crosser = (plan.actor(name) for name in plan.criticality.actors)
    cross = crosser.behaviors[0]
    start_s, speed, heading = cross.trigger.after_s, cross.params["speed_mps"], math.radians(cross.params["heading_deg"])
    line = lane_polyline(network.carla_map, ego.lane.road_id, ego.lane.lane_id, ego.lane.s_m, 150.0, step_m=0.25)
    width = ego.lane.width_m

    def crosser_at(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        walked = speed * np.clip(t - start_s, 0.0, None)
        xy = np.stack([crosser.pose.x_m + walked * math.cos(heading), crosser.pose.y_m + walked * math.sin(heading)], axis=1)
        return project(line, xy)

    def first(t: np.ndarray, holds) -> int:
        _, lateral = crosser_at(t)
        hits = np.flatnonzero(holds(lateral))
        assert hits.size, "the crosser never gets there"
        return hits[0]

    # Coarse steps of 20 ms to find each event, then 0.5 ms steps in the bracket found.
    coarse = np.arange(0.0, plan.duration_s, 0.02)
    inside = lambda lateral: np.abs(lateral) <= width / 2  # noqa: E731
    i = first(coarse, inside)
    fine = np.arange(coarse[max(i - 1, 0)], coarse[i] + 1e-9, 0.0005)
    t_entry = fine[first(fine, inside)]
    _, lateral0 = crosser_at(np.array([t_entry]))
    across = lambda lateral: np.sign(lateral) != np.sign(lateral0[0])  # noqa: E731 - the path crosses the lane centre
    j = first(coarse, across)
    fine = np.arange(coarse[max(j - 1, 0)], coarse[j] + 1e-9, 0.0005)
    conflict_arc = crosser_at(fine[first(fine, across) : first(fine, across) + 1])[0][0]
    ego_front_arc = ego.speed_mps * t_entry + ego.size.length_m / 2
    return (conflict_arc - ego_front_arc) / ego.speed_mps


@pytest.mark.parametrize("scenario_file", ["occluded_child_dartout.yaml", "jaywalker_midblock.yaml"])
def test_crossing_meets_the_time_to_conflict_for_100_seeds(scenario_file):
    scenario = edgecase.load(SCENARIOS / scenario_file)
    network = RoadNetwork.load(scenario.spec.map)
    errors = []
    for seed in range(100):
        plan = edgecase.compile(scenario, seed)
        errors.append(_crossing_ttc_s(plan, network) - plan.params["ttc_s"])
    assert max(abs(e) for e in errors) <= 0.05


def test_cut_in_meets_the_time_gap_for_100_seeds():
    scenario = edgecase.load(CUT_IN)
    network = RoadNetwork.load(scenario.spec.map)
    worst = 0.0
    for seed in range(100):
        plan = edgecase.compile(scenario, seed)
        ego, cutter = plan.ego, plan.actor("cutter")
        step = next(b for b in cutter.behaviors if b.name == "cut_in")
        end_s = step.trigger.after_s + step.params["duration_s"]
        ego_line = lane_polyline(network.carla_map, ego.lane.road_id, ego.lane.lane_id, ego.lane.s_m, 400.0, step_m=0.5)
        cutter_line = lane_polyline(network.carla_map, cutter.lane.road_id, cutter.lane.lane_id, cutter.lane.s_m, 400.0, step_m=0.5)
        # Where the cutter is when its lane change ends: its own lane's progress, carried over onto the ego's lane.
        c_arc = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(cutter_line, axis=0), axis=1))])
        c_xy = np.array([np.interp(cutter.speed_mps * end_s, c_arc, cutter_line[:, k]) for k in (0, 1)])
        cutter_on_ego_lane, _ = project(ego_line, c_xy[None])
        gap_m = cutter_on_ego_lane[0] - cutter.size.length_m / 2 - (ego.speed_mps * end_s + ego.size.length_m / 2)
        worst = max(worst, abs(gap_m / ego.speed_mps - plan.params["time_gap_s"]))
    assert worst <= 0.05
