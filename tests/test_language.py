"""The scenario language as a user writes it: extends, sweep, placements, blueprints, behaviors,
triggers, weather, the schema and the Python API, each checked in the compiled plan."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re

import carla
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edgecase
from edgecase import cli
from edgecase.errors import InputError
from edgecase.plan import EpisodePlan
from edgecase.plan.blueprints import catalog
from edgecase.plan.checks import OVERLAP_M2, footprint
from edgecase.roads import RoadNetwork
from edgecase.roads.builtin import builtin_xodr
from edgecase.scenario.behaviors import BEHAVIORS
from edgecase.scenario.model import WEATHER_FIELDS, WEATHER_PRESETS, ScenarioSpec
from tests.helpers import REPO, SCENARIOS, lane_polyline, project

SCENARIO_FILES = sorted(SCENARIOS.glob("*.yaml"))
CHILD = SCENARIOS / "occluded_child_dartout.yaml"


def scenario(actors: str = "", *, map: str = "urban_straight", head: str = "", ego_at: str = "{lane: driving, s_m: 100}") -> str:
    """A scenario with an ego at s = 100 m of the first driving lane, plus `actors` (YAML under `actors:`)."""
    return (
        f"edgecase: 1\nname: t\nmap: builtin:{map}\n{head}actors:\n"
        f"  ego:\n    blueprint: vehicle.lincoln.mkz_2020\n    at: {ego_at}\n    speed_mps: 10\n"
        + actors
    )


def plan_of(text: str, seed: int = 0, overrides=None) -> EpisodePlan:
    return edgecase.compile(edgecase.loads(text, "t.yaml"), seed, overrides)


def error_of(text: str, seed: int = 0) -> InputError:
    with pytest.raises(InputError) as info:
        plan_of(text, seed)
    return info.value


def at(text: str, needle: str, offset: int = 0) -> str:
    """'line:col' (1-based) where `needle` first occurs in `text`, shifted right by `offset`."""
    for number, line in enumerate(text.splitlines(), start=1):
        col = line.find(needle)
        if col >= 0:
            return f"{number}:{col + 1 + offset}"
    raise AssertionError(f"{needle!r} is not in the text")


def along(ref, other) -> float:
    """How far `other` is ahead of `ref` along ref's heading (centre to centre)."""
    yaw = math.radians(ref.pose.yaw_deg)
    return (other.pose.x_m - ref.pose.x_m) * math.cos(yaw) + (other.pose.y_m - ref.pose.y_m) * math.sin(yaw)


def yaw_diff(a: float, b: float) -> float:
    return abs(math.remainder(a - b, 360.0))


# --- extends ------------------------------------------------------------------------------------

BASE = """\
edgecase: 1
name: base_scenario
map: builtin:urban_straight
duration_s: 8
tags: [base, urban, long]
weather: {preset: HardRainNight, fog_density: 10}
params:
  ego_speed_mps: uniform(8, 12)
  gap_m: 30
actors:
  ego:
    blueprint: vehicle.lincoln.mkz_2020
    at: {lane: driving, s_m: 20}
    speed_mps: $ego_speed_mps
    behavior: follow_lane
  lead:
    blueprint: vehicle.tesla.model3
    at: {relative_to: ego, ahead_m: $gap_m}
    speed_mps: 5
    behavior: [follow_lane, hard_brake]
"""

CHILD_TEXT = """\
extends: ../library/base.yaml
name: child_scenario
tags: [child]
weather: {fog_density: 20}
params:
  gap_m: 40
actors:
  lead:
    speed_mps: 7
    behavior: [stop]
"""


def write_pair(tmp_path, base: str = BASE, child: str = CHILD_TEXT):
    (tmp_path / "library").mkdir(exist_ok=True)
    (tmp_path / "mine").mkdir(exist_ok=True)
    base_path, child_path = tmp_path / "library" / "base.yaml", tmp_path / "mine" / "child.yaml"
    base_path.write_text(base)
    child_path.write_text(child)
    return base_path.resolve(), child_path


