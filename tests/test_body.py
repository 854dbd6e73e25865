"""Vehicle bodies and lights through the whole loop: a door opening on one side, hazard and brake
lights, and lost cargo that falls, slides, stops, and is seen by metrics and by the IDM."""

from __future__ import annotations

import math

import carla
import numpy as np
import pytest

import edgecase
from edgecase.backends.embedded import EmbeddedBackend
from edgecase.backends.embedded.kinematics import CLASS_LIMITS, DROP_GAP_M
from edgecase.plan import EpisodePlan
from edgecase.roads import RoadNetwork
from edgecase.sim import state as sim_state
from edgecase.sim.loop import EpisodeResult, run_episode
from tests.test_agents import header, run_text


def episode(text: str, seed: int = 0) -> EpisodeResult:
    plan = edgecase.compile(edgecase.loads(text, name="test.yaml"), seed=seed)
    return run_episode(plan, EmbeddedBackend(), RoadNetwork.load(plan.map.source))


def series(result: EpisodeResult, field: str, name: str) -> np.ndarray:
    return getattr(result.trace, field)[:, result.trace.index(name)]


# --- open_door: the box grows on the door's side only -------------------------------------------

CAR_W, BIKE_W, CLEAR = 2.163450002670288, 0.5824381709098816, 0.6  # tesla model3, diamondback century
# urban_straight road 0 at s = 50: driving lane -1 centred on y = 1.75, parking lane -2 on y = 4.75 (3.5 and 2.5 m wide)
BESIDE_M = CAR_W / 2 + CLEAR + BIKE_W / 2  # car centre to cyclist centre for a 0.6 m clearance

DOOR = header("door_side", "urban_straight", 8) + """
  car:
    blueprint: vehicle.tesla.model3
    at: {{lane: {car_lane}, road: 0, lane_id: {car_lane_id}, s_m: 50, lateral_m: {car_lateral}}}
    behavior:
      - open_door: {{side: {side}, duration_s: 0.5}}
        when: {{after_s: 0.5}}
  ego:
    blueprint: vehicle.diamondback.century
    at: {{lane: {bike_lane}, road: 0, lane_id: {bike_lane_id}, s_m: 30}}
    speed_mps: 5
    behavior: {{follow_lane: {{speed_mps: 5}}}}
"""

# The cyclist on the driving lane passes 0.6 m to the LEFT of a car in the parking lane; on the
# parking lane it passes 0.6 m to the RIGHT of a car in the driving lane.
LEFT_PASS = dict(car_lane="parking", car_lane_id=-2, car_lateral=round(1.75 + BESIDE_M - 4.75, 4), bike_lane="driving", bike_lane_id=-1)
RIGHT_PASS = dict(car_lane="driving", car_lane_id=-1, car_lateral=round(4.75 - BESIDE_M - 1.75, 4), bike_lane="parking", bike_lane_id=-2)


@pytest.mark.parametrize("passing, side, hits", [(LEFT_PASS, "left", True), (RIGHT_PASS, "left", False),
                                                 (RIGHT_PASS, "right", True), (LEFT_PASS, "right", False)])  # fmt: skip
def test_a_door_opens_on_its_side_only(passing: dict, side: str, hits: bool):
    result = episode(DOOR.format(side=side, **passing))
    car_y, bike_y = series(result, "y_m", "car"), series(result, "y_m", "ego")
    gap = abs(car_y[0] - bike_y[0]) - (CAR_W + BIKE_W) / 2
    assert gap == pytest.approx(CLEAR, abs=0.02)  # the cyclist rides its lane centre: 0.6 m clear of the closed car
    assert [c.actors for c in result.metrics.collisions] == ([("car", "ego")] if hits else [])
    offset, width = series(result, "box_offset_m", "car"), series(result, "width_m", "car")
    assert np.allclose(width[-1] - CAR_W, 0.9) and offset[-1] == pytest.approx(0.45 if side == "right" else -0.45)
    assert offset[0] == 0.0
    # the closed side has not moved: the box's edge away from the door stays where the body is
    far_edge = offset - np.sign(offset[-1]) * width / 2
    assert np.allclose(far_edge, -np.sign(offset[-1]) * CAR_W / 2)


# --- lights: hazards while stalled, brake lights while braking ------------------------------------


def test_light_flags_are_carlas():
    names = carla.VehicleLightState.names
    assert sim_state.LIGHT_BRAKE == int(names["Brake"])
    assert sim_state.LIGHT_HAZARD == int(names["LeftBlinker"]) | int(names["RightBlinker"])
    assert sim_state.LIGHT_LEFT_BLINKER == int(names["LeftBlinker"]) and sim_state.LIGHT_RIGHT_BLINKER == int(names["RightBlinker"])


@pytest.mark.parametrize("hazards", [True, False])
def test_stalled_sets_hazard_lights_and_braking_sets_brake_lights(hazards: bool):
    run = run_text(header("stalled", "urban_straight", 6) + f"""
  ego:
    blueprint: vehicle.tesla.model3
    at: {{lane: driving, s_m: 20}}
    speed_mps: 6
    behavior:
      - follow_lane
      - stalled: {{hazard_lights: {str(hazards).lower()}}}
        when: {{after_s: 1}}
""")
    lights = run.series("light_state", "ego")
    assert lights.dtype == np.uint32
    start = run.event("behavior_start", "ego", "stalled").tick
    hazard = (lights & sim_state.LIGHT_HAZARD) == sim_state.LIGHT_HAZARD
    assert not hazard[: start + 1].any()
    assert hazard[start + 1 :].all() == hazards and (hazard[start + 1 :].any() == hazards)
    braking = run.series("accel_mps2", "ego") < -1.0
    brake = (lights & sim_state.LIGHT_BRAKE) != 0
    assert braking.any() and np.array_equal(brake[1:], braking[1:])  # applied with the step's braking
    assert not brake[-1]  # stopped, no longer braking
    assert run.series("speed_mps", "ego")[-1] == 0.0


