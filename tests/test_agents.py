"""Agents on the embedded backend: behaviors, triggers, lights and the criticality targets, read
back from the simulated states (with carla's own lane polylines and shapely, not the code under test)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import shapely

import edgecase
from edgecase.plan import EpisodePlan
from edgecase.roads import RoadNetwork
from edgecase.scenario.behaviors import BEHAVIORS
from edgecase.sim import geometry
from edgecase.sim.agents import Agents
from edgecase.sim.behaviors import REGISTRY
from edgecase.sim.lights import CYCLE_S, LightSchedule
from edgecase.sim.state import WorldState
from edgecase.sim.trace import Event
from tests.helpers import SCENARIOS, lane_polyline, project

SEEDS = range(20)


@dataclass
class Run:
    plan: EpisodePlan
    states: list[WorldState]
    events: list[Event]
    network: RoadNetwork

    def row(self, name: str) -> int:
        return [a.name for a in self.plan.actors].index(name)

    def series(self, field: str, name: str) -> np.ndarray:
        i = self.row(name)
        return np.array([getattr(s.actors, field)[i] for s in self.states])

    @property
    def t_s(self) -> np.ndarray:
        return np.array([s.t_s for s in self.states])

    def event(self, kind: str, actor: str, detail: str | None = None) -> Event:
        return next(e for e in self.events if e.kind == kind and e.actor == actor and detail in (None, e.detail))


def simulate(plan: EpisodePlan) -> Run:
    from edgecase.backends.embedded import EmbeddedBackend  # the backend layer sits above sim/: import it here

    network = RoadNetwork.load(plan.map.source)
    backend = EmbeddedBackend()
    state = backend.reset(plan)
    agents = Agents(plan, network)
    states, events = [state], []
    for _ in range(plan.steps):
        controls, new = agents.step(state)
        events += new
        backend.apply(controls)
        state = backend.tick()
        states.append(state)
    backend.close()
    return Run(plan, states, events, network)


def run_text(text: str, seed: int = 0) -> Run:
    return simulate(edgecase.compile(edgecase.loads(text, name="test.yaml"), seed=seed))


def header(name: str, map_name: str, duration_s: float) -> str:
    return f"edgecase: 1\nname: {name}\nmap: builtin:{map_name}\nduration_s: {duration_s}\nactors:\n"


def lane_of(run: Run, name: str, length_m: float = 400.0) -> np.ndarray:
    """carla's own polyline of the actor's start lane (through junctions: straight on)."""
    lane = run.plan.actor(name).lane
    return lane_polyline(run.network.carla_map, lane.road_id, lane.lane_id, lane.s_m, length_m)


def xy(run: Run, name: str) -> np.ndarray:
    return np.stack([run.series("x_m", name), run.series("y_m", name)], axis=1)


# --- criticality targets ----------------------------------------------------------------------


def test_cut_in_meets_its_time_gap_when_it_ends():
    scenario = edgecase.load(SCENARIOS / "aggressive_cut_in.yaml")
    for seed in SEEDS:
        run = simulate(edgecase.compile(scenario, seed=seed))
        end = run.event("behavior_end", "cutter", "cut_in")
        lane = lane_of(run, "ego")
        arcs, _ = project(lane, np.array([xy(run, "ego")[end.tick], xy(run, "cutter")[end.tick]]))
        ego, cutter = run.plan.actor("ego"), run.plan.actor("cutter")
        gap_m = arcs[1] - arcs[0] - (ego.size.length_m + cutter.size.length_m) / 2
        speed = run.series("speed_mps", "ego")
        assert gap_m / speed[end.tick] == pytest.approx(run.plan.criticality.target_s, abs=0.1), seed
        assert np.all(speed[: end.tick + 1] == ego.speed_mps), f"seed {seed}: the ego braked before the cut-in ended"
        assert speed[-1] < ego.speed_mps, f"seed {seed}: the ego never reacted to the cutter"


def test_crossing_walker_reaches_the_conflict_at_the_solved_time():
    scenario = edgecase.load(SCENARIOS / "occluded_child_dartout.yaml")
    for seed in SEEDS:
        run = simulate(edgecase.compile(scenario, seed=seed))
        child, ego, solved = run.plan.actor("child"), run.plan.actor("ego"), run.plan.criticality.solved
        cross = child.behaviors[0].params
        heading = math.radians(cross["heading_deg"])
        direction = np.array([math.cos(heading), math.sin(heading)])
        start = np.array([child.pose.x_m, child.pose.y_m])
        conflict = np.array([solved["conflict_x_m"], solved["conflict_y_m"]])
        walked = (xy(run, "child") - start) @ direction
        to_conflict_m = (conflict - start) @ direction
        t_conflict = np.interp(to_conflict_m, walked, run.t_s)  # walked only grows while crossing
        assert t_conflict == pytest.approx(solved["start_s"] + to_conflict_m / cross["speed_mps"], abs=0.1), seed
        # when its centre enters the ego's lane, the ego's front bumper is ttc_s (at its speed) from the path
        lane = lane_of(run, "ego")
        _, lateral = project(lane, xy(run, "child"))
        half = ego.lane.width_m / 2
        k = int(np.argmax(np.abs(lateral) < half))
        f = (abs(lateral[k - 1]) - half) / (abs(lateral[k - 1]) - abs(lateral[k]))
        t_entry = run.t_s[k - 1] + f * (run.t_s[k] - run.t_s[k - 1])
        ego_arcs, _ = project(lane, xy(run, "ego"))
        conflict_arc, _ = project(lane, conflict)
        front = np.interp(t_entry, run.t_s, ego_arcs) + ego.size.length_m / 2
        ttc = (conflict_arc[0] - front) / np.interp(t_entry, run.t_s, run.series("speed_mps", "ego"))
        assert ttc == pytest.approx(run.plan.criticality.target_s, abs=0.1), seed
        assert run.event("behavior_start", "child", "cross").t_s == pytest.approx(solved["start_s"], abs=run.plan.step_s)


# --- car following ------------------------------------------------------------------------------

PLATOON = header("platoon", "highway_merge", 15) + """
  car:
    count: 50
    blueprint: vehicle.nissan.micra
    gap_m: 14
    at: {lane: driving, lane_id: -2, s_m: 3}
    speed_mps: 12
    behavior: follow_lane
  ego:
    blueprint: vehicle.nissan.micra
    at: {relative_to: "car[49]", ahead_m: 17.64}
    speed_mps: 12
    behavior:
      - follow_lane
      - hard_brake: {decel_mps2: 8}
        when: {after_s: 2}