def test_extends_merges_mappings_key_by_key_and_replaces_lists(tmp_path):
    _, child_path = write_pair(tmp_path)
    scn = edgecase.load(child_path)
    spec = scn.spec
    assert spec.name == "child_scenario" and spec.duration_s == 8  # the child's name, the base's duration
    assert spec.tags == ("child",)  # a list is replaced, not appended to
    assert spec.params["gap_m"] == 40 and str(spec.params["ego_speed_mps"]) == "uniform(8, 12)"
    lead = spec.actors["lead"]
    assert lead.blueprint == "vehicle.tesla.model3" and lead.speed_mps == 7  # merged key by key
    assert [step.name for step in lead.behavior] == ["stop"]  # the base's two steps are gone
    assert spec.weather.preset == "HardRainNight"  # the base's preset, the child's fog
    plan = edgecase.compile(scn, 5)
    assert plan.weather.params["fog_density"] == 20
    assert along(plan.ego, plan.actor("lead")) == pytest.approx(40.0, abs=1e-3)
    assert plan.actor("lead").speed_mps == 7 and [b.name for b in plan.actor("lead").behaviors] == ["stop"]


@pytest.mark.parametrize(
    "where, base_edit, child_edit, needle, offset, fragment",
    [
        ("base", ("    speed_mps: 5\n", "    sped_mps: 5\n"), None, "sped_mps", 0, "did you mean 'speed_mps'"),
        ("base", ("duration_s: 8", "duration_s: -8"), None, "-8", 0, "outside"),
        ("base", ("ahead_m: $gap_m", "ahead_m: $gap"), None, "$gap}", 0, "did you mean 'gap_m'"),
        ("child", None, ("speed_mps: 7", "speed_mps: $fast"), "$fast", 0, "no param 'fast'"),
        ("child", None, ("tags: [child]", "tags: [child]\nduration_s: -3"), "-3", 0, "outside"),
        ("child", None, ("    behavior: [stop]", "    behavior: [{stop: {decel_mps2: 99}}]"), "99", 0, "outside"),
    ],
)
def test_extends_errors_point_into_the_file_that_wrote_the_value(tmp_path, capsys, where, base_edit, child_edit, needle, offset, fragment):
    base = BASE.replace(*base_edit) if base_edit else BASE
    child = CHILD_TEXT.replace(*child_edit) if child_edit else CHILD_TEXT
    base_path, child_path = write_pair(tmp_path, base, child)
    assert cli.run(["check", str(child_path)]) == 2
    err = capsys.readouterr().err
    path, text = (base_path, base) if where == "base" else (child_path, child)
    assert err.startswith(f"{path}:{at(text, needle, offset)}: "), err
    assert fragment in err


def test_a_relative_map_path_in_the_base_resolves_next_to_the_base(tmp_path):
    xodr = builtin_xodr("urban_straight")
    (tmp_path / "library" / "maps").mkdir(parents=True)
    (tmp_path / "library" / "maps" / "street.xodr").write_text(xodr)
    _, child_path = write_pair(tmp_path, BASE.replace("builtin:urban_straight", "maps/street.xodr"))
    plan = edgecase.compile(child_path, 0)
    assert plan.map.sha256 == hashlib.sha256(xodr.encode()).hexdigest()


# --- sweep --------------------------------------------------------------------------------------


def test_sweep_seed_count_shorthand_and_start():
    assert edgecase.loads(BASE + "sweep: {seeds: 50}\n").spec.sweep.seeds.model_dump() == {"start": 0, "count": 50}
    assert edgecase.loads(BASE + "sweep: {seeds: {start: 5, count: 3}}\n").spec.sweep.seeds.model_dump() == {"start": 5, "count": 3}


