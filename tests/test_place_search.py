"""Scenarios in road terms run on any map with the roads they need (issue 9).

An open place (a lane kind without a road, `junction: any`) is searched until the whole scenario
fits; junction placements name approaches as seen from another actor; `paths_cross` times two
vehicles to a crossing point the compiler finds; `green_for` starts the cycle at the ego's green.
Distances are read back with carla's own waypoints (tests/helpers.lane_polyline), not with the
code under test.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import carla
import numpy as np
import pytest

import edgecase
from edgecase.errors import DoesNotFit
from edgecase.roads import RoadNetwork
from edgecase.sim.lights import GREEN, LightCycle, LightSchedule
from edgecase.sim.paths import lane_path
from tests.helpers import lane_polyline, project, shared_map


def load(tmp_path, body: str, name: str = "s"):
    path = tmp_path / f"{name}.yaml"
    path.write_text("edgecase: 1\nname: " + name + "\n" + body)
    return edgecase.load(path)


def actor(plan, name):
    return next(a for a in plan.actors if a.name == name)


def wrap(deg: float) -> float:
    return (deg + 180.0) % 360.0 - 180.0


SIDE_BY_SIDE = """
duration_s: 5
actors:
  ego:
    blueprint: vehicle.lincoln.mkz_2020
    at: {lane: driving, s_m: 5}
    speed_mps: 10
  other:
    blueprint: vehicle.audi.tt
    at: {relative_to: ego, lane: right, ahead_m: 30}
    speed_mps: 10
"""


def test_an_open_lane_is_searched_until_a_lane_to_the_right_exists(tmp_path):
    town = shared_map("Town10HD")
    plan = edgecase.compile(load(tmp_path, f"map: {town}\n" + SIDE_BY_SIDE), 0)
    ego, other = actor(plan, "ego"), actor(plan, "other")
    assert other.lane.road_id != ego.lane.road_id or other.lane.lane_id != ego.lane.lane_id
    assert abs(wrap(other.pose.yaw_deg - ego.pose.yaw_deg)) < 30  # same direction: a lane to change into
    # carla itself: the other car is on a driving lane whose left neighbour runs the same way, 30 m on.
    net = RoadNetwork.load(str(town))
    wp = net.carla_map.get_waypoint(carla.Location(other.pose.x_m, other.pose.y_m, 0.0))
    left = wp.get_left_lane()
    assert wp.lane_type == carla.LaneType.Driving and left is not None and left.lane_type == carla.LaneType.Driving
    assert left.lane_id * wp.lane_id > 0  # same direction of travel
    assert 25.0 < math.hypot(other.pose.x_m - ego.pose.x_m, other.pose.y_m - ego.pose.y_m) <= 30.5


def test_a_map_without_the_feature_is_one_clear_error_exit_2(tmp_path):
    town = shared_map("Town01")  # one driving lane per direction: no lane to the right anywhere
    scenario = load(tmp_path, f"map: {town}\n" + SIDE_BY_SIDE)
    with pytest.raises(DoesNotFit, match=r"no place on map 'Town01' fits this scenario \(\d+ places tried for 'ego'\); at the first: "):
        edgecase.compile(scenario, 0)
    script = Path(sys.executable).parent / "edgecase"
    run = subprocess.run([str(script), "plan", str(tmp_path / "s.yaml"), "--seed", "0"], capture_output=True, text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert f"{tmp_path / 's.yaml'}:13:9: " in run.stderr and "no place on map 'Town01'" in run.stderr


def test_a_named_place_is_not_searched(tmp_path):
    body = SIDE_BY_SIDE.replace("{lane: driving, s_m: 5}", "{road: 0, lane_id: -1, s_m: 5}")
    with pytest.raises(DoesNotFit) as err:
        edgecase.compile(load(tmp_path, "map: builtin:curve\n" + body), 0)
    assert "places tried" not in str(err.value) and "no 'right' lane" in str(err.value)


JUNCTION = """
map: builtin:junction4
duration_s: 5
actors:
  ego:
    blueprint: vehicle.lincoln.mkz_2020
    at: {junction: any, before_m: 20}
    speed_mps: 10
  other:
    blueprint: vehicle.audi.tt
    at: {junction: ego, approach: SIDE, before_m: 15}
    speed_mps: 10
