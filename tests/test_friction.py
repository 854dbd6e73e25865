"""Low-friction surfaces (`surfaces:`): the language, the plan, the embedded physics, the CARLA
bridge's friction triggers, and the library scenario low_friction_braking (issue 9)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

import edgecase
from edgecase import cli
from edgecase.backends.carla import CarlaBackend
from edgecase.backends.carla.surfaces import FRICTION_BLUEPRINT, carla_friction
from edgecase.backends.embedded.kinematics import G_MPS2, LimitArrays, initial_states, neutral_controls, step
from edgecase.roads import RoadNetwork
from edgecase.sim.state import Controls
from tests.helpers import SCENARIOS, realized

LOW = SCENARIOS / "low_friction_braking.yaml"

BASE = """\
edgecase: 1
name: friction_probe
map: builtin:urban_straight
duration_s: 20
actors:
  ego:
    blueprint: vehicle.lincoln.mkz_2020
    at: {lane: driving, s_m: 20}
    speed_mps: 20
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def braking_distance_m(plan) -> float:
    """How far the ego's centre travels braking at full from its plan speed (the kinematics alone)."""
    limits = LimitArrays.from_plan(plan)
    state = initial_states(plan, limits)
    n = len(plan.actors)
    base = neutral_controls(n, state.active)
    controls = Controls(accel_mps2=np.full(n, -100.0), steer_rad=base.steer_rad, heading_rad=base.heading_rad,
                        width_m=base.width_m, active=base.active)
    x0, y0 = state.x_m[0], state.y_m[0]
    for _ in range(2000):
        state = step(state, controls, plan.step_s, limits)
        if state.speed_mps[0] == 0.0:
            break
    return math.hypot(state.x_m[0] - x0, state.y_m[0] - y0)


# --- the plan -------------------------------------------------------------------------------------

def test_a_patch_is_planned_where_the_placement_says(tmp_path):
    path = write(tmp_path, BASE + "surfaces:\n  ice: {at: {relative_to: ego, ahead_m: 40}, length_m: 30, friction: uniform(0.1, 0.3)}\n")
    plan = edgecase.compile(path, 1)
    (ice,) = plan.surfaces
    ego = plan.ego.pose
    assert ice.name == "ice" and math.hypot(ice.x_m - ego.x_m, ice.y_m - ego.y_m) == pytest.approx(40.0, abs=1e-6)
    assert ice.yaw_deg == pytest.approx(ego.yaw_deg) and ice.length_m == 30.0
    assert ice.width_m == pytest.approx(plan.ego.lane.width_m)  # default: the lane's width
    assert 0.1 <= ice.friction <= 0.3
    again = type(plan).model_validate_json(plan.canonical_json())
    assert again == plan and again.content_hash() == plan.content_hash()


def test_patches_leave_plans_without_them_and_the_actors_draws_unchanged(tmp_path):
    plain = edgecase.compile(SCENARIOS / "cut_out_reveals_stalled.yaml", 2)
    assert "surfaces" not in json.loads(plain.canonical_json())  # hashes of scenarios without surfaces are as before
    with_patch = write(tmp_path, f"extends: {LOW}\n", "a.yaml")
    text = LOW.read_text()
    without = write(tmp_path, text[:text.index("surfaces:")] + text[text.index("expect:"):], "b.yaml")  # the patch cut out
    for seed in range(5):
        a, b = edgecase.compile(with_patch, seed), edgecase.compile(without, seed)
        assert a.actors == b.actors and a.params == b.params and len(a.surfaces) == 1 and b.surfaces == ()


# --- the embedded physics -------------------------------------------------------------------------

@pytest.mark.parametrize("mu", [0.2, 0.5])
def test_full_braking_on_a_patch_stops_in_v2_over_2_mu_g(tmp_path, mu):
    dry = braking_distance_m(edgecase.compile(write(tmp_path, BASE, "dry.yaml"), 0))
    assert dry == pytest.approx(20.0**2 / (2 * 9.0), rel=0.01)  # a car's dry limit, 9 m/s2
    path = write(tmp_path, BASE + f"surfaces:\n  ice: {{at: {{relative_to: ego, ahead_m: 100}}, length_m: 250, friction: {mu}}}\n")
    icy = braking_distance_m(edgecase.compile(path, 0))
    assert icy == pytest.approx(20.0**2 / (2 * mu * G_MPS2), rel=0.02)
    assert icy > dry * 0.85 / mu


def test_a_patch_beside_the_lane_does_nothing(tmp_path):
    dry = braking_distance_m(edgecase.compile(write(tmp_path, BASE, "dry.yaml"), 0))
    path = write(tmp_path, BASE + "surfaces:\n  oil: {at: {relative_to: ego, lane: opposite, ahead_m: 50}, length_m: 200, friction: 0.1}\n")
    plan = edgecase.compile(path, 0)
    assert plan.surfaces and braking_distance_m(plan) == pytest.approx(dry, abs=1e-9)