def test_sweep_grid_of_existing_params_fixes_them_as_overrides():
    scn = edgecase.loads(BASE + "sweep:\n  seeds: 10\n  grid:\n    gap_m: [20, 35]\n    ego_speed_mps: [8, 12.5]\n")
    grid = scn.spec.sweep.grid
    assert grid == {"gap_m": (20, 35), "ego_speed_mps": (8, 12.5)}
    for gap in grid["gap_m"]:
        for speed in grid["ego_speed_mps"]:
            plan = edgecase.compile(scn, 3, {"gap_m": gap, "ego_speed_mps": speed})
            assert plan.params == {"gap_m": gap, "ego_speed_mps": speed}
            assert plan.ego.speed_mps == speed and along(plan.ego, plan.actor("lead")) == pytest.approx(gap, abs=1e-3)


@pytest.mark.parametrize(
    "sweep, needle, fragment",
    [
        ("sweep:\n  seeds: 5\n  grid:\n    gap: [20, 30]\n", "gap:", "no param 'gap' (did you mean 'gap_m'?)"),
        ("sweep:\n  grid:\n    gap_m: []\n", "[]", "at least 1"),
        ("sweep: {seeds: 0}\n", "seeds: 0", "greater than or equal to 1"),
        ("sweep: {sedes: 5}\n", "sedes", "did you mean 'seeds'"),
    ],
)
def test_bad_sweep_is_exit_2_with_position(tmp_path, capsys, sweep, needle, fragment):
    path = tmp_path / "sweep.yaml"
    text = BASE + sweep
    path.write_text(text)
    assert cli.run(["check", str(path)]) == 2
    err = capsys.readouterr().err
    line, col = at(text, needle).split(":")
    assert err.startswith(f"{path}:{int(line)}:"), err  # the key, or its value, on that line
    assert fragment in err


def test_a_param_reference_without_params_says_none_are_defined():
    text = scenario("  lead:\n    blueprint: vehicle.tesla.model3\n    at: {relative_to: ego, ahead_m: $gap}\n")
    with pytest.raises(InputError) as info:
        edgecase.loads(text, "t.yaml")
    assert str(info.value) == f"t.yaml:{at(text, '$gap')}: no param 'gap' (none are defined)"


# --- placement ----------------------------------------------------------------------------------


def _junction_plan(map_name: str, approach: int | None, before_m: float, seed: int = 0) -> EpisodePlan:
    at_ = f"{{junction: any, before_m: {before_m}" + ("" if approach is None else f", approach: {approach}") + "}"
    return plan_of(scenario(map=map_name, ego_at=at_), seed)


@pytest.mark.parametrize("map_name, approaches", [("junction4", 4), ("t_junction", 3)])
def test_junction_placement_is_before_m_before_the_entry_facing_it(map_name, approaches):
    network = RoadNetwork.load(f"builtin:{map_name}")
    (junction,) = network.junctions()
    seen = set()
    for index in range(approaches):
        ego = _junction_plan(map_name, index, 15.0).ego
        entry = junction.approaches[index]
        assert ego.lane.kind == "driving" and (ego.lane.road_id, ego.lane.lane_id) == (entry.road_id, entry.lane_id)
        line = lane_polyline(network.carla_map, ego.lane.road_id, ego.lane.lane_id, ego.lane.s_m, 30.0, step_m=0.05)
        arc, lateral = project(line, np.array([[entry.x_m, entry.y_m]]))
        assert arc[0] == pytest.approx(15.0, abs=0.05) and abs(lateral[0]) < 0.05  # 15 m along its lane to the entry
        to_centre = (junction.x_m - ego.pose.x_m, junction.y_m - ego.pose.y_m)
        yaw = math.radians(ego.pose.yaw_deg)
        assert to_centre[0] * math.cos(yaw) + to_centre[1] * math.sin(yaw) > 15.0  # driving towards the junction
        seen.add((ego.pose.x_m, ego.pose.y_m))
    assert len(seen) == approaches  # each index is another approach
    text = scenario(map=map_name, ego_at=f"{{junction: any, before_m: 15, approach: {approaches}}}")
    err = error_of(text)
    assert f"approaches 0..{approaches - 1}" in str(err) and str(err).startswith(f"t.yaml:{at(text, '{junction')}: ")