"""


@pytest.mark.parametrize("side, heading_deg", [("left", 90.0), ("right", -90.0), ("opposite", 180.0)])
def test_approaches_are_named_as_seen_from_the_ego(tmp_path, side, heading_deg):
    for seed in range(4):  # the seed picks the ego's approach: every one of them
        plan = edgecase.compile(load(tmp_path, JUNCTION.replace("SIDE", side)), seed)
        ego, other = actor(plan, "ego"), actor(plan, "other")
        assert abs(wrap(other.pose.yaw_deg - ego.pose.yaw_deg - heading_deg)) < 10
        yaw = math.radians(ego.pose.yaw_deg)
        dx, dy = other.pose.x_m - ego.pose.x_m, other.pose.y_m - ego.pose.y_m
        lateral = -dx * math.sin(yaw) + dy * math.cos(yaw)  # CARLA: +y is the ego's right
        if side != "opposite":
            assert (lateral < -10) == (side == "left") and (lateral > 10) == (side == "right")


def test_after_m_stands_past_the_junction_on_the_ego_route(tmp_path):
    body = JUNCTION.replace("{junction: ego, approach: SIDE, before_m: 15}", "{junction: ego, approach: same, turn: right, after_m: 6}")
    plan = edgecase.compile(load(tmp_path, body), 1)
    ego, other = actor(plan, "ego"), actor(plan, "other")
    assert abs(wrap(other.pose.yaw_deg - ego.pose.yaw_deg - 90.0)) < 5  # turned right
    net = RoadNetwork.load("builtin:junction4")
    assert net.point(other.lane.road_id, other.lane.lane_id, other.lane.s_m).junction_id is None
    # 6 m (within the 0.5 m step that finds the exit) past the last point inside the junction.
    behind = net.walk(net.point(other.lane.road_id, other.lane.lane_id, other.lane.s_m), 8.0, (), 0.25, backwards=True)
    inside = next(k for k, p in enumerate(behind, start=1) if p.junction_id is not None) * 0.25
    assert 5.9 <= inside <= 6.6


PATHS_CROSS = """
map: MAP
duration_s: 10
traffic_lights: {green_for: ego, offset_s: 1}
criticality: {paths_cross: [ego, runner], arrive_s: 4.0, lead_s: 1.5}
actors:
  ego:
    blueprint: vehicle.lincoln.mkz_2020
    at: {junction: any, signalized: true, turn: straight}
    speed_mps: 10
    behavior: follow_lane
  runner:
    blueprint: vehicle.audi.tt
    at: {junction: ego, approach: left, turn: straight}
    speed_mps: 14
    behavior: run_red_light