"""


def test_platoon_behind_a_hard_braking_leader_never_collides():
    run = simulate(edgecase.compile(edgecase.loads(PLATOON, name="platoon.yaml"), seed=0))
    assert len(run.plan.actors) == 51
    for state in run.states:
        a = state.actors
        boxes = shapely.polygons(geometry.corners(a.x_m, a.y_m, a.yaw_rad, a.length_m, a.width_m))
        hits = shapely.STRtree(boxes).query(boxes, predicate="intersects")
        assert np.all(hits[0] == hits[1]), f"boxes overlap at t={state.t_s:.2f}"
    assert run.series("speed_mps", "ego")[-1] == 0.0
    assert run.series("speed_mps", "car[49]")[-1] < 0.1  # the car behind the leader stopped too


def test_hard_brake_decelerates_at_its_rate_until_stopped():
    run = run_text(header("brake", "urban_straight", 6) + """
  ego:
    blueprint: vehicle.tesla.model3
    at: {lane: driving, s_m: 20}
    speed_mps: 12
    behavior:
      - follow_lane
      - hard_brake: {decel_mps2: 7.5}
        when: {after_s: 1}
""")
    start, end = run.event("behavior_start", "ego", "hard_brake").tick, run.event("behavior_end", "ego", "hard_brake").tick
    accel = run.series("accel_mps2", "ego")
    braking = accel[start + 1: end - 1]  # the state after tick k shows the control chosen at k; the last step stops short
    assert len(braking) > 20 and np.allclose(braking, -7.5, atol=1e-9)
    assert run.series("speed_mps", "ego")[end] == 0.0 and run.t_s[end] == pytest.approx(1 + 12 / 7.5, abs=0.06)


# --- lateral manoeuvres -------------------------------------------------------------------------


def test_lane_change_ends_centred_in_the_target_lane():
    run = run_text(header("lane_change", "highway_merge", 9) + """
  ego:
    blueprint: vehicle.tesla.model3
    at: {lane: driving, lane_id: -2, s_m: 20}
    speed_mps: 22
    behavior:
      - follow_lane
      - lane_change: {direction: left, duration_s: 3}
        when: {after_s: 1}