def test_junction_approach_left_open_is_chosen_by_the_seed():
    chosen = {(p.ego.lane.road_id, p.ego.lane.lane_id) for p in (_junction_plan("junction4", None, 10.0, seed) for seed in range(20))}
    assert len(chosen) > 1
    assert _junction_plan("junction4", None, 10.0, 7) == _junction_plan("junction4", None, 10.0, 7)


@pytest.mark.parametrize("ego_at", ["{lane: driving, s_m: 100}", "{road: 0, lane_id: 1, s_m: 300}"])
@pytest.mark.parametrize("key, sign", [("ahead_m", 1), ("behind_m", -1)])
def test_opposite_lane_faces_the_other_way_and_ahead_is_the_egos_direction(ego_at, key, sign):
    plan = plan_of(scenario("  oncoming:\n    blueprint: vehicle.tesla.model3\n" f"    at: {{relative_to: ego, lane: opposite, {key}: 30}}\n", ego_at=ego_at))
    ego, oncoming = plan.ego, plan.actor("oncoming")
    assert yaw_diff(ego.pose.yaw_deg, oncoming.pose.yaw_deg) == pytest.approx(180.0, abs=1e-3)
    assert (ego.lane.lane_id > 0) != (oncoming.lane.lane_id > 0) and oncoming.lane.kind == "driving"
    assert along(ego, oncoming) == pytest.approx(sign * 30.0, abs=1e-3)


def test_absolute_placement_keeps_the_exact_values():
    plan = plan_of(scenario("  cone:\n    blueprint: static.prop.trafficcone01\n    at: {x_m: 150.25, y_m: 1.5, yaw_deg: 33.5}\n"))
    pose = plan.actor("cone").pose
    assert (pose.x_m, pose.y_m, pose.yaw_deg) == (150.25, 1.5, 33.5)


ROW = """\
  parked:
    count: 3
    gap_m: 2
    blueprint: vehicle.*
    classes: [car, van]
    at: {relative_to: ego, lane: parking_right, ahead_m: 30}
"""


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_row_is_named_by_index_with_exact_bumper_gaps(seed):
    plan = plan_of(scenario(ROW), seed)
    row = [a for a in plan.actors if a.name.startswith("parked")]
    assert [a.name for a in row] == ["parked[0]", "parked[1]", "parked[2]"]
    assert {a.lane.kind for a in row} == {"parking"} and along(plan.ego, row[0]) == pytest.approx(30.0, abs=1e-3)
    for front, back in zip(row[1:], row):
        gap = along(back, front) - (back.size.length_m + front.size.length_m) / 2
        assert gap == pytest.approx(2.0, abs=1e-3)


def test_a_row_index_past_its_count_is_an_error():
    text = scenario(ROW + "  kid:\n    blueprint: walker.pedestrian.0049\n    at: {relative_to: 'parked[5]', lane: sidewalk_right}\n")
    err = error_of(text)
    assert str(err).startswith(f"t.yaml:{at(text, '{relative_to: ' + chr(39) + 'parked[5]')}: ")
    assert "indexes run 0..2" in str(err)


def test_between_is_the_middle_of_the_free_gap():
    text = scenario(ROW.replace("gap_m: 2", "gap_m: 3") + "  kid:\n    blueprint: walker.pedestrian.0049\n    at: {between: ['parked[1]', 'parked[0]']}\n")
    for seed in range(3):
        plan = plan_of(text, seed)
        first, second, kid = plan.actor("parked[0]"), plan.actor("parked[1]"), plan.actor("kid")
        to_first = along(first, kid) - first.size.length_m / 2
        to_second = along(kid, second) - second.size.length_m / 2
        assert to_first == pytest.approx(1.5, abs=1e-3) and to_second == pytest.approx(1.5, abs=1e-3)
        assert kid.lane.kind == "parking"


