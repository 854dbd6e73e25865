"""The annotator (edgecase/labels): projections checked against hand computations, synthetic masks
and LiDAR points, class mapping, attributes, determinism. No renderer: frames are built by hand."""

from __future__ import annotations

import dataclasses
import math
import re

import cv2
import numpy as np
import pytest

from edgecase import api
from edgecase.backends.embedded import EmbeddedBackend
from edgecase.labels import Annotator, FrameLabels, annotate, occlusion_level
from edgecase.labels.classes import (COCO_CATEGORIES, KITTI_TYPES, NUSCENES_ATTRIBUTES, NUSCENES_CATEGORIES,
                                     attribute_of, classes_of, coco_category_id, never_moves)
from edgecase.labels.project import clip_to_rect, polygon_area
from edgecase.plan.blueprints import ActorClass, catalog
from edgecase.sensors.frames import CameraFrame, LidarFrame, SensorFrames
from edgecase.sensors.transforms import carla_matrix
from edgecase.sim.state import WorldState
from tests.helpers import SCENARIOS

W, H = 1280, 720
K = np.array([[640.0, 0.0, 640.0], [0.0, 640.0, 360.0], [0.0, 0.0, 1.0]])  # 1280x720, fov 90: f = 640
CAM_POSE = carla_matrix(0.0, 0.0, 2.0)  # labels-reference 2.2 / 7: at (0, 0, 2), yaw 0
CAR = 1  # row of 'parked[0]' (track id 2) in the child dart-out plan: ego, parked[0..2], child


@pytest.fixture(scope="module")
def plan():
    return api.compile(SCENARIOS / "occluded_child_dartout.yaml", seed=1)


def world(plan, tick=0, **rows):
    """The plan's start state with rows overridden: row=(x, y, yaw_deg, length, width, height[, speed]);
    only the ego and the rows given are active."""
    start = EmbeddedBackend().reset(plan).actors
    fields = {k: np.array(getattr(start, k), dtype=float) for k in
              ("x_m", "y_m", "yaw_rad", "speed_mps", "length_m", "width_m", "height_m")}
    active = np.zeros(len(plan.actors), bool)
    active[0] = True
    fields["x_m"][0] = -50.0  # the ego out of the way, behind the camera
    for row, values in rows.items():
        i = int(row.removeprefix("r"))
        x, y, yaw_deg, length, width, height, *speed = values
        for key, v in zip(("x_m", "y_m", "yaw_rad", "length_m", "width_m", "height_m"),
                          (x, y, math.radians(yaw_deg), length, width, height)):
            fields[key][i] = v
        fields["speed_mps"][i] = speed[0] if speed else 0.0
        active[i] = True
    actors = dataclasses.replace(start, **fields, active=active)
    return WorldState(tick=tick, t_s=tick * plan.step_s, actors=actors)


def camera(instance=None, pose=CAM_POSE, name="front"):
    inst = np.zeros((H, W), np.uint16) if instance is None else instance
    return CameraFrame(name, 0, 0.0, pose, K, np.zeros((H, W, 3), np.uint8), np.full((H, W), np.inf, np.float32),
                       np.zeros((H, W), np.uint8), inst)


def frames(*cameras, lidars=()):
    return SensorFrames(0, 0.0, {c.name: c for c in cameras}, {lidar.name: lidar for lidar in lidars})


def label_of(labels: FrameLabels, track_id: int):
    return next(o for o in labels.objects if o.track_id == track_id)


def box_pixels(x, y, yaw_deg, length, width, height):
    """The 8 corners of a box standing on the ground, projected by hand for CAM_POSE (all in front):
    optical (x_o, y_o, z_o) = (y, 2 - z, x) for a camera at (0, 0, 2) with yaw 0."""
    c, s = math.cos(math.radians(yaw_deg)), math.sin(math.radians(yaw_deg))
    out = []
    for dx in (-length / 2, length / 2):
        for dy in (-width / 2, width / 2):
            for z in (0.0, height):
                wx, wy = x + dx * c - dy * s, y + dx * s + dy * c
                out.append((640.0 * wy / wx + 640.0, 640.0 * (2.0 - z) / wx + 360.0))
    return np.array(out)


