"""The junction scenarios (issue 9) compile for seeds 0..49 and realize their edge case.

Each scenario's 50-seed realization rate on its builtin map is measured with `edgecase sweep`
(>= 90 %, see the scenario files); here, for speed, 10 seeds each must hold in >= 9 cases, and
the trace must show the set-up the oracles cannot name (the runner's red, the ego's green, the
stalled car beyond the junction, the turn across the crosswalk).
"""

from __future__ import annotations


import numpy as np
import pytest

import edgecase
from edgecase.errors import InputError
from tests.helpers import SCENARIOS, realized, shared_map

JUNCTION_SCENARIOS = {
    "red_light_runner_junction": "builtin:junction4",
    "unsignalized_priority_violation": "builtin:t_junction",
    "turning_across_crosswalk": "builtin:junction4",
    "blocked_junction_exit": "builtin:junction4",
    "left_turn_across_oncoming": "builtin:junction4",
    "emergency_vehicle_from_behind": "builtin:urban_straight",
}


@pytest.fixture(scope="module", params=sorted(JUNCTION_SCENARIOS))
def scenario(request):
    return request.param, edgecase.load(SCENARIOS / f"{request.param}.yaml")


def test_scenario_is_documented_and_on_its_builtin_map(scenario):
    name, sc = scenario
    spec = sc.spec
    assert spec.name == name
    assert spec.map == JUNCTION_SCENARIOS[name]
    assert spec.description and spec.tags and spec.expect
    text = (SCENARIOS / f"{name}.yaml").read_text()
    for param in spec.params:  # every param's range carries a comment (its source)
        line = next(line for line in text.splitlines() if line.strip().startswith(f"{param}:"))
        assert "#" in line, f"{name}: param {param} has no source comment"


def test_seeds_0_to_49_compile(scenario):
    name, sc = scenario
    for seed in range(50):
        plan = edgecase.compile(sc, seed)  # placement overlap and lane-type checks run here
        assert plan.actors, f"{name} seed {seed}: empty plan"


def test_ten_seeds_realize_the_edge_case(scenario):
    name, sc = scenario
    held, failures = realized(sc, range(10), every_oracle=True)
    assert held >= 9, f"{name}: {held}/10 held; failures: {failures}"


def _xy(result, name):
    i = result.trace.index(name)
    return result.trace.x_m[:, i], result.trace.y_m[:, i]


def test_blocked_exit_stalled_car_stands_just_past_the_junction_and_the_ego_stops_inside_it():
    sc = edgecase.load(SCENARIOS / "blocked_junction_exit.yaml")
    for seed in range(3):
        result = edgecase.run(sc, seed)
        i, j = result.trace.index("stalled"), result.trace.index("ego")
        x, y = _xy(result, "stalled")
        rear = x[0] - result.trace.length_m[0, i] / 2
        assert 14.0 - 0.5 < rear < 14.0 + 4.5 and abs(y[0] - 1.75) < 0.3  # the exit lane, 0-4 m past the junction (x = 14)
        assert np.ptp(x) < 0.01 and result.trace.light_state[:, i].any()  # stalled, hazard lights on
        ego_rear = result.trace.x_m[-1, j] - result.trace.length_m[-1, j] / 2
        assert ego_rear < 14.0 and result.trace.speed_mps[-1, j] < 0.1  # the ego stopped with its rear inside the junction


def test_turning_ego_turns_right_into_the_crosswalk_arm():
    result = edgecase.run(edgecase.load(SCENARIOS / "turning_across_crosswalk.yaml"), 0)
    i = result.trace.index("ego")
    yaw = np.degrees(result.trace.yaw_rad[:, i])
    assert abs(yaw[0]) < 5 and abs(yaw[-1] - 90) < 10  # heading +x, then +y: a right turn (CARLA yaw grows to the right)
    px, py = _xy(result, "pedestrian")
    assert abs(py[0] - 17.0) < 0.5 and abs(abs(px[0]) - 3.8) < 0.5  # starts at the crosswalk's kerb end


def test_emergency_vehicle_is_behind_the_ego_in_its_lane():
    result = edgecase.run(edgecase.load(SCENARIOS / "emergency_vehicle_from_behind.yaml"), 0)
    ex, ey = _xy(result, "ego")
    vx, vy = _xy(result, "emergency")
    assert vx[0] < ex[0] and abs(vy[0] - ey[0]) < 0.3
    plan = edgecase.compile(edgecase.load(SCENARIOS / "emergency_vehicle_from_behind.yaml"), 0)
    assert next(a for a in plan.actors if a.name == "emergency").blueprint == "vehicle.ford.ambulance"


@pytest.mark.parametrize("name", sorted(n for n, m in JUNCTION_SCENARIOS.items() if m != "builtin:urban_straight"))
def test_on_a_town_the_builtin_junction_is_a_clear_error(name, tmp_path):
    town = shared_map("Town10HD")
    path = tmp_path / f"{name}_town.yaml"
    path.write_text(f"edgecase: 1\nname: {name}_town\nextends: {SCENARIOS / (name + '.yaml')}\nmap: {town}\n")
    with pytest.raises(InputError, match="has no junction"):
        edgecase.compile(edgecase.load(path), 0)