def test_lateral_offset_must_stay_within_the_lane():
    ok = plan_of(scenario("  lead:\n    blueprint: vehicle.tesla.model3\n    at: {relative_to: ego, ahead_m: 30, lateral_m: 1.0}\n"))
    assert ok.actor("lead").pose.y_m == pytest.approx(ok.ego.pose.y_m + 1.0)  # positive: right of travel (CARLA +y here)
    for lateral in (1.8, -2.5):
        err = error_of(scenario(f"  lead:\n    blueprint: vehicle.tesla.model3\n    at: {{relative_to: ego, ahead_m: 30, lateral_m: {lateral}}}\n"))
        assert str(err).startswith("t.yaml:") and "lateral_m" in str(err) and "3.50 m wide" in str(err)


def test_a_random_count_varies_by_seed():
    text = scenario(ROW.replace("count: 3", "count: randint(2, 4)"))
    counts = {sum(a.name.startswith("parked[") for a in plan_of(text, seed).actors) for seed in range(30)}
    assert counts == {2, 3, 4}


# --- blueprints ---------------------------------------------------------------------------------


def test_wildcard_with_classes_draws_only_those_classes_per_seed():
    text = scenario(ROW.replace("count: 3", "count: 4").replace("[car, van]", "[van, truck]"))
    picks = [tuple(a.blueprint for a in plan_of(text, seed).actors[1:]) for seed in range(40)]
    chosen = [bp for seeds in picks for bp in seeds]
    assert {catalog().get(bp).actor_class.value for bp in chosen} == {"van", "truck"}
    assert len(set(chosen)) >= 4  # variety across seeds
    assert picks[:5] == [tuple(a.blueprint for a in plan_of(text, seed).actors[1:]) for seed in range(5)]  # deterministic


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[p.stem for p in SCENARIO_FILES])
def test_actor_sizes_are_the_catalogs(path):
    for seed in range(5):
        for actor in edgecase.compile(path, seed).actors:
            bp = catalog().get(actor.blueprint)
            assert (actor.size.length_m, actor.size.width_m, actor.size.height_m) == (bp.length_m, bp.width_m, bp.height_m)
            assert actor.actor_class == bp.actor_class.value and actor.wheelbase_m == bp.wheelbase_m


# --- behaviors and triggers ---------------------------------------------------------------------

REQUIRED = {"lane_change": "{direction: left}", "cut_in": "{target: ego}", "turn": "{direction: right}"}


def _behavior_text(behavior: str) -> str:
    return scenario(f"  other:\n    blueprint: vehicle.tesla.model3\n    at: {{relative_to: ego, ahead_m: 30}}\n    speed_mps: 8\n    behavior: {behavior}\n")


@pytest.mark.parametrize("name", list(BEHAVIORS))
def test_every_behavior_compiles_with_its_defaults_resolved(name):
    model = BEHAVIORS[name]
    required = [k for k, f in model.model_fields.items() if f.is_required()]
    full = f"{{{name}: {REQUIRED.get(name, '{}')}}}"
    forms = [full, f"[{full}]"] + ([] if required else [name, f"{{{name}: null}}"])
    plans = [plan_of(_behavior_text(form)) for form in forms]
    steps = [p.actor("other").behaviors[0] for p in plans]
    assert all(step == steps[0] for step in steps)  # every spelling means the same step
    step = steps[0]
    assert step.name == name and set(model.model_fields) <= set(step.params)
    for key, field in model.model_fields.items():
        value = step.params[key]
        assert isinstance(value, (int, float, str, bool, tuple)) or value is None, (key, value)
        if isinstance(field.default, (int, float)) and not isinstance(field.default, bool):
            assert isinstance(value, (int, float)) and value == field.default, key
    if required:
        text = _behavior_text(name)
        err = error_of(text)
        assert str(err).startswith(f"t.yaml:{at(text, 'behavior: ', 10)}: ") and f"missing key '{required[0]}'" in str(err)


def test_behavior_defaults_that_depend_on_the_actor_are_resolved():
    plan = plan_of(_behavior_text("[follow_lane, drop_cargo]"))
    follow, cargo = plan.actor("other").behaviors
    assert follow.params["speed_mps"] == 8.0  # documented default: the actor's initial speed
    assert cargo.params["blueprint"] in catalog() and cargo.params["blueprint"].startswith("static.prop.box")
    err = error_of(_behavior_text("{drop_cargo: {blueprint: static.prop.bxo*}}"))
    assert "did you mean" in str(err) and str(err).startswith("t.yaml:")