""")
    end = run.event("behavior_end", "ego", "lane_change")
    assert end.t_s == pytest.approx(4.0)
    target = lane_polyline(run.network.carla_map, 0, -1, 10.0, 400.0)
    _, lateral = project(target, xy(run, "ego"))
    assert abs(lateral[end.tick]) < 0.1
    assert np.abs(lateral[end.tick:]).max() < 0.15


def test_wrong_way_drives_against_its_lane():
    run = run_text(header("wrong_way", "urban_straight", 5) + """
  ego:
    blueprint: vehicle.tesla.model3
    at: {lane: driving, s_m: 20}
    speed_mps: 5
    behavior: idle
  ghost:
    blueprint: vehicle.audi.a2
    at: {relative_to: ego, lane: opposite, ahead_m: 80, yaw_deg: 180}
    speed_mps: 9
    behavior: wrong_way
""")
    ghost = run.plan.actor("ghost")
    lane = run.network.point(ghost.lane.road_id, ghost.lane.lane_id, ghost.lane.s_m)
    travel = np.array([math.cos(math.radians(lane.yaw_deg)), math.sin(math.radians(lane.yaw_deg))])
    moved = np.diff(xy(run, "ghost"), axis=0) @ travel
    assert np.all(moved < 0) and moved.sum() == pytest.approx(-9 * 5, abs=0.5)
    line = lane_polyline(run.network.carla_map, lane.road_id, lane.lane_id, 10.0, 380.0)
    assert np.abs(project(line, xy(run, "ghost"))[1]).max() < 0.05


def test_open_door_widens_the_box_over_its_duration():
    run = run_text(header("door", "urban_straight", 4) + """
  ego:
    blueprint: vehicle.tesla.model3
    at: {lane: parking, s_m: 50}
    behavior:
      - open_door: {side: left, duration_s: 1.0}
        when: {after_s: 1}
""")
    width = run.series("width_m", "ego")
    closed = run.plan.actor("ego").size.width_m
    t = run.t_s
    assert np.all(width[t <= 1.0 + 1e-9] == closed)
    assert width[np.argmin(np.abs(t - 1.55))] == pytest.approx(closed + 0.45, abs=1e-9)  # linear, half open half way
    assert np.allclose(width[t >= 2.05], closed + 0.9)
    assert np.all(run.series("speed_mps", "ego") == 0.0)


def test_pull_out_turn_and_walk():
    run = run_text(header("various", "urban_straight", 8) + """
  ego:
    blueprint: vehicle.tesla.model3
    at: {lane: driving, s_m: 20}
    speed_mps: 8
    behavior: follow_lane
  leaving:
    blueprint: vehicle.audi.a2
    at: {relative_to: ego, lane: parking_right, ahead_m: 60}
    behavior:
      - pull_out: {direction: left, speed_mps: 5, duration_s: 3}
        when: {after_s: 0.5}
  walker:
    blueprint: walker.pedestrian.0001
    at: {relative_to: ego, lane: sidewalk_right, ahead_m: 10}
    behavior: {walk: {speed_mps: 1.3}}
""")
    assert run.event("behavior_end", "leaving", "pull_out").t_s == pytest.approx(3.5)
    _, lateral = project(lane_of(run, "ego"), xy(run, "leaving")[-1])
    assert abs(lateral[0]) < 0.3 and run.series("speed_mps", "leaving")[-1] == pytest.approx(5.0, abs=0.3)
    walker = lane_of(run, "walker")
    arcs, lateral = project(walker, xy(run, "walker"))
    assert np.abs(lateral).max() < 0.05 and arcs[-1] - arcs[0] == pytest.approx(1.3 * 8, abs=0.5)  # less its start-up
    assert run.series("speed_mps", "walker")[-1] == pytest.approx(1.3)
    assert not any(e.actor == "ego" and e.kind == "behavior_end" for e in run.events)  # follow_lane never ends


@pytest.mark.parametrize("direction, road", [("left", 3), ("right", 1), ("straight", 2)])
def test_turn_takes_its_branch_and_ends_after_the_junction(direction: str, road: int):
    run = run_text(header("turn", "junction4", 12) + f"""
  ego:
    blueprint: vehicle.tesla.model3
    at: {{lane: driving, road: 0, lane_id: -1, s_m: 100}}
    speed_mps: 8
    behavior: [{{turn: {{direction: {direction}}}}}, stop]