def paint(instance, corners_px, actor_id):
    """Fill the convex hull of projected corners with actor_id: a synthetic, unoccluded instance mask."""
    hull = cv2.convexHull(np.round(corners_px).astype(np.int32))
    cv2.fillConvexPoly(instance, hull, int(actor_id))
    return instance


# --- projection --------------------------------------------------------------------------------

def test_worked_example_of_labels_reference_section_7(plan):
    """Car at (20, 3, 0) yaw 30, box centre 0.75 m up, extent (2.4, 1.0, 0.75): KITTI bbox and ry = -60 deg."""
    labels = annotate(plan, world(plan, r1=(20.0, 3.0, 30.0, 4.8, 2.0, 1.5)), frames(camera()))
    view = label_of(labels, 2).cameras["front"]
    assert view.amodal == pytest.approx((672.45, 374.17, 790.25, 433.47), abs=0.01)
    assert view.box_camera.yaw_deg == pytest.approx(-60.0, abs=1e-4)
    assert view.box_camera.centre_m == pytest.approx((3.0, 1.25, 20.0), abs=1e-4)  # geometric centre, optical frame
    assert view.box_camera.size_m == pytest.approx((4.8, 2.0, 1.5))
    assert view.truncation == 0.0


def test_car_ten_metres_ahead_two_left_by_hand(plan):
    """Box x 8..12, y -3..-1, z 0..1.5; u = 640 y / x + 640, v = 640 (2 - z) / x + 360:
    left u(y=-3, x=8) = 400, right u(y=-1, x=12) = 586.667, top v(z=1.5, x=12) = 386.667, bottom v(z=0, x=8) = 520."""
    labels = annotate(plan, world(plan, r1=(10.0, -2.0, 0.0, 4.0, 2.0, 1.5)), frames(camera()))
    view = label_of(labels, 2).cameras["front"]
    assert view.amodal == pytest.approx((400.0, 386.6667, 586.6667, 520.0), abs=1e-3)
    assert view.box_camera.yaw_deg == pytest.approx(-90.0)  # heading away from the camera: ry = -pi/2
    np.testing.assert_allclose(box_pixels(10.0, -2.0, 0.0, 4.0, 2.0, 1.5).min(axis=0), (400.0, 386.6667), atol=1e-3)


def test_box_straddling_the_camera_plane_is_clipped_not_mirrored(plan):
    """x -1.4..3.4 (the camera is at x = 0), y 1..3: the near-plane cuts project far right and down, so
    the box reaches the right and bottom borders; its left edge is the far corner u(y=1, x=3.4)."""
    labels = annotate(plan, world(plan, r1=(1.0, 2.0, 0.0, 4.8, 2.0, 1.5)), frames(camera()))
    view = label_of(labels, 2).cameras["front"]
    assert view.amodal == pytest.approx((640 + 640 / 3.4, 360 + 640 * 0.5 / 3.4, W, H), abs=1e-3)
    assert view.truncation > 0.9  # most of the clipped silhouette lies outside the image
    # CARLA's tutorial projects the corners behind the camera too: they land left of centre (mirrored)
    assert box_pixels(1.0, 2.0, 0.0, 4.8, 2.0, 1.5)[:4, 0].min() < 640


def test_no_view_behind_the_camera_or_outside_the_image(plan):
    labels = annotate(plan, world(plan, r1=(-10.0, 0.0, 0.0, 4.8, 2.0, 1.5), r2=(5.0, 30.0, 0.0, 4.8, 2.0, 1.5)),
                      frames(camera()))
    assert label_of(labels, 2).cameras == {}  # fully behind
    assert label_of(labels, 3).cameras == {}  # in front, but far right of the field of view


def test_truncation_zero_inside_and_about_half_on_the_border(plan):
    # On the plane y = x (the right image border u = 1280), yawed 45 deg: the box is mirror-symmetric
    # about that plane, so about half its silhouette is outside the image.
    labels = annotate(plan, world(plan, r1=(20.0, 0.0, 0.0, 4.8, 2.0, 1.5), r2=(30.0, 30.0, 45.0, 4.8, 2.0, 1.5)),
                      frames(camera()))
    assert label_of(labels, 2).cameras["front"].truncation == 0.0
    edge = label_of(labels, 3).cameras["front"]
    assert edge.truncation == pytest.approx(0.5, abs=0.03)
    assert edge.amodal[2] == W


