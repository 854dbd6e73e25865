"""Background traffic (`--traffic DENSITY`, edgecase/plan/traffic.py): appended to the compiled
plan on its own random stream, at the density asked for, clear of the scenario's actors and of
each other, and driven by the embedded backend without touching anyone."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

import edgecase
from edgecase import cli
from edgecase.errors import InputError
from edgecase.plan.checks import check_start, footprint
from edgecase.plan.modifiers import Modifiers, modifiers_from_options
from edgecase.plan.traffic import CLEAR_M, RADIUS_M, SPACING_M, _junction_area, _lane_ends
from edgecase.roads import LaneKind, RoadNetwork
from tests.helpers import REPO, SCENARIOS

JAYWALKER = SCENARIOS / "jaywalker_midblock.yaml"
RUNNER = SCENARIOS / "red_light_runner_junction.yaml"

# An ego standing on the sidewalk mid-way along a 400 m two-lane road: nothing of the scenario
# keeps traffic off the lanes except a CLEAR_M disc around the ego, so the density is measurable.
STANDING = """
edgecase: 1
name: standing
map: builtin:urban_straight
duration_s: 2
actors:
  ego:
    blueprint: walker.pedestrian.0001
    at: {lane: sidewalk, s_m: 200}
"""


def _traffic(plan):
    return [a for a in plan.actors if a.name.startswith("traffic[")]


def test_density_is_honoured_away_from_the_ego():
    scenario = edgecase.loads(STANDING)
    network = RoadNetwork.load("builtin:urban_straight")
    density, lo_m, hi_m = 60.0, 40.0, RADIUS_M - 5.0  # the annulus no clearance rule reaches
    ego = edgecase.compile(scenario, 0).ego.pose
    lane_m = 0.0  # driving lane length whose centre lies in the annulus, 1 m steps
    for ref in network.lanes(LaneKind.DRIVING):
        for s in np.arange(0.5, ref.length_m, 1.0):
            p = network.point(ref.road_id, ref.lane_id, float(s))
            lane_m += lo_m <= math.hypot(p.x_m - ego.x_m, p.y_m - ego.y_m) <= hi_m
    counts = []
    for seed in range(20):
        plan = edgecase.compile(scenario, seed, modifiers=Modifiers(traffic_per_km=density))
        counts.append(sum(lo_m <= math.hypot(a.pose.x_m - ego.x_m, a.pose.y_m - ego.y_m) <= hi_m for a in _traffic(plan)))
    measured = np.mean(counts) / (lane_m / 1000.0)
    assert abs(measured - density) < 0.15 * density, (measured, lane_m, counts)


def test_same_seed_same_plan_in_another_process():
    mods = Modifiers(traffic_per_km=25)
    a, b = (edgecase.compile(RUNNER, 3, modifiers=mods) for _ in range(2))
    assert a.content_hash() == b.content_hash() and _traffic(a)
    assert edgecase.compile(RUNNER, 4, modifiers=mods).content_hash() != a.content_hash()
    code = ("import edgecase; from edgecase.plan.modifiers import Modifiers; "
            f"print(edgecase.compile({str(RUNNER)!r}, 3, modifiers=Modifiers(traffic_per_km=25)).content_hash())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert other.stdout.strip() == a.content_hash()


@pytest.mark.parametrize("path", [JAYWALKER, RUNNER, SCENARIOS / "lost_cargo_truck.yaml"])
def test_scenario_actors_params_and_timing_are_unchanged(path):
    for seed in range(3):
        plain = edgecase.compile(path, seed)
        busy = edgecase.compile(path, seed, modifiers=Modifiers(traffic_per_km=40))
        n = len(plain.actors)
        assert busy.actors[:n] == plain.actors  # ids, poses, params, triggers: all identical
        assert (busy.params, busy.criticality, busy.duration_s, busy.weather) == (plain.params, plain.criticality, plain.duration_s, plain.weather)
        extra = busy.actors[n:]
        assert [a.id for a in extra] == list(range(n + 1, n + 1 + len(extra)))
        assert [a.name for a in extra] == [f"traffic[{k}]" for k in range(len(extra))]  # after any cargo
        assert all(a.role == "background" and a.behaviors[0].name == "follow_lane" and a.actor_class in ("car", "van", "truck") for a in extra)
        if seed == 0:
            assert busy.content_hash() != plain.content_hash()
    assert edgecase.compile(path, 0, modifiers=Modifiers(traffic_per_km=0)) == edgecase.compile(path, 0)


@pytest.mark.parametrize("path", [RUNNER, SCENARIOS / "cut_out_reveals_stalled.yaml"])
def test_fifty_seeds_start_clear_of_everyone_and_out_of_junctions(path):
    scenario = edgecase.load(path)
    network = RoadNetwork.load(scenario.spec.map)
    junctions = _junction_area(network)
    placed = 0
    for seed in range(50):
        plan = edgecase.compile(scenario, seed, modifiers=Modifiers(traffic_per_km=60))
        check_start(plan.actors, scenario)  # no two boxes overlap
        traffic = _traffic(plan)
        placed += len(traffic)
        boxes = [footprint(a) for a in traffic]
        own = [footprint(a) for a in plan.actors if not a.name.startswith("traffic[") and a.spawn == "start"]
        ego = plan.ego
        for a, box in zip(traffic, boxes):
            assert math.hypot(a.pose.x_m - ego.pose.x_m, a.pose.y_m - ego.pose.y_m) <= RADIUS_M
            assert min(box.distance(o) for o in own) >= CLEAR_M - 1e-6, (seed, a.name)
            assert junctions is None or not box.intersects(junctions), (seed, a.name)
            lane = a.lane
            if (lane.road_id, lane.lane_id) == (ego.lane.road_id, ego.lane.lane_id):  # never just behind or in the ego's way
                ahead = (lane.s_m - ego.lane.s_m) * (1 if lane.lane_id < 0 else -1)
                assert not -CLEAR_M < ahead < ego.speed_mps * plan.duration_s, (seed, a.name, ahead)
        for i in range(len(boxes)):
            for j in range(i):
                assert boxes[i].distance(boxes[j]) >= SPACING_M - 1e-6, (seed, traffic[i].name, traffic[j].name)
    assert placed > 50  # the rule leaves traffic to check


def test_no_traffic_on_a_merge_lane_that_ends_but_at_a_map_edge_yes():
    merge = RoadNetwork.load("builtin:highway_merge")  # road 1 lane -4 tapers out at s = 220 m
    assert _lane_ends(merge, merge.point(1, -4, 155.0), 300.0)
    assert not _lane_ends(merge, merge.point(1, -3, 155.0), 300.0)
    straight = RoadNetwork.load("builtin:urban_straight")  # a 400 m road: both lanes run into the edge
    assert not _lane_ends(straight, straight.point(0, -1, 300.0), 300.0)


def test_an_episode_with_traffic_runs_and_the_traffic_drives_without_touching_anyone():
    result = edgecase.run(RUNNER, 1, modifiers={"traffic_per_km": 30})
    trace, names = result.trace, result.trace.names
    rows = [i for i, name in enumerate(names) if name.startswith("traffic[")]
    assert rows
    moved = np.hypot(trace.x_m[-1, rows] - trace.x_m[0, rows], trace.y_m[-1, rows] - trace.y_m[0, rows])
    assert (moved > 20.0).sum() >= len(rows) // 2, moved  # most drive on (some stop at the red light)
    assert not [e for e in trace.events_of("collision") if "traffic[" in f"{e.actor} {e.detail}"]
    assert result.passed  # the edge case still happens


def test_bad_densities_are_usage_errors(tmp_path, capsys):
    for bad in (-1.0, 500.0, float("nan")):
        with pytest.raises(InputError, match="--traffic"):
            modifiers_from_options(traffic=bad)
    assert modifiers_from_options(traffic=0.0) == Modifiers(traffic_per_km=0.0)
    assert cli.run(["run", str(JAYWALKER), "--out", str(tmp_path / "ep"), "--no-sensors", "--quiet", "--traffic", "900"]) == 2
    assert "--traffic 900 is outside 0..150" in capsys.readouterr().err
    assert cli.run(["sweep", str(JAYWALKER), "--out", str(tmp_path / "sw"), "--episodes", "1", "--traffic", "-3"]) == 2


def test_the_cli_and_a_sweep_record_the_traffic(tmp_path):
    from edgecase.sweep.runner import run_sweep

    out = tmp_path / "ep"
    assert cli.run(["run", str(RUNNER), "--seed", "1", "--out", str(out), "--no-sensors", "--quiet", "--traffic", "30"]) in (0, 1)
    plan = json.loads((out / "episode.json").read_text())["plan"]
    assert any(a["name"].startswith("traffic[") for a in plan["actors"])
    sweep = tmp_path / "sw"
    run_sweep([RUNNER], sweep, episodes=1, workers=1, quiet=True, modifiers=Modifiers(traffic_per_km=30))
    (episode,) = sweep.rglob("episode.json")
    assert any(a["name"].startswith("traffic[") for a in json.loads(episode.read_text())["plan"]["actors"])
    with pytest.raises(InputError):
        run_sweep([], sweep, resume=True, workers=1, quiet=True, modifiers=Modifiers(traffic_per_km=10))
