"""Road maps: what a scenario author relies on when placing and moving actors on lanes.

Distances are read back from carla's own waypoints, never from the code under test.
"""

from __future__ import annotations

import math
import pickle
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from edgecase.errors import InputError, SourcePos
from edgecase.roads import LaneKind, LanePoint, RoadNetwork, Turn, builtin_map, builtin_map_names
from edgecase.roads import roadgen_maps
from tests.helpers import SCENARIOS, shared_map

POS = SourcePos("scenario.yaml", 3, 7)


def town(shared_maps: Path, name: str) -> RoadNetwork:
    path = shared_maps / f"{name}.xodr"
    if not path.is_file():
        pytest.skip(f"{path} is absent (set EDGECASE_SHARED_MAPS to the folder holding the CARLA towns)")
    return RoadNetwork.load(str(path))


def turned_deg(a: LanePoint, b: LanePoint) -> float:
    return (b.yaw_deg - a.yaw_deg + 180.0) % 360.0 - 180.0


def centre_length_m(net: RoadNetwork, road_id: int, lane_id: int, s0_m: float, s1_m: float) -> float:
    """Length of a lane's centre between two s on one road, from carla waypoints every 5 cm of s."""
    count = max(2, math.ceil(abs(s1_m - s0_m) / 0.05) + 1)
    points = []
    for i in range(count):
        wp = net.carla_map.get_waypoint_xodr(road_id, lane_id, s0_m + (s1_m - s0_m) * i / (count - 1))
        points.append((wp.transform.location.x, wp.transform.location.y, wp.transform.location.z))
    return sum(math.dist(p, q) for p, q in zip(points, points[1:]))


# --- builtin maps ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", builtin_map_names())
def test_every_builtin_loads_with_exactly_its_advertised_lane_kinds(name):
    net = RoadNetwork.load(f"builtin:{name}")
    present = {kind for kind in LaneKind if net.lanes(kind)}
    assert present == set(builtin_map(name).lanes)
    assert net.carla_map.generate_waypoints(5.0), "carla sees no driving lanes"


@pytest.mark.parametrize("name", builtin_map_names())
def test_builtins_are_deterministic_and_loaded_once(name):
    net = RoadNetwork.load(f"builtin:{name}")
    assert roadgen_maps.build(name) == net.xodr_text  # same bytes from a fresh build
    assert RoadNetwork.load(f"builtin:{name}") is net


def test_builtin_names_are_the_five_documented_maps():
    assert set(builtin_map_names()) == {"urban_straight", "junction4", "t_junction", "highway_merge", "curve"}


# --- points and frames ----------------------------------------------------------------------------


def test_point_is_carlas_waypoint():
    net = RoadNetwork.load("builtin:junction4")
    p = net.point(3, -1, 42.5)
    wp = net.carla_map.get_waypoint_xodr(3, -1, 42.5)
    assert (p.x_m, p.y_m, p.yaw_deg) == pytest.approx((wp.transform.location.x, wp.transform.location.y, -90.0))
    assert (p.road_id, p.lane_id, p.kind, p.junction_id) == (3, -1, LaneKind.DRIVING, None)
    assert p.width_m == pytest.approx(3.5)


def test_carla_frame_flips_opendrive_y():
    net = RoadNetwork.load("builtin:junction4")
    # road 3 runs from OpenDRIVE (0, -150) towards +y; in CARLA it starts at y = +150 and heads to -y
    start, later = net.point(3, -1, 10.0), net.point(3, -1, 50.0)
    assert start.y_m == pytest.approx(140.0, abs=0.01)
    assert later.y_m - start.y_m == pytest.approx(-40.0, abs=0.01)
    # lane -1 lies right of the reference line: OpenDRIVE y = -1.75 on urban_straight, CARLA +1.75
    assert RoadNetwork.load("builtin:urban_straight").point(0, -1, 10.0).y_m == pytest.approx(1.75)


def test_positive_lanes_drive_towards_decreasing_s():
    net = RoadNetwork.load("builtin:urban_straight")
    back = net.point(0, 1, 100.0)
    assert back.yaw_deg == pytest.approx(180.0)
    assert net.advance(back, 30.0).s_m == pytest.approx(70.0, abs=0.01)