def test_polygon_clipping_to_the_image():
    square = np.array([[-10.0, 0.0], [10.0, 0.0], [10.0, 10.0], [-10.0, 10.0]])
    assert polygon_area(clip_to_rect(square, 100, 100)) == pytest.approx(100.0)
    assert clip_to_rect(square + [200.0, 0.0], 100, 100) == []
    assert polygon_area(clip_to_rect(square * 100, 100, 100)) == pytest.approx(100.0 * 100.0)


# --- masks: visibility, modal box, occlusion ----------------------------------------------------

def test_unoccluded_mask_is_fully_visible_and_modal_box_is_its_tight_box(plan):
    car = (15.0, -1.0, 20.0, 4.8, 2.0, 1.5)
    instance = paint(np.zeros((H, W), np.uint16), box_pixels(*car), 2)
    view = label_of(annotate(plan, world(plan, r1=car), frames(camera(instance))), 2).cameras["front"]
    rows, cols = np.nonzero(instance == 2)
    assert view.visible_px == len(rows)
    assert view.modal == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
    assert view.visibility == pytest.approx(1.0, abs=0.02)
    assert view.occlusion == 0


def test_half_overwritten_mask_is_half_visible(plan):
    car = (15.0, -1.0, 20.0, 4.8, 2.0, 1.5)
    instance = paint(np.zeros((H, W), np.uint16), box_pixels(*car), 2)
    full = np.count_nonzero(instance == 2)
    cols = np.nonzero(instance == 2)[1]
    mid = int(np.median(cols))
    instance[:, :mid][instance[:, :mid] == 2] = 99  # another actor in front hides the left half
    view = label_of(annotate(plan, world(plan, r1=car), frames(camera(instance))), 2).cameras["front"]
    assert view.visible_px == np.count_nonzero(instance == 2) == pytest.approx(full / 2, rel=0.05)
    assert view.visibility == pytest.approx(0.5, abs=0.05)
    assert view.occlusion == 1
    assert view.modal[0] == mid  # the modal box starts where the visible half does
    assert view.amodal[0] < mid  # the amodal box still covers the hidden half


def test_hidden_object_has_no_modal_box_and_unknown_occlusion(plan):
    view = label_of(annotate(plan, world(plan, r1=(15.0, -1.0, 20.0, 4.8, 2.0, 1.5)), frames(camera())), 2)
    front = view.cameras["front"]
    assert (front.visible_px, front.modal, front.visibility, front.occlusion) == (0, None, 0.0, 3)


def test_kitti_occlusion_levels():
    assert [occlusion_level(v, 10) for v in (1.0, 0.8, 0.79, 0.4, 0.39, 0.01)] == [0, 0, 1, 1, 2, 2]
    assert occlusion_level(0.0, 0) == 3


def test_mask_pixels_of_other_actors_and_outside_the_box_do_not_count(plan):
    car = (15.0, -1.0, 20.0, 4.8, 2.0, 1.5)
    instance = paint(np.zeros((H, W), np.uint16), box_pixels(*car), 2)
    instance[0:5, 0:5] = 2  # far from the car's box: not its pixels (a stray id)
    clean = paint(np.zeros((H, W), np.uint16), box_pixels(*car), 2)
    a = label_of(annotate(plan, world(plan, r1=car), frames(camera(instance))), 2).cameras["front"]
    b = label_of(annotate(plan, world(plan, r1=car), frames(camera(clean))), 2).cameras["front"]
    assert a == b


# --- LiDAR --------------------------------------------------------------------------------------