def test_an_error_in_a_one_step_behavior_points_at_the_value():
    text = _behavior_text("{hard_brake: {decel_mps2: 45}}")
    assert str(error_of(text)).startswith(f"t.yaml:{at(text, '45')}: ")
    text = _behavior_text("{cut_in: {target: eg}}")
    assert str(error_of(text)).startswith(f"t.yaml:{at(text, 'eg}')}: ") and "did you mean 'ego'" in str(error_of(text))


TRIGGERED = """\
  parked:
    count: 2
    blueprint: vehicle.tesla.model3
    at: {relative_to: ego, lane: parking_right, ahead_m: 30}
    behavior: [stop]
  lead:
    blueprint: vehicle.audi.tt
    at: {relative_to: ego, ahead_m: 20}
    behavior:
      - follow_lane
      - hard_brake: {}
        when: WHEN
"""

TRIGGERS = [
    ("{after_s: 3, delay_s: 0.5}", {"kind": "after_s", "after_s": 3.0, "delay_s": 0.5}),
    ("{distance_to: 'parked[1]', below_m: 10}", {"kind": "distance_to", "actor": "parked[1]", "below": 10.0}),
    ("{distance_to: ego, below_m: 5}", {"kind": "distance_to", "actor": "ego", "below": 5.0}),
    ("{ttc_to: parked, below_s: 2.5}", {"kind": "ttc_to", "actor": "parked[0]", "below": 2.5}),
    ("{in_region: {x_m: 150, y_m: -1.75, radius_m: 5}}", {"kind": "in_region", "x_m": 150.0, "y_m": -1.75, "radius_m": 5.0}),
    ("{in_region: {x_m: 150, y_m: 1.75, radius_m: 5}, actor: ego}", {"kind": "in_region", "actor": "ego", "radius_m": 5.0}),
    ("{event: parked.stop.start}", {"kind": "event", "event": "parked[0].stop.start"}),
    ("{event: 'parked[1].stop.end'}", {"kind": "event", "event": "parked[1].stop.end"}),
]


@pytest.mark.parametrize("when, expected", TRIGGERS, ids=[t[1]["kind"] + str(i) for i, t in enumerate(TRIGGERS)])
def test_each_trigger_kind_compiles_with_instances_resolved(when, expected):
    trigger = plan_of(scenario(TRIGGERED.replace("WHEN", when))).actor("lead").behaviors[1].trigger
    got = trigger.model_dump()
    assert {k: got[k] for k in expected} == expected
    assert isinstance(got["delay_s"], float)


@pytest.mark.parametrize(
    "when, fragment",
    [
        ("{after_s: 3, distance_to: ego, below_m: 4}", "exactly one of"),
        ("{below_m: 4}", "exactly one of"),
        ("{distance_to: ego}", "distance_to and below_m go together"),
        ("{event: parked.hard_brake.start}", "has no behavior 'hard_brake'"),
        ("{event: 'parked[2].stop.start'}", "indexes run 0..1"),
        ("{ttc_to: eg, below_s: 2}", "did you mean 'ego'"),
    ],
)
def test_bad_triggers_are_errors_at_the_trigger(when, fragment):
    text = scenario(TRIGGERED.replace("WHEN", when))
    err = str(error_of(text))
    line = at(text, when).split(":")[0]
    assert err.startswith(f"t.yaml:{line}:") and fragment in err, err


# --- weather ------------------------------------------------------------------------------------


def test_presets_are_the_installed_carlas():
    presets = {n for n in dir(carla.WeatherParameters) if isinstance(getattr(carla.WeatherParameters, n), carla.WeatherParameters)}
    assert set(WEATHER_PRESETS) == presets and {"ClearNoon", "WetCloudySunset", "HardRainNight"} <= presets