""")
    end = run.event("behavior_end", "ego", "turn")
    x, y = xy(run, "ego")[end.tick]
    lane = run.network.nearest(x, y)
    assert (lane.road_id, lane.junction_id) == (road, None)
    assert math.hypot(lane.x_m - x, lane.y_m - y) < 0.5
    assert run.event("behavior_end", "ego", "stop").t_s > end.t_s


# --- traffic lights -----------------------------------------------------------------------------

RED_APPROACH = header("{name}", "junction4", 12) + """
  ego:
    blueprint: vehicle.tesla.model3
    at: {{lane: driving, road: 1, lane_id: -1, s_m: 80}}
    speed_mps: 10
    behavior: {behavior}
"""


def test_lights_cycle_in_two_phases_with_carla_names():
    network = RoadNetwork.load("builtin:junction4")
    lights = LightSchedule.of(network)
    assert lights.ids == (1, 4, 7, 10)  # one per approach road 0..3; 0 and 2 face each other
    assert lights.phases == (0, 1, 0, 1)
    names = [tuple(s.color for s in lights.states_at(t)) for t in (0.0, 10.5, 13.5, 14.0, 24.5, 27.5)]
    assert names == [("Green", "Red", "Green", "Red"), ("Yellow", "Red", "Yellow", "Red"), ("Red",) * 4,
                     ("Red", "Green", "Red", "Green"), ("Red", "Yellow", "Red", "Yellow"), ("Red",) * 4]  # fmt: skip
    assert lights.states_at(3.0) == lights.states_at(3.0 + CYCLE_S)


def test_follow_lane_stops_before_a_red_light_and_run_red_light_does_not():
    stop_line_y = -14.0  # road 1 enters junction 20 at y = -14 heading +y; its light is Red for the first 14 s
    obeys = run_text(RED_APPROACH.format(name="red", behavior="follow_lane"))
    front = obeys.series("y_m", "ego") + obeys.plan.actor("ego").size.length_m / 2
    assert front.max() < stop_line_y and front.max() > stop_line_y - 3.0
    assert obeys.series("speed_mps", "ego")[-1] < 0.05
    light = obeys.states[-1].lights
    assert {s.id: s.color for s in light}[4] == "Red"
    runs = run_text(RED_APPROACH.format(name="runs", behavior="run_red_light"))
    assert runs.series("y_m", "ego")[-1] > 40.0 and np.all(runs.series("speed_mps", "ego") == 10.0)
    assert runs.event("behavior_end", "ego", "run_red_light").t_s < 12.0


# --- triggers and events ------------------------------------------------------------------------

TRIGGERS = header("triggers", "urban_straight", 8) + """
  ego:
    blueprint: vehicle.tesla.model3
    at: {lane: driving, s_m: 20}
    speed_mps: 10
    behavior: follow_lane
  blocker:
    blueprint: vehicle.audi.a2
    at: {relative_to: ego, lane: same, ahead_m: 120}
    behavior:
      - stalled
      - open_door: {}
        when: {ttc_to: ego, below_s: 9}
  timed:
    blueprint: walker.pedestrian.0001
    at: {relative_to: ego, lane: sidewalk_right, ahead_m: 5}
    behavior:
      - walk: {}
        when: {after_s: 1.02, delay_s: 0.5}
  near:
    blueprint: walker.pedestrian.0002
    at: {relative_to: ego, lane: sidewalk_right, ahead_m: 40}
    behavior:
      - walk: {}
        when: {distance_to: ego, below_m: 20.3}
  region:
    blueprint: walker.pedestrian.0003
    at: {relative_to: ego, lane: sidewalk_left, ahead_m: 10}
    behavior:
      - walk: {}
        when: {in_region: {x_m: 60, y_m: 1.75, radius_m: 4.1}, actor: ego}
  follower:
    blueprint: walker.pedestrian.0004
    at: {relative_to: ego, lane: sidewalk_left, ahead_m: 30}
    behavior:
      - idle
      - walk: {}
        when: {event: near.walk.start}