def test_lidar_point_counts_from_object_idx(plan):
    idx = np.concatenate([np.full(100, 2), np.full(7, 5), np.zeros(50), np.full(30, 1), np.full(3, 70_000)])
    n = len(idx)
    lidar = LidarFrame("top", 0, 0.0, carla_matrix(z_m=2.0), np.zeros((n, 3), np.float32), np.ones(n, np.float32),
                       np.zeros(n, np.uint8), np.ones(n, np.float32), idx.astype(np.uint32), np.zeros(n, np.uint32))
    state = world(plan, r1=(20.0, 0.0, 0.0, 4.8, 2.0, 1.5), r2=(40.0, 0.0, 0.0, 4.8, 2.0, 1.5),
                  r4=(30.0, 5.0, 0.0, 0.5, 0.5, 1.1))
    labels = annotate(plan, state, frames(lidars=[lidar]))
    assert {o.track_id: o.lidar_points["top"] for o in labels.objects} == {2: 100, 3: 0, 5: 7}


# --- classes and attributes ---------------------------------------------------------------------

EXPECTED = {  # blueprint: (KITTI, nuScenes, COCO)
    "vehicle.tesla.model3": ("Car", "vehicle.car", "car"),
    "vehicle.mercedes.sprinter": ("Van", "vehicle.car", "car"),
    "vehicle.carlamotors.european_hgv": ("Truck", "vehicle.truck", "truck"),
    "vehicle.tesla.cybertruck": ("Truck", "vehicle.truck", "truck"),
    "vehicle.mitsubishi.fusorosa": ("Truck", "vehicle.bus.rigid", "bus"),
    "vehicle.kawasaki.ninja": ("Cyclist", "vehicle.motorcycle", "motorcycle"),
    "vehicle.diamondback.century": ("Cyclist", "vehicle.bicycle", "bicycle"),
    "walker.pedestrian.0001": ("Pedestrian", "human.pedestrian.adult", "person"),
    "walker.pedestrian.0049": ("Pedestrian", "human.pedestrian.child", "person"),
    "walker.pedestrian.0030": ("Pedestrian", "human.pedestrian.police_officer", "person"),
    "vehicle.dodge.charger_police": ("Car", "vehicle.emergency.police", "car"),
    "vehicle.ford.ambulance": ("Van", "vehicle.emergency.ambulance", "car"),
    "vehicle.carlamotors.firetruck": ("Truck", "vehicle.truck", "truck"),
    "static.prop.trafficcone01": ("Misc", "movable_object.trafficcone", None),
    "static.prop.streetbarrier": ("Misc", "movable_object.barrier", None),
    "static.prop.box01": ("Misc", "movable_object.debris", None),
    "static.prop.shoppingcart": ("Misc", "movable_object.pushable_pullable", None),
    "static.prop.bench01": ("Misc", None, "bench"),
    "static.prop.aporosatree": ("Misc", None, None),
}


@pytest.mark.parametrize("blueprint", sorted(EXPECTED))
def test_class_mapping_examples(blueprint):
    bp = catalog().get(blueprint)
    c = classes_of(bp.actor_class.value, blueprint)
    assert (c.kitti_type, c.nuscenes_category, c.coco_category) == EXPECTED[blueprint]


def test_every_blueprint_of_every_class_maps_into_the_datasets_lists():
    seen = set()
    for bp in catalog():
        c = classes_of(bp.actor_class.value, bp.id)
        seen.add(bp.actor_class)
        assert c.kitti_type in KITTI_TYPES
        assert c.nuscenes_category is None or c.nuscenes_category in NUSCENES_CATEGORIES
        assert c.coco_category is None or c.coco_category in COCO_CATEGORIES
        if bp.actor_class is not ActorClass.PROP:
            assert c.nuscenes_category is not None and c.coco_category is not None
    assert seen == set(ActorClass)
    assert [coco_category_id(n) for n in ("person", "bicycle", "car", "motorcycle", "bus", "truck")] == [1, 2, 3, 4, 6, 8]


def test_attributes(plan):
    ego, parked, child = plan.actor("ego"), plan.actor("parked[0]"), plan.actor("child")
    assert not never_moves(ego) and never_moves(parked) and not never_moves(child)
    assert attribute_of("car", 0.0, parked=True) == "vehicle.parked"
    assert attribute_of("car", 8.0, parked=False) == "vehicle.moving"
    assert attribute_of("van", 0.1, parked=False) == "vehicle.stopped"
    assert attribute_of("pedestrian", 2.5, parked=False) == "pedestrian.moving"
    assert attribute_of("pedestrian", 0.0, parked=False) == "pedestrian.standing"
    assert attribute_of("bicycle", 0.0, parked=False) == attribute_of("motorcycle", 9.0, parked=False) == "cycle.with_rider"
    assert attribute_of("prop", 0.0, parked=True) == ""
    for cls in ActorClass:
        assert attribute_of(cls.value, 1.0, parked=False) in NUSCENES_ATTRIBUTES + ("",)


