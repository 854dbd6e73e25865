"""Crosswalks on the map, and `cross: {at_crosswalk: true}` starting at one and crossing inside it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

import edgecase
from edgecase.errors import InputError
from edgecase.roads import LaneKind, RoadNetwork
from tests.test_plan import _crossing_ttc_s

SCENARIO = """
edgecase: 1
name: crosswalk_crossing
map: builtin:{map}
duration_s: 22
params:
  ttc_s: uniform(1.2, 1.8)
actors:
  ego:
    blueprint: vehicle.tesla.model3
    at: {{lane: driving, s_m: 60}}
    speed_mps: 10
    behavior: follow_lane
  pedestrian:
    blueprint: walker.pedestrian.0001
    at: {{relative_to: ego, lane: sidewalk_right, ahead_m: {ahead}}}
    behavior: {{cross: {{speed_mps: 1.4, at_crosswalk: true}}}}
criticality:
  conflict: [ego, pedestrian]
  ttc_s: $ttc_s
"""


def _scenario(map_name: str = "urban_straight", ahead: float = 130):
    return edgecase.loads(SCENARIO.format(map=map_name, ahead=ahead), "crosswalk.yaml")


def test_urban_straight_has_one_crosswalk_across_the_road_mid_block():
    network = RoadNetwork.load("builtin:urban_straight")
    (cw,) = network.crosswalks()
    assert network.crosswalks() is network.crosswalks()  # cached
    assert cw.road_id == 0
    assert (cw.x_m, cw.y_m) == pytest.approx((200.0, 0.0), abs=1e-3)
    assert cw.length_m == pytest.approx(12.6, abs=1e-3) and cw.width_m == pytest.approx(4.0, abs=1e-3)
    assert len(cw.outline) == 4
    # The axis crosses the road (road along +x): from the left kerb (-y in CARLA's frame) to the right.
    assert cw.axis_deg == pytest.approx(90.0)
    assert cw.ends[0] == pytest.approx((200.0, -6.3), abs=1e-3) and cw.ends[1] == pytest.approx((200.0, 6.3), abs=1e-3)
    for end in cw.ends:  # both ends on a sidewalk, the centre on the road
        assert network.contains(*end, LaneKind.SIDEWALK)
    assert network.contains(cw.x_m, cw.y_m, LaneKind.DRIVING)


def test_junction4_has_a_crosswalk_on_every_arm_before_the_junction():
    network = RoadNetwork.load("builtin:junction4")
    crosswalks = network.crosswalks()
    assert len(crosswalks) == 4
    assert sorted(cw.road_id for cw in crosswalks) == sorted({j.road_id for j in network.junctions()[0].approaches})
    for cw in crosswalks:
        assert math.hypot(cw.x_m, cw.y_m) == pytest.approx(17.0, abs=1e-3)  # 3 m before the mouth, 14 m out
        assert cw.length_m == pytest.approx(7.6, abs=1e-3)
        # The axis is across the arm, which points at the origin.
        radial = math.degrees(math.atan2(cw.y_m, cw.x_m))
        assert abs(math.sin(math.radians(cw.axis_deg - radial))) == pytest.approx(1.0, abs=1e-6)
        assert network.contains(cw.x_m, cw.y_m, LaneKind.DRIVING)
        for end in cw.ends:
            assert network.contains(*end, LaneKind.SIDEWALK)


def test_a_map_without_crosswalks_has_none():
    assert RoadNetwork.load("builtin:highway_merge").crosswalks() == ()


def test_the_crosser_starts_at_the_kerb_end_and_crosses_along_the_axis():
    plan = edgecase.compile(_scenario(), 3)
    walker = plan.actor("pedestrian")
    assert (walker.pose.x_m, walker.pose.y_m) == pytest.approx((200.0, 6.3), abs=1e-3)  # the right kerb: it was placed on the right
    assert walker.lane.kind == "sidewalk"
    assert walker.behaviors[0].params["heading_deg"] == pytest.approx(-90.0)
    assert walker.pose.yaw_deg == pytest.approx(-90.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_walker_crosses_inside_the_crosswalk_and_meets_the_ttc(seed):
    scenario = _scenario()
    network = RoadNetwork.load("builtin:urban_straight")
    (cw,) = network.crosswalks()
    result = edgecase.run(scenario, seed)
    plan, trace = result.plan, result.trace
    assert abs(_crossing_ttc_s(plan, network) - plan.params["ttc_s"]) <= 0.05  # the plan meets it at constant speeds
    i = trace.index("pedestrian")
    walker = plan.actor("pedestrian")
    x, y = trace.x_m[:, i], trace.y_m[:, i]
    u = (math.cos(math.radians(cw.axis_deg)), math.sin(math.radians(cw.axis_deg)))
    arc = (x - cw.ends[0][0]) * u[0] + (y - cw.ends[0][1]) * u[1]
    crossing = (np.abs(arc - cw.length_m / 2) <= cw.length_m / 2) & (np.hypot(x - walker.pose.x_m, y - walker.pose.y_m) > 0.01)
    assert crossing.sum() > 100, "the walker never crossed"
    assert min(arc[-1], cw.length_m - arc[-1]) <= 0.3  # it got to the far kerb
    area = shapely.Polygon(cw.outline).buffer(walker.size.width_m / 2 + 0.01)
    assert shapely.contains_xy(area, x[crossing], y[crossing]).all()
    # Simulated: the ego's front bumper is ttc_s from the crosswalk when the walker's centre enters its lane.
    ego = plan.ego
    e = trace.index(ego.name)
    enters = np.flatnonzero(np.abs(y - ego.pose.y_m) <= ego.lane.width_m / 2)[0]  # a straight lane along +x
    front = trace.x_m[enters, e] + ego.size.length_m / 2
    assert (cw.x_m - front) / ego.speed_mps == pytest.approx(plan.params["ttc_s"], abs=0.1)


def test_junction4_crossing_at_a_crosswalk():
    text = """
edgecase: 1
name: junction_crosswalk
map: builtin:junction4
duration_s: 10
actors:
  walker:
    blueprint: walker.pedestrian.0001
    at: {x_m: 25, y_m: 4.5}
    role: ego
    behavior: {cross: {at_crosswalk: true}}
"""
    plan = edgecase.compile(edgecase.loads(text, "j.yaml"), 0)
    walker = plan.actor("walker")
    assert (walker.pose.x_m, walker.pose.y_m) == pytest.approx((17.0, 3.8), abs=1e-3)
    assert walker.behaviors[0].params["heading_deg"] == pytest.approx(-90.0)


def test_no_crosswalk_near_is_an_error_at_the_actor():
    with pytest.raises(InputError, match="nearest crosswalk .* is 9[0-9].[0-9] m away") as err:
        edgecase.compile(_scenario(ahead=50), 0)
    assert err.value.pos is not None and err.value.pos.line == 16  # the pedestrian's `at:`


def test_a_map_without_crosswalks_is_an_error_at_the_actor():
    text = """
edgecase: 1
name: no_crosswalks
map: builtin:highway_merge
duration_s: 10
actors:
  walker:
    blueprint: walker.pedestrian.0001
    at: {x_m: 25, y_m: 4.5}
    role: ego
    behavior: {cross: {at_crosswalk: true}}
"""
    with pytest.raises(InputError, match="has no crosswalks") as err:
        edgecase.compile(edgecase.loads(text, "h.yaml"), 0)
    assert err.value.pos is not None and err.value.pos.line == 9