@pytest.mark.parametrize("preset", WEATHER_PRESETS)
def test_a_preset_as_a_plain_string_gives_carlas_values(preset):
    plan = plan_of(scenario(head=f"weather: {preset}\n"))
    expected = getattr(carla.WeatherParameters, preset)
    assert plan.weather.preset == preset
    assert plan.weather.params == {f: pytest.approx(float(getattr(expected, f))) for f in WEATHER_FIELDS}


def test_weather_overrides_land_in_the_plan():
    head = "weather: {preset: WetCloudySunset, fog_density: 'uniform(0, 20)', wetness: 55, sun_altitude_angle: -30, fog_distance: 150}\n"
    preset = carla.WeatherParameters.WetCloudySunset
    for seed in range(5):
        params = plan_of(scenario(head=head), seed).weather.params
        assert 0 <= params["fog_density"] <= 20 and params["wetness"] == 55 and params["sun_altitude_angle"] == -30
        assert params["fog_distance"] == 150  # metres, not a percentage
        assert params["cloudiness"] == pytest.approx(preset.cloudiness)
    assert len({plan_of(scenario(head=head), seed).weather.params["fog_density"] for seed in range(5)}) == 5
    assert "did you mean 'WetCloudySunset'" in str(error_of(scenario(head="weather: WetCloudySunst\n")))
    assert "outside" in str(error_of(scenario(head="weather: {fog_density: 150}\n")))


# --- every scenario, any seed -------------------------------------------------------------------


@functools.cache
def loaded(path):
    return edgecase.load(path)


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[p.stem for p in SCENARIO_FILES])
@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**63 - 1))
def test_any_seed_compiles_to_a_sound_reproducible_plan(path, seed):
    try:
        plan = edgecase.compile(loaded(path), seed)
    except InputError:
        return  # allowed; anything else is a bug
    again = EpisodePlan.model_validate_json(plan.model_dump_json())
    assert again == plan and again.content_hash() == plan.content_hash()
    present = [a for a in plan.actors if a.spawn != "dropped"]  # lost cargo rides on its carrier until it falls
    shapes = [footprint(a) for a in present]
    for i in range(len(shapes)):
        for j in range(i):
            assert shapes[i].intersection(shapes[j]).area <= OVERLAP_M2, (present[i].name, present[j].name)
    assert edgecase.compile(loaded(path), seed).content_hash() == plan.content_hash()


# --- the schema ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.run(["schema"]) == 0
    return json.loads(out.getvalue())


def _property_names(node) -> set[str]:
    names: set[str] = set()
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict):
            names |= set(node["properties"])
        for value in node.values():
            names |= _property_names(value)
    elif isinstance(node, list):
        for value in node:
            names |= _property_names(value)
    return names


def _json_types(schema: dict, node: dict) -> set[str]:
    """The JSON types a schema node admits, through $ref and anyOf."""
    if "$ref" in node:
        return _json_types(schema, schema["$defs"][node["$ref"].rsplit("/", 1)[-1]])
    if "anyOf" in node:
        return set().union(*(_json_types(schema, n) for n in node["anyOf"]))
    if "type" in node:
        return {node["type"]} if isinstance(node["type"], str) else set(node["type"])
    return {"object"} if "properties" in node else set()


def test_schema_top_level_is_the_scenario_spec(schema):
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert list(schema["properties"]) == [f.alias or n for n, f in ScenarioSpec.model_fields.items()]
    assert set(schema["required"]) == {"edgecase", "name", "map", "actors"}


def test_every_schema_key_is_in_the_language_reference(schema):
    names = _property_names(schema)
    assert set(BEHAVIORS) <= names and {"after_s", "distance_to", "in_region", "event", "between", "junction", "before_m"} <= names
    reference = (REPO / "docs" / "scenario-language.md").read_text()
    missing = sorted(n for n in names if not re.search(rf"\b{re.escape(n)}\b", reference))
    assert not missing, f"keys the schema knows but docs/scenario-language.md does not describe: {missing}"