def test_attributes_in_labels(plan):
    state = world(plan, r1=(20.0, 5.0, 0.0, 4.8, 2.0, 1.5), r4=(25.0, 3.0, -90.0, 0.5, 0.5, 1.1, 2.5))
    labels = annotate(plan, state, frames())
    assert label_of(labels, 2).attribute == "vehicle.parked"
    child = label_of(labels, 5)
    assert (child.attribute, child.speed_mps, child.nuscenes_category) == ("pedestrian.moving", 2.5, "human.pedestrian.child")


# --- frames, ids, determinism -------------------------------------------------------------------

def test_ego_is_never_an_object_and_objects_follow_plan_order(plan):
    state = EmbeddedBackend().reset(plan)
    labels = annotate(plan, state, frames(camera(pose=carla_matrix(20.8, 1.75, 1.6))))
    assert labels.ego_track_id == 1 and plan.actors[0].role == "ego"
    assert [o.track_id for o in labels.objects] == [2, 3, 4, 5]
    assert [o.name for o in labels.objects] == ["parked[0]", "parked[1]", "parked[2]", "child"]
    assert labels.tags == plan.tags and labels.scenario == plan.scenario and labels.seed == 1
    inactive = world(plan, r1=(20.0, 0.0, 0.0, 4.8, 2.0, 1.5))
    assert [o.track_id for o in annotate(plan, inactive, frames()).objects] == [2]
    assert annotate(plan, world(plan), frames(camera())).objects == ()  # only the ego is active


def test_box_in_the_ego_frame(plan):
    state = world(plan, r1=(10.0, 15.0, 90.0, 4.8, 2.0, 1.5))
    actors = state.actors
    x, y, yaw = (np.array(a, dtype=float) for a in (actors.x_m, actors.y_m, actors.yaw_rad))
    x[0], y[0], yaw[0] = 10.0, 5.0, math.pi / 2  # the ego faces world +y: the car is 10 m dead ahead
    state = dataclasses.replace(state, actors=dataclasses.replace(actors, x_m=x, y_m=y, yaw_rad=yaw))
    labels = annotate(plan, state, frames())
    car = label_of(labels, 2)
    assert car.box_ego.centre_m == pytest.approx((10.0, 0.0, 0.75), abs=1e-4)
    assert car.box_ego.yaw_deg == pytest.approx(0.0, abs=1e-4)
    assert car.box.centre_m == pytest.approx((10.0, 15.0, 0.75)) and car.box.yaw_deg == pytest.approx(90.0)
    assert labels.ego_pose == pytest.approx((10.0, 5.0, plan.actors[0].pose.z_m, 90.0))


def test_labels_are_deterministic_bytes_and_round_trip(plan):
    car = (15.0, -1.0, 20.0, 4.8, 2.0, 1.5)
    state = world(plan, tick=7, r1=car, r4=(12.0, 2.0, -90.0, 0.5, 0.5, 1.1, 2.5))
    instance = paint(paint(np.zeros((H, W), np.uint16), box_pixels(*car), 2), box_pixels(12.0, 2.0, -90.0, 0.5, 0.5, 1.1), 5)
    sensors = frames(camera(instance), camera(instance, pose=carla_matrix(0.0, 0.0, 2.0, yaw_deg=30.0), name="right"))
    first = annotate(plan, state, sensors).model_dump_json()
    again = Annotator(plan)(state, sensors).model_dump_json()  # a fresh annotator: no state carried over
    assert first == again
    assert FrameLabels.model_validate_json(first).model_dump_json() == first
    assert FrameLabels.model_validate_json(first) == annotate(plan, state, sensors)
    assert '"tick":7' in first and not re.search(r"-0\.0[,\]}]", first)  # no negative zeros