def test_nearest_projects_onto_a_lane_of_the_asked_kind():
    net = RoadNetwork.load("builtin:urban_straight")
    assert net.nearest(50.0, 2.0).lane_id == -1
    assert net.nearest(50.0, 7.2).kind is LaneKind.SIDEWALK
    parked = net.nearest(50.0, 2.0, LaneKind.PARKING)
    assert (parked.lane_id, parked.x_m, parked.y_m) == (-2, pytest.approx(50.0), pytest.approx(4.75))
    assert net.nearest(50.0, 2.0, LaneKind.BIKING) is None


def test_point_that_does_not_exist_is_an_input_error_naming_the_lanes_there():
    net = RoadNetwork.load("builtin:urban_straight")
    with pytest.raises(InputError, match="no lane 5") as e:
        net.point(0, 5, 10.0)
    assert "-3, -2, -1, 1, 2, 3" in str(e.value)
    for road, lane, s in [(0, 0, 10.0), (9, -1, 10.0), (0, -1, 401.0), (0, -1, math.nan)]:
        with pytest.raises(InputError):
            net.point(road, lane, s)


def test_lanes_are_sorted_and_measured():
    net = RoadNetwork.load("builtin:highway_merge")
    refs = net.lanes(LaneKind.DRIVING)
    assert refs == sorted(refs, key=lambda r: (r.road_id, r.lane_id))
    accel = next(r for r in refs if (r.road_id, r.lane_id) == (1, -4))
    assert accel.length_m == pytest.approx(220.0)  # then it becomes shoulder
    assert any(r.junction_id is not None for r in refs)


# --- along the lane -------------------------------------------------------------------------------


def test_advance_30_m_on_a_straight_lane():
    net = RoadNetwork.load("builtin:urban_straight")
    p = net.point(0, -1, 20.0)
    ahead = net.advance(p, 30.0)
    assert centre_length_m(net, 0, -1, 20.0, ahead.s_m) == pytest.approx(30.0, abs=0.05)
    assert net.advance(ahead, -30.0).s_m == pytest.approx(20.0, abs=0.01)


def test_advance_measures_the_lane_not_the_reference_line_through_the_bend():
    net = RoadNetwork.load("builtin:curve")
    p = net.point(0, -1, 160.0)  # lane -1 runs outside the bend: R 36.75 m around a 35 m reference
    ahead = net.advance(p, 30.0)
    assert centre_length_m(net, 0, -1, 160.0, ahead.s_m) == pytest.approx(30.0, abs=0.05)
    assert ahead.s_m - p.s_m == pytest.approx(30.0 * 35 / 36.75, abs=0.05)
    assert turned_deg(p, ahead) == pytest.approx(-30.0 / 36.75 * 180 / math.pi, abs=0.5)  # a left bend


def test_advance_past_the_end_of_the_lane_is_none():
    net = RoadNetwork.load("builtin:urban_straight")
    p = net.point(0, -1, 380.0)
    assert net.advance(p, 30.0) is None
    assert net.advance(p, 19.9) is not None
    assert net.advance(net.point(0, -1, 10.0), -30.0) is None


def test_advance_on_town10hd_is_exact_on_every_long_lane(shared_maps):
    net = town(shared_maps, "Town10HD")
    checked = 0
    for ref in net.lanes(LaneKind.DRIVING):
        if ref.junction_id is not None or ref.length_m < 60:
            continue
        s0 = 10.0 if ref.lane_id < 0 else ref.length_m - 10.0  # 30 m along, staying on this road
        ahead = net.advance(net.point(ref.road_id, ref.lane_id, s0), 30.0)
        assert ahead.road_id == ref.road_id
        assert centre_length_m(net, ref.road_id, ref.lane_id, s0, ahead.s_m) == pytest.approx(30.0, abs=0.1)
        checked += 1
    assert checked >= 10


def test_turns_through_the_signalized_junction():
    net = RoadNetwork.load("builtin:junction4")
    start = net.point(0, -1, 120.0)  # 16 m before the junction, heading west
    ends = {turn: net.advance(start, 60.0, [turn]) for turn in Turn}
    assert len({end.road_id for end in ends.values()}) == 3
    assert turned_deg(start, ends[Turn.LEFT]) == pytest.approx(-90.0, abs=3.0)  # CARLA: + is right
    assert turned_deg(start, ends[Turn.RIGHT]) == pytest.approx(90.0, abs=3.0)
    assert turned_deg(start, ends[Turn.STRAIGHT]) == pytest.approx(0.0, abs=3.0)
    assert net.advance(start, 60.0).road_id == ends[Turn.STRAIGHT].road_id  # the default is straight on