def test_schema_admits_the_shorthands_the_language_reads(schema):
    defs = schema["$defs"]
    assert _json_types(schema, defs["Actor"]["properties"]["behavior"]) == {"string", "object", "array"}  # stop / {stop: ..} / [..]
    assert _json_types(schema, schema["properties"]["weather"]) == {"string", "object"}  # weather: ClearNoon
    assert _json_types(schema, defs["Sweep"]["properties"]["seeds"]) == {"integer", "object"}  # seeds: 50


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[p.stem for p in SCENARIO_FILES])
def test_every_scenario_validates_against_the_schema(schema, path):
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed (an optional check; not a dependency)")
    from edgecase.scenario.source import load_yaml_file

    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(load_yaml_file(path).data, schema, cls=jsonschema.Draft202012Validator)


# --- the Python API, as README.md shows it --------------------------------------------------------


def test_readme_python_api():
    scn = edgecase.load(CHILD)
    plan = edgecase.compile(scn, seed=7)
    assert re.fullmatch(r"[0-9a-f]{64}", plan.content_hash())
    assert plan.ego.name == "ego" and plan.actor("child").behaviors[0].trigger.kind == "after_s"
    assert EpisodePlan.model_validate_json(plan.model_dump_json()) == plan
    fixed = edgecase.compile(scn, seed=7, overrides={"ttc_s": 1.5})
    assert fixed.params["ttc_s"] == 1.5 and fixed.criticality.target_s == 1.5
    assert edgecase.compile(str(CHILD), 7) == plan  # a path works as well
    with pytest.raises(InputError, match="no param 'tcc_s'"):
        edgecase.compile(scn, seed=7, overrides={"tcc_s": 1.5})
    with pytest.raises(InputError, match="seed"):
        edgecase.compile(scn, seed=-1)


def test_loads_resolves_extends_against_base_dir(tmp_path):
    write_pair(tmp_path)
    scn = edgecase.loads(CHILD_TEXT, name="inline.yaml", base_dir=tmp_path / "mine")
    assert scn.name == "child_scenario" and scn.spec.params["gap_m"] == 40
    with pytest.raises(InputError) as info:
        edgecase.loads(CHILD_TEXT.replace("speed_mps: 7", "speed_mp: 7"), name="inline.yaml", base_dir=str(tmp_path / "mine"))
    assert str(info.value).startswith(f"inline.yaml:{at(CHILD_TEXT, 'speed_mps: 7')}: ")
    with pytest.raises(InputError, match="no such file"):
        edgecase.loads(CHILD_TEXT, name="inline.yaml", base_dir=tmp_path)


def test_a_child_weather_mapping_merges_into_a_base_preset_string(tmp_path):
    (tmp_path / "base.yaml").write_text(
        "edgecase: 1\nname: base\nmap: builtin:urban_straight\nweather: HardRainNight\n"
        "actors:\n  ego:\n    blueprint: vehicle.tesla.model3\n    at: {lane: driving, s_m: 20}\n"
    )
    (tmp_path / "child.yaml").write_text("extends: base.yaml\nedgecase: 1\nname: child\nweather: {fog_density: 10}\n")
    plan = edgecase.compile(edgecase.load(tmp_path / "child.yaml"), 0)
    assert plan.weather.preset == "HardRainNight" and plan.weather.params["fog_density"] == 10


def test_an_in_region_trigger_watches_the_actor_itself_by_name():
    text = """
edgecase: 1
name: region
map: builtin:urban_straight
actors:
  ego:
    blueprint: vehicle.tesla.model3
    at: {lane: driving, s_m: 20}
    speed_mps: 10
    behavior:
      - follow_lane
      - hard_brake: {decel_mps2: 6}
        when: {in_region: {x_m: 60, y_m: 1.75, radius_m: 3}}
"""
    plan = edgecase.compile(edgecase.loads(text, "region.yaml"), 0)
    assert plan.ego.behaviors[1].trigger.actor == "ego"
    result = edgecase.run(edgecase.loads(text, "region.yaml"), 0)
    fired = [e for e in result.trace.events if e.kind == "trigger"]
    assert fired and abs(result.trace.x_m[fired[0].tick, 0] - 57.0) < 0.6  # entered the 3 m circle around x = 60