def test_a_patch_limits_cornering_but_not_walkers(tmp_path):
    path = write(tmp_path, BASE + "surfaces:\n  ice: {at: {relative_to: ego, ahead_m: 0}, length_m: 100, friction: 0.1}\n")
    plan = edgecase.compile(path, 0)
    limits = LimitArrays.from_plan(plan)
    state = initial_states(plan, limits)
    base = neutral_controls(1, state.active)
    controls = Controls(accel_mps2=np.zeros(1), steer_rad=np.full(1, 0.5), heading_rad=base.heading_rad,
                        width_m=base.width_m, active=base.active)
    for _ in range(20):
        state = step(state, controls, plan.step_s, limits)
    wheelbase = 2 * limits.half_wheelbase_m[0]
    lateral = state.speed_mps[0] ** 2 * math.tan(state.steer_rad[0]) / wheelbase
    assert lateral == pytest.approx(0.1 * G_MPS2, rel=1e-6)  # the wheels turn no further than the ice holds


# --- bad input -----------------------------------------------------------------------------------

BAD = {
    "unknown_key": ("surfaces:\n  ice: {at: {relative_to: ego, ahead_m: 40}, friction: 0.2, slippery: true}\n", "unknown key 'slippery'"),
    "friction_5": ("surfaces:\n  ice: {at: {relative_to: ego, ahead_m: 40}, friction: 5}\n", "outside 0.05..1.2"),
    "friction_drawn_too_high": ("surfaces:\n  ice: {at: {relative_to: ego, ahead_m: 40}, friction: uniform(2, 3)}\n", "outside 0.05..1.2"),
    "wrong_type": ("surfaces:\n  ice: {at: {relative_to: ego, ahead_m: 40}, friction: [0.2]}\n", "expected a number"),
    "not_a_mapping": ("surfaces: [ice]\n", ""),
    "missing_friction": ("surfaces:\n  ice: {at: {relative_to: ego, ahead_m: 40}}\n", "friction"),
    "unknown_actor": ("surfaces:\n  ice: {at: {relative_to: egoo, ahead_m: 40}, friction: 0.2}\n", "no actor 'egoo'"),
    "bad_name": ("surfaces:\n  1ice: {at: {relative_to: ego, ahead_m: 40}, friction: 0.2}\n", "not a valid name"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_surfaces_exit_2_with_file_line_col(case, tmp_path, capsys):
    text, message = BAD[case]
    path = write(tmp_path, BASE + text)
    code = cli.run(["check", str(path)])
    err = capsys.readouterr().err
    assert code == 2, err
    match = re.match(rf"{re.escape(str(path))}:(\d+):(\d+): ", err)
    assert match and int(match.group(1)) >= 10, err  # on the surfaces lines, after BASE's 9
    assert message in err


# --- the CARLA bridge on the fake -------------------------------------------------------------------

def test_the_bridge_spawns_a_friction_trigger_per_patch_and_destroys_it(server):
    plan = edgecase.compile(LOW, 3)
    network = RoadNetwork.load(plan.map.source)
    backend = CarlaBackend("localhost:2000", timeout_s=0.3, network=network)
    backend.reset(plan)
    try:
        (trigger,) = server.alive("trigger")
        (ice,) = plan.surfaces
        assert trigger.type_id == FRICTION_BLUEPRINT
        assert float(trigger.attributes["friction"]) == pytest.approx(carla_friction(ice.friction), abs=1e-3)
        assert carla_friction(0.9) == pytest.approx(3.5)  # the dry road is CARLA's default tyre friction
        assert float(trigger.attributes["extent_x"]) == pytest.approx(ice.length_m * 50, abs=0.1)  # half length, cm
        assert float(trigger.attributes["extent_y"]) == pytest.approx(ice.width_m * 50, abs=0.1)
        assert (trigger.x, trigger.y, trigger.yaw) == pytest.approx((ice.x_m, ice.y_m, ice.yaw_deg), abs=1e-3)
    finally:
        backend.close()
    assert server.live_actors() == 0 and not backend.cleanup_problems


# --- the library scenario --------------------------------------------------------------------------

def test_low_friction_braking_compiles_for_50_seeds_and_is_documented():
    scenario = edgecase.load(LOW)
    for seed in range(50):
        plan = edgecase.compile(scenario, seed)
        (ice,) = plan.surfaces
        assert 0.1 <= ice.friction <= 0.3
    assert plan.map.source == "builtin:urban_straight" and "low_friction" in plan.tags
    text = LOW.read_text()
    assert "description:" in text and "#" in text.split("params:", 1)[1]


def test_low_friction_braking_realizes_its_edge_case():
    held, failures = realized(edgecase.load(LOW), range(10), every_oracle=True)
    assert held >= 9, failures


def test_on_dry_road_the_same_episodes_are_not_the_edge_case(tmp_path):
    dry = write(tmp_path, f"extends: {LOW}\nparams: {{friction: 0.9}}\n")
    held, failures = realized(edgecase.load(dry), range(10), every_oracle=True)
    assert held == 0
    ttc = [dict(lines)["min_ttc_s(ego, lead, after=lead.start) < 1.5"] for _, lines in failures]
    assert min(ttc) > 1.5  # the friction is what makes it critical
