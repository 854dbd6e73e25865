"""Scenarios control the traffic lights: the cycle's timing and where in it the episode starts."""

from __future__ import annotations

import pytest

import edgecase
from edgecase import cli

RUNNER = """
edgecase: 1
name: red_light_runner
map: builtin:junction4
duration_s: 12
traffic_lights: {{green_s: 8, yellow_s: 3, all_red_s: 1, offset_s: {offset}}}
actors:
  ego:
    blueprint: vehicle.tesla.model3
    at: {{junction: any, approach: 0, before_m: 60}}
    speed_mps: 12
    behavior: {behavior}
expect:
  - ran_red_light(ego)
"""


@pytest.mark.parametrize(
    ("offset", "behavior", "violates"),
    [(0, "run_red_light", False), (14, "run_red_light", True), (14, "follow_lane", False)],
)
def test_the_cycle_offset_decides_the_light_a_car_meets(offset, behavior, violates):
    result = edgecase.run(edgecase.loads(RUNNER.format(offset=offset, behavior=behavior), "r.yaml"), 0)
    assert result.plan.traffic_lights.offset_s == offset and result.plan.traffic_lights.green_s == 8
    assert result.oracles[0].passed is violates
    if behavior == "follow_lane":  # an obedient car waits at the red instead, then goes on green
        assert result.trace.speed_mps[:, 0].min() < 0.5


def test_the_recorded_lights_follow_the_plans_cycle():
    result = edgecase.run(edgecase.loads(RUNNER.format(offset=0, behavior="follow_lane"), "r.yaml"), 0)
    codes = result.trace.light_codes  # (T, L), LIGHT_COLORS = Red, Yellow, Green
    t = result.trace.t_s
    phase0 = codes[:, 0]
    assert (phase0[t < 8 - 1e-9] == 2).all()  # green for 8 s
    assert (phase0[(t > 8 + 1e-9) & (t < 11 - 1e-9)] == 1).all()  # then yellow for 3 s
    assert (phase0[t > 11 + 1e-9] == 0).all()  # then red
    assert {int(c) for c in codes[0]} == {0, 2}  # the crossing axis starts red


def test_a_bad_cycle_is_an_input_error(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(RUNNER.format(offset=0, behavior="follow_lane").replace("green_s: 8", "green_s: -8"))
    assert cli.run(["check", str(bad)]) == 2
    assert capsys.readouterr().err.startswith(f"{bad}:6:27: green_s")