# --- drop_cargo: a box falls off the back, slides to a stop, and is an obstacle ---------------------

CARGO = header("lost_cargo", "urban_straight", 12) + """
  truck:
    blueprint: vehicle.carlamotors.carlacola
    at: {lane: driving, s_m: 80}
    speed_mps: 10
    behavior:
      - follow_lane: {speed_mps: 10}
      - drop_cargo: {count: 1}
        when: {after_s: 2}
  ego:
    blueprint: vehicle.tesla.model3
    at: {relative_to: truck, lane: same, behind_m: 30}
    speed_mps: 10
    behavior: {follow_lane: {speed_mps: 10}}
"""


def test_cargo_is_planned_carried_and_dropped_behind_the_truck():
    result = episode(CARGO)
    plan, trace = result.plan, result.trace
    box = plan.actor("truck_cargo[0]")
    truck = plan.actor("truck")
    assert plan.actors[-1] is box and box.id == len(plan.actors)
    assert (box.spawn, box.carried_by, box.role, box.actor_class) == ("dropped", "truck", "background", "prop")
    assert box.blueprint == next(s for s in truck.behaviors if s.name == "drop_cargo").params["blueprint"]
    assert box.blueprint.startswith("static.prop.box") and box.size.length_m > 0
    assert box.pose.z_m == pytest.approx(truck.pose.z_m + truck.size.height_m)
    assert truck.pose.x_m - box.pose.x_m == pytest.approx((truck.size.length_m - box.size.length_m) / 2)
    assert EpisodePlan.model_validate_json(plan.model_dump_json()) == plan

    drop = next(e for e in trace.events if e.kind == "behavior_start" and e.actor == "truck" and e.detail == "drop_cargo")
    assert drop.t_s == pytest.approx(2.0)
    active = series(result, "active", "truck_cargo[0]")
    assert not active[: drop.tick + 1].any() and active[drop.tick + 1 :].all()  # in the world from the step after

    # carried: on the truck's rear at the truck's speed, then it lands DROP_GAP_M behind its rear bumper
    tx, bx = series(result, "x_m", "truck"), series(result, "x_m", "truck_cargo[0]")
    assert np.allclose((tx - bx)[: drop.tick + 1], (truck.size.length_m - box.size.length_m) / 2)
    k = drop.tick + 1
    assert tx[k] - bx[k] == pytest.approx((truck.size.length_m + box.size.length_m) / 2 + DROP_GAP_M)
    assert series(result, "y_m", "truck_cargo[0]")[k] == pytest.approx(series(result, "y_m", "truck")[k])
    v = series(result, "speed_mps", "truck_cargo[0]")
    assert v[k] == pytest.approx(series(result, "speed_mps", "truck")[k])

    # slides at the cargo's friction deceleration until it stops, then stays
    decel = CLASS_LIMITS["cargo"].max_decel_mps2
    assert 4.0 <= decel <= 6.0
    sliding = np.diff(v[k:])
    assert np.allclose(sliding[v[k + 1 :] > 0], -decel * plan.step_s)
    stop = k + int(np.argmax(v[k:] == 0.0))
    assert v[stop] == 0.0 and np.all(v[stop:] == 0.0) and np.all(np.diff(bx[stop:]) == 0.0)
    assert bx[stop] - bx[k] == pytest.approx(v[k] ** 2 / (2 * decel), abs=0.02)


def test_a_following_car_sees_lost_cargo_and_stops_for_it():
    result = episode(CARGO)
    trace = result.trace
    pair = next(p for p in result.metrics.pairs if p.actors == ("ego", "truck_cargo[0]"))
    assert math.isfinite(pair.min_ttc_s) and pair.min_ttc_t_s > 2.0  # a TTC only once it is in the world
    drop = next(e for e in trace.events if e.kind == "behavior_start" and e.detail == "drop_cargo")
    ego_a = series(result, "accel_mps2", "ego")
    assert ego_a[drop.tick + 1 :].min() < ego_a[: drop.tick + 1].min() - 1.0  # the IDM brakes for the box, not the truck
    assert series(result, "speed_mps", "ego")[-1] < 0.05  # and stops behind it
    assert not result.metrics.collisions  # in time: 30 m behind at 10 m/s leaves room
    gap = series(result, "x_m", "truck_cargo[0]")[-1] - series(result, "x_m", "ego")[-1]
    assert gap > (result.plan.actor("ego").size.length_m + result.plan.actor("truck_cargo[0]").size.length_m) / 2


def test_plans_without_the_cargo_fields_stay_valid():
    plan = edgecase.compile(edgecase.loads(CARGO, name="test.yaml"), seed=0)
    doc = plan.model_dump(mode="json")
    doc["actors"] = [{k: v for k, v in a.items() if k not in ("spawn", "carried_by")} for a in doc["actors"] if a["spawn"] == "start"]
    old = EpisodePlan.model_validate(doc)
    assert all(a.spawn == "start" and a.carried_by is None for a in old.actors)


def test_cargo_runs_are_identical():
    first, second = episode(CARGO, seed=3), episode(CARGO, seed=3)
    for field in ("x_m", "y_m", "speed_mps", "active", "box_offset_m", "light_state"):
        assert getattr(first.trace, field).tobytes() == getattr(second.trace, field).tobytes()
    assert first.trace.events == second.trace.events