"""


def _first(run: Run, holds) -> int:
    return next(k for k, state in enumerate(run.states) if holds(state.actors))


def test_each_trigger_kind_fires_at_the_right_tick():
    run = run_text(TRIGGERS)
    e, b, near = run.row("ego"), run.row("blocker"), run.row("near")
    assert run.event("trigger", "timed").tick == 21  # the first tick at or after 1.02 s
    assert run.event("behavior_start", "timed").tick == 31  # 0.5 s later: 1.52 s -> tick 31 (1.55 s)
    assert run.event("trigger", "near").tick == _first(run, lambda a: math.hypot(a.x_m[e] - a.x_m[near], a.y_m[e] - a.y_m[near]) < 20.3)
    assert run.event("trigger", "region").tick == _first(run, lambda a: math.hypot(a.x_m[e] - 60, a.y_m[e] - 1.75) < 4.1)

    def ttc(a) -> float:
        box = geometry.corners(a.x_m[[b, e]], a.y_m[[b, e]], a.yaw_rad[[b, e]], a.length_m[[b, e]], a.width_m[[b, e]])
        velocity = a.speed_mps[e] * np.array([math.cos(a.yaw_rad[e]), math.sin(a.yaw_rad[e])])
        return float(geometry.time_to_overlap_s(box[0], box[1], velocity, 9.0))

    assert run.event("trigger", "blocker").tick == _first(run, lambda a: ttc(a) < 9)
    assert run.event("trigger", "follower").tick == run.event("behavior_start", "near").tick  # same tick, via the event
    assert run.event("behavior_end", "follower", "idle").tick == run.event("behavior_start", "follower", "walk").tick


def test_first_untriggered_steps_start_at_zero_and_steps_chain():
    run = run_text(header("chain", "urban_straight", 5) + """
  ego:
    blueprint: vehicle.tesla.model3
    at: {lane: driving, s_m: 20}
    speed_mps: 6
    behavior: [stop, drop_cargo, follow_lane]
""")
    kinds = [(e.kind, e.detail) for e in run.events]
    assert kinds[0] == ("behavior_start", "stop") and run.events[0].tick == 0
    stopped = run.event("behavior_end", "ego", "stop")
    assert stopped.t_s == pytest.approx(2.0)  # 6 m/s at the stop's 3 m/s2
    # drop_cargo drops its box (ego_cargo[0]) at once: it starts and ends in one tick, and follow_lane follows
    assert [(e.kind, e.detail) for e in run.events if e.tick == stopped.tick] == [
        ("behavior_end", "stop"), ("behavior_start", "drop_cargo"), ("behavior_end", "drop_cargo"), ("behavior_start", "follow_lane")]  # fmt: skip
    assert run.series("speed_mps", "ego")[-1] > 2.0  # driving again at its follow_lane speed


def test_every_scenario_behavior_has_a_simulator_behavior():
    assert set(REGISTRY) == set(BEHAVIORS)


def test_two_runs_are_identical():
    plan = edgecase.compile(edgecase.load(SCENARIOS / "occluded_child_dartout.yaml"), seed=11)
    first, second = simulate(plan), simulate(plan)
    for a, b in zip(first.states, second.states):
        for field in a.actors.__slots__:
            assert getattr(a.actors, field).tobytes() == getattr(b.actors, field).tobytes()
        assert a.lights == b.lights
    assert first.events == second.events


def test_follow_lane_stops_at_a_dead_end_instead_of_driving_off_the_map():
    text = """
edgecase: 1
name: dead_end
map: builtin:urban_straight
duration_s: 60
actors:
  ego:
    blueprint: vehicle.lincoln.mkz_2020
    at: {lane: driving, s_m: 300}
    speed_mps: 12
    behavior: follow_lane
expect:
  - not off_road(ego)
"""
    result = edgecase.run(edgecase.loads(text, "dead_end.yaml"), 0)
    front_m = result.trace.x_m[:, 0] + result.plan.ego.size.length_m / 2  # urban_straight's lane -1 runs along +x to 400 m
    assert front_m.max() <= 400.5 and front_m[-1] > 398.0
    assert result.trace.speed_mps[-1, 0] < 0.01
    assert result.passed