def test_turn_through_a_junction_is_exact_along_the_connector():
    net = RoadNetwork.load("builtin:junction4")
    start = net.point(0, -1, 120.0)
    end = net.advance(start, 60.0, [Turn.LEFT])
    # walk the same path in 5 cm steps through carla alone and measure it
    wp, walked = net.carla_map.get_waypoint_xodr(0, -1, 120.0), 0.0
    for _ in range(2000):
        if (wp.road_id, wp.lane_id) == (end.road_id, end.lane_id) and abs(wp.s - end.s_m) <= 0.05:
            break
        options = sorted(wp.next(0.05), key=lambda w: (w.transform.rotation.yaw - wp.transform.rotation.yaw) % 360)
        nxt = options[-1] if len(options) > 1 else options[0]  # the left-most branch
        walked += wp.transform.location.distance(nxt.transform.location)
        wp = nxt
    assert walked == pytest.approx(60.0, abs=0.1)


def test_a_turn_the_junction_does_not_offer_is_none():
    net = RoadNetwork.load("builtin:t_junction")
    east_arm = net.point(0, -1, 120.0)  # on the through road: straight or right only
    assert net.advance(east_arm, 60.0, [Turn.LEFT]) is not None
    assert net.advance(net.point(2, -1, 120.0), 60.0, [Turn.STRAIGHT]) is None  # the stem of the T


def test_successors_list_each_branch_with_its_turn():
    net = RoadNetwork.load("builtin:junction4")
    options = net.successors(net.point(0, -1, 135.0), step_m=2.0)
    assert sorted(turn.value for turn, _ in options) == ["left", "right", "straight"]
    assert all(p.junction_id is not None for _, p in options)


def test_the_on_ramp_joins_the_acceleration_lane():
    net = RoadNetwork.load("builtin:highway_merge")
    on_accel = net.advance(net.point(2, -1, 100.0), 100.0)
    assert (on_accel.road_id, on_accel.lane_id, on_accel.kind) == (1, -4, LaneKind.DRIVING)
    assert net.neighbor(on_accel, "left").lane_id == -3
    assert net.advance(on_accel, 250.0) is None  # the acceleration lane tapers out at s = 220 m


# --- across the road ------------------------------------------------------------------------------


def test_side_lanes_of_the_forward_lane():
    net = RoadNetwork.load("builtin:urban_straight")
    p = net.point(0, -1, 100.0)
    right = net.side_lanes(p, "right")
    assert [q.kind for q in right] == [LaneKind.PARKING, LaneKind.SIDEWALK]
    assert [q.y_m for q in right] == pytest.approx([4.75, 7.0])  # outward, nearest first
    left = net.side_lanes(p, "left")
    assert [(q.lane_id, q.kind) for q in left] == [(1, LaneKind.DRIVING), (2, LaneKind.PARKING), (3, LaneKind.SIDEWALK)]
    assert all(q.s_m == pytest.approx(100.0) for q in right + left)


def test_neighbor_is_relative_to_the_direction_of_travel():
    net = RoadNetwork.load("builtin:urban_straight")
    forward, backward = net.point(0, -1, 100.0), net.point(0, 1, 100.0)
    assert net.neighbor(forward, "left").lane_id == 1  # across the centre line
    assert net.neighbor(forward, "right").kind is LaneKind.PARKING
    assert net.neighbor(backward, "left").lane_id == -1
    assert net.neighbor(backward, "right").lane_id == 2
    assert net.neighbor(net.point(0, -3, 100.0), "right") is None


def test_opposite_is_the_nearest_oncoming_driving_lane():
    net = RoadNetwork.load("builtin:urban_straight")
    oncoming = net.opposite(net.point(0, -1, 100.0))
    assert (oncoming.lane_id, oncoming.yaw_deg, oncoming.s_m) == (1, pytest.approx(180.0), pytest.approx(100.0))
    assert net.opposite(net.point(0, 2, 50.0)).lane_id == -1
    one_way = RoadNetwork.load("builtin:highway_merge")
    assert one_way.opposite(one_way.point(0, -1, 50.0)) is None