"""


@pytest.mark.parametrize("map_name", ["builtin:junction4", "Town10HD"])
def test_paths_cross_times_both_cars_to_the_crossing_point(tmp_path, map_name):
    source = map_name if map_name.startswith("builtin:") else str(shared_map(map_name))
    scenario = load(tmp_path, PATHS_CROSS.replace("MAP", source))
    net = RoadNetwork.load(source)
    for seed in range(3):
        plan = edgecase.compile(scenario, seed)
        solved = plan.criticality.solved
        crossing = np.array([[solved["crossing_x_m"], solved["crossing_y_m"]]])
        for name, want_m in (("ego", 10 * 4.0), ("runner", 14 * 2.5)):
            a = actor(plan, name)
            line = lane_polyline(net.carla_map, a.lane.road_id, a.lane.lane_id, a.lane.s_m, want_m + 20)  # straight on
            arc, lateral = project(line, crossing)
            assert abs(lateral[0]) < 0.3, f"{name}: the crossing point is not on its route"
            assert abs(arc[0] - want_m) < 0.5, f"{name}: {arc[0]:.2f} m to the crossing, want {want_m}"


def test_paths_cross_runs_a_red_light_ahead_of_the_ego_on_any_approach(tmp_path):
    body = PATHS_CROSS.replace("MAP", "builtin:junction4") + "expect: [ran_red_light(runner), not ran_red_light(ego), min_pet_s(ego, runner) < 2.0]\n"
    scenario = load(tmp_path, body)
    approaches = set()
    for seed in range(6):
        result = edgecase.run(scenario, seed)
        assert result.passed, [(o.expr, o.actual) for o in result.oracles]
        approaches.add(actor(result.plan, "ego").lane.road_id)
    assert len(approaches) >= 3  # the seed moves the ego around the junction; green_for keeps its light green


@pytest.mark.parametrize("map_name", ["builtin:junction4", "Town01", "Town10HD"])
def test_green_for_starts_the_cycle_at_the_ego_green_on_every_approach(map_name):
    source = map_name if map_name.startswith("builtin:") else str(shared_map(map_name))
    net = RoadNetwork.load(source)
    schedule = LightSchedule.of(net, LightCycle(offset_s=0.5))
    phases = set()
    for junction in (j for j in net.junctions() if j.signalized):
        for a in junction.approaches:
            start = net.advance(net.point(a.road_id, a.lane_id, a.s_m), -15.0)
            if start is None or start.junction_id is not None:
                continue
            turns = (a.turns[0],)
            lines = schedule.stop_lines(net, lane_path(net, start, 60.0, turns))
            if not lines:
                continue
            phases.add(schedule.phases[lines[0].lights[0]])
            shifted = schedule.green_for(net, start, turns)
            colors = shifted.colors_at(0.0)
            assert all(colors[k] == GREEN for k in lines[0].lights), f"junction {junction.id} road {a.road_id} lane {a.lane_id}"
    assert phases == {0, 1}  # without green_for, half the approaches would start on red


def test_junction_any_on_a_map_without_junctions_is_a_clear_error(tmp_path):
    with pytest.raises(DoesNotFit, match="map 'urban_straight' has no junction"):
        edgecase.compile(load(tmp_path, JUNCTION.replace("builtin:junction4", "builtin:urban_straight").replace("SIDE", "left")), 0)


def test_ends_within_m_finds_an_acceleration_lane(tmp_path):
    body = SIDE_BY_SIDE.replace("{relative_to: ego, lane: right, ahead_m: 30}", "{relative_to: ego, lane: right, ends_within_m: 250}")
    plan = edgecase.compile(load(tmp_path, "map: builtin:highway_merge\n" + body), 0)
    other = actor(plan, "other")
    net = RoadNetwork.load("builtin:highway_merge")
    start = net.point(other.lane.road_id, other.lane.lane_id, other.lane.s_m)
    assert net.advance(start, 250.0) is None and net.advance(start, 100.0) is not None  # it ends, and not at once
    ego = actor(plan, "ego")
    assert net.advance(net.point(ego.lane.road_id, ego.lane.lane_id, ego.lane.s_m), 250.0) is not None  # the ego's lane runs on
    with pytest.raises(DoesNotFit, match="places tried for 'ego'"):  # the curve's lanes all run on
        edgecase.compile(load(tmp_path, "map: builtin:curve\n" + body.replace("lane: right,", "lane: same,"), "t"), 0)


def test_before_bend_on_a_named_lane_without_a_kind(tmp_path):
    body = SIDE_BY_SIDE.replace("{lane: driving, s_m: 5}", "{road: 0, lane_id: -1, before_bend_m: 30}").replace(
        "{relative_to: ego, lane: right, ahead_m: 30}", "{relative_to: ego, ahead_m: 10}")
    plan = edgecase.compile(load(tmp_path, "map: builtin:curve\n" + body), 0)
    ego = actor(plan, "ego")  # the curve's bend starts at s = 150 m (docs: 150 m straight, then R 35 m)
    assert (ego.lane.road_id, ego.lane.lane_id) == (0, -1) and 115.0 < ego.lane.s_m < 125.0