# --- junctions ------------------------------------------------------------------------------------


def test_junction4_has_four_signalized_approaches_with_three_turns_each():
    (junction,) = RoadNetwork.load("builtin:junction4").junctions()
    assert junction.signalized
    assert (junction.x_m, junction.y_m) == (pytest.approx(0.0, abs=0.5), pytest.approx(0.0, abs=0.5))
    assert len(junction.approaches) == 4
    for a in junction.approaches:
        assert a.turns == (Turn.LEFT, Turn.STRAIGHT, Turn.RIGHT)
        assert math.hypot(a.x_m, a.y_m) == pytest.approx(math.hypot(14.0, 1.75), abs=0.05)  # at the mouth


def test_t_junction_is_stop_controlled_not_signalized():
    (junction,) = RoadNetwork.load("builtin:t_junction").junctions()
    assert not junction.signalized
    assert sorted(len(a.turns) for a in junction.approaches) == [2, 2, 2]


# --- areas ----------------------------------------------------------------------------------------


def test_driving_area_of_urban_straight_is_two_lanes_of_400_m():
    net = RoadNetwork.load("builtin:urban_straight")
    assert net.area(LaneKind.DRIVING).area == pytest.approx(400 * 2 * 3.5, rel=0.02)
    assert net.lane_polygon(0, 2).area == pytest.approx(400 * 2.5, rel=0.02)
    assert net.area(LaneKind.DRIVING) is net.area(LaneKind.DRIVING)


def test_contains_tells_road_from_parking_from_sidewalk():
    net = RoadNetwork.load("builtin:urban_straight")
    assert net.contains(100.0, 1.0, LaneKind.DRIVING)
    assert not net.contains(100.0, 4.0, LaneKind.DRIVING)
    assert net.contains(100.0, 4.0, LaneKind.PARKING)
    assert net.contains(100.0, -7.0, LaneKind.SIDEWALK)
    assert not net.contains(100.0, 20.0, LaneKind.SIDEWALK)


def test_the_curve_outline_follows_the_bend():
    net = RoadNetwork.load("builtin:curve")
    bend = net.point(0, -1, 150.0 + 35 * math.pi / 4)  # half way round
    assert net.contains(bend.x_m, bend.y_m, LaneKind.DRIVING)
    assert not net.contains(bend.x_m, bend.y_m, LaneKind.SHOULDER)


def test_lane_polygon_of_a_missing_lane_is_an_input_error():
    with pytest.raises(InputError):
        RoadNetwork.load("builtin:urban_straight").lane_polygon(0, 7)


# --- real CARLA towns -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Town01", "Town10HD"])
def test_carla_towns_load_with_lanes_and_junctions(shared_maps, name):
    net = town(shared_maps, name)
    assert len(net.lanes(LaneKind.DRIVING)) > 50
    assert net.lanes(LaneKind.SIDEWALK)
    junctions = net.junctions()
    assert len(junctions) >= 5
    assert all(j.approaches for j in junctions)
    assert any(j.signalized for j in junctions)


# --- bad sources ----------------------------------------------------------------------------------


def load_error(source: str, **kwargs) -> InputError:
    with pytest.raises(InputError) as e:
        RoadNetwork.load(source, pos=POS, **kwargs)
    assert str(e.value).startswith("scenario.yaml:3:7: ")
    return e.value


def test_unknown_builtin_suggests_the_close_name():
    assert "did you mean 'junction4'?" in str(load_error("builtin:junction5"))


def test_carla_town_names_need_their_opendrive_file_to_plan(monkeypatch, tmp_path):
    monkeypatch.delenv("EDGECASE_CARLA_MAPS", raising=False)
    message = str(load_error("carla:Town10HD"))
    assert "EDGECASE_CARLA_MAPS" in message and ".xodr" in message
    monkeypatch.setenv("EDGECASE_CARLA_MAPS", str(tmp_path))
    assert "no Town10HD.xodr" in str(load_error("carla:Town10HD"))


def test_a_carla_town_plans_on_its_opendrive_file_and_keeps_its_name(monkeypatch):
    """`map: carla:Town01` compiles offline from Town01.xodr; the plan names the town, which the
    carla backend loads by name on the server."""
    import edgecase

    monkeypatch.setenv("EDGECASE_CARLA_MAPS", str(shared_map("Town01").parent))
    network = RoadNetwork.load("carla:Town01")
    assert network.source == "carla:Town01" and network.name == "Town01"
    assert network.sha256 == RoadNetwork.load(str(shared_map("Town01"))).sha256
    text = (SCENARIOS / "jaywalker_midblock.yaml").read_text()
    text = re.sub(r"(?m)^map: .*$", "map: carla:Town01", text)
    plan = edgecase.compile(edgecase.loads(text, "town.yaml"), 0)
    assert plan.map.source == "carla:Town01"


def test_missing_file(tmp_path):
    assert "not found" in str(load_error("nowhere.xodr", base_dir=tmp_path))


def test_text_that_is_not_xml(tmp_path):
    (tmp_path / "map.xodr").write_text("this is not a map\n")
    assert "not well-formed" in str(load_error("map.xodr", base_dir=tmp_path))


def test_xml_that_is_not_opendrive(tmp_path):
    (tmp_path / "map.xodr").write_text("<html><body/></html>")
    assert "not OpenDRIVE" in str(load_error("map.xodr", base_dir=tmp_path))


def test_entity_declarations_are_refused(tmp_path):
    (tmp_path / "map.xodr").write_text('<!DOCTYPE x [<!ENTITY a "aaaa">]><OpenDRIVE>&a;</OpenDRIVE>')
    assert "DOCTYPE" in str(load_error("map.xodr", base_dir=tmp_path))


def test_a_file_over_50_mb_is_refused_unread(tmp_path):
    with open(tmp_path / "huge.xodr", "wb") as f:
        f.truncate(51 * 2**20)  # sparse: no disk used
    assert "50 MB" in str(load_error("huge.xodr", base_dir=tmp_path))


def test_opendrive_without_roads(tmp_path):
    (tmp_path / "empty.xodr").write_text("<OpenDRIVE><header/></OpenDRIVE>")
    assert "no roads" in str(load_error("empty.xodr", base_dir=tmp_path))


def _broken(tmp_path: Path, change) -> str:
    root = ET.fromstring(roadgen_maps.build("junction4"))
    change(root)
    (tmp_path / "broken.xodr").write_text(ET.tostring(root, encoding="unicode"))
    return str(load_error("broken.xodr", base_dir=tmp_path))


def test_lane_link_to_a_missing_lane_is_refused_before_carla_can_crash(tmp_path):
    def link_to_lane_7(root):
        connector = next(r for r in root.iter("road") if r.get("junction") != "-1")
        connector.find("lanes/laneSection/right/lane/link/successor").set("id", "7")

    assert "lane 7" in _broken(tmp_path, link_to_lane_7)


def test_junction_connection_to_a_missing_road_is_refused(tmp_path):
    def to_road_99(root):
        next(root.iter("connection")).set("connectingRoad", "99")

    assert "road 99" in _broken(tmp_path, to_road_99)


def test_a_map_carla_rejects_is_an_input_error(tmp_path):
    def first_width_late(root):  # carla: RuntimeError "info != nullptr"
        next(root.iter("width")).set("sOffset", "5")

    assert "sOffset" in _broken(tmp_path, first_width_late)

    def no_centre_lane(root):  # carla: IndexError "map::at"
        section = next(root.iter("laneSection"))
        section.remove(section.find("center"))

    assert "centre lane 0" in _broken(tmp_path, no_centre_lane)


# --- files ----------------------------------------------------------------------------------------


def test_relative_paths_resolve_against_base_dir_and_edits_are_reloaded(tmp_path):
    (tmp_path / "maps").mkdir()
    path = tmp_path / "maps" / "street.xodr"
    path.write_text(roadgen_maps.build("curve"))
    first = RoadNetwork.load("maps/street.xodr", base_dir=tmp_path)
    assert first.name == "street"
    assert RoadNetwork.load(str(path)) is first  # cached
    path.write_text(roadgen_maps.build("urban_straight") + "\n")
    again = RoadNetwork.load("maps/street.xodr", base_dir=tmp_path)
    assert again is not first and again.lanes(LaneKind.PARKING)


def test_a_network_pickles_by_its_source():
    net = RoadNetwork.load("builtin:t_junction")
    assert pickle.loads(pickle.dumps(net)) is net  # same process: the cache answers
