"""Exports (KITTI, COCO, nuScenes) against the documented episode layout, checked by each format's own tools.

The recorder and annotator are built elsewhere, so these tests write small synthetic episode
directories themselves (`write_episode`): hand-built FrameLabels whose geometry is self-consistent
(2D boxes are the 3D boxes projected with the camera's K and pose, instance masks are the
projected boxes painted far to near, LiDAR points are drawn inside the boxes), in exactly the
layout of docs/episode-format.md. Then:

* COCO: pycocotools loads the file and COCOeval with the ground truth as detections gives AP 1.0
  (bbox and segm);
* KITTI: an independent reader rebuilds each 3D box from label_2 (labels-reference 4.2),
  projects it through calib's P2 and finds the 2D box; velodyne points inside a box land inside
  its 2D box;
* nuScenes: the official devkit (its own venv, tests/nuscenes_venv.py) loads the tables, builds
  every box, projects them into the cameras and counts LiDAR points in boxes;
* the worked example of labels-reference section 7 comes out digit for digit.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecase.errors import InputError
from edgecase.export import export
from edgecase.export import nuscenes as nu
from edgecase.export.reader import read_episode_dir
from edgecase.labels.model import Box3D, CameraView, Capture, FrameLabels, ObjectLabel
from edgecase.sensors import Rig
from edgecase.sensors.frames import SEMANTIC_LIDAR_DTYPE
from edgecase.sensors.transforms import BOX_SIGNS, apply, carla_matrix, invert, optical_from_world, project
from tests import nuscenes_venv
from tests.helpers import SCENARIOS

# actor_class, kitti_type, nuscenes_category, coco_category, nuScenes attribute, CARLA semantic tag
CLASSES = {
    "car": ("car", "Car", "vehicle.car", "car", "vehicle.moving", 14),
    "truck": ("truck", "Truck", "vehicle.truck", "truck", "vehicle.parked", 15),
    "pedestrian": ("pedestrian", "Pedestrian", "human.pedestrian.adult", "person", "pedestrian.moving", 12),
    "cyclist": ("bicycle", "Cyclist", "vehicle.bicycle", "bicycle", "cycle.with_rider", 19),
    "prop": ("prop", "Misc", "movable_object.debris", "", "", 20),
}
NEAR_M = 0.1


@dataclass(frozen=True)
class Actor:
    """A synthetic actor: a box on the ground moving straight on at constant speed."""

    track_id: int
    kind: str
    x: float  # world position of the box centre at t = 0 (CARLA frame: y right)
    y: float
    yaw_deg: float
    size: tuple[float, float, float]  # length, width, height
    speed: float = 0.0
    points: int = 40  # LiDAR points drawn inside the box

    def box(self, t_s: float) -> Box3D:
        yaw = math.radians(self.yaw_deg)
        x, y = self.x + self.speed * t_s * math.cos(yaw), self.y + self.speed * t_s * math.sin(yaw)
        return Box3D(centre_m=(x, y, self.size[2] / 2), size_m=self.size, yaw_deg=self.yaw_deg)


@dataclass(frozen=True)
class Scene:
    rig: Rig
    actors: tuple[Actor, ...]
    ego: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # x, y, z, yaw_deg at t = 0
    ego_speed: float = 0.0
    ticks: tuple[int, ...] = (0,)
    step_s: float = 0.05
    background_points: int = 300


def make_rig(width: int = 640, height: int = 360, camera_mount: dict | None = None, lidar_mount: dict | None = None,
             channels: int = 32, extra_camera: bool = False) -> Rig:
    sensors = {"front": {"type": "camera.rgb", "mount": camera_mount or {"x_m": 0.8, "y_m": 0.1, "z_m": 1.6, "yaw_deg": 4.0},
                         "width_px": width, "height_px": height, "fov_deg": 90.0}}
    if extra_camera:
        sensors["left"] = {"type": "camera.rgb", "mount": {"x_m": 0.5, "y_m": -0.5, "z_m": 1.6, "yaw_deg": -60.0},
                           "width_px": width, "height_px": height, "fov_deg": 90.0}
    if lidar_mount is not False:
        sensors["lidar_top"] = {"type": "lidar.ray_cast", "mount": lidar_mount or {"x_m": 0.0, "z_m": 1.9},
                                "channels": channels, "range_m": 100.0}
    return Rig.model_validate({"name": "synthetic", "sensors": sensors})


@lru_cache(maxsize=1)
def plan_json() -> str:
    from edgecase import api

    return json.dumps(api.compile(SCENARIOS / "occluded_child_dartout.yaml", seed=1).model_dump(mode="json"))


# --- the synthetic episode writer ----------------------------------------------------------------

def box_corners(box: Box3D) -> np.ndarray:
    """(8, 3) world corners in CARLA's vertex order."""
    half = np.array(box.size_m) / 2
    return apply(carla_matrix(*box.centre_m, yaw_deg=box.yaw_deg), BOX_SIGNS * half)


def _matrix(m: np.ndarray) -> tuple:
    return tuple(tuple(float(v) for v in row) for row in np.round(m, 6) + 0.0)


def camera_views(boxes: dict[int, Box3D], kinds: dict[int, str], pose: np.ndarray, K: np.ndarray, size: tuple[int, int]):
    """Per track id its CameraView (absent: not fully in front), the uint16 instance ids, the BGR image
    and the semantic tags (boxes painted far to near), and which amodal boxes are unclipped."""
    W, H = size
    to_opt = optical_from_world(pose)
    hulls, depth = {}, {}
    for tid, box in boxes.items():
        p = apply(to_opt, box_corners(box))
        if np.all(p[:, 2] > NEAR_M):  # synthetic scenes keep partly-behind boxes out of the cameras
            hulls[tid], depth[tid] = project(K, p), float(np.mean(p[:, 2]))
    ids, tags = np.zeros((H, W), np.uint16), np.zeros((H, W), np.uint8)
    bgr = np.empty((H, W, 3), np.uint8)
    bgr[: H // 2], bgr[H // 2:] = (200, 160, 120), (90, 90, 90)  # sky, road
    for tid in sorted(hulls, key=lambda t: -depth[t]):  # far to near: near ones cover far ones
        poly = np.round(cv2.convexHull(hulls[tid].astype(np.float32))[:, 0] * 16).astype(np.int32)
        cv2.fillConvexPoly(ids, poly, int(tid), cv2.LINE_8, 4)
        cv2.fillConvexPoly(tags, poly, CLASSES[kinds[tid]][5], cv2.LINE_8, 4)
        cv2.fillConvexPoly(bgr, poly, ((tid * 70) % 256, (tid * 150) % 256, (tid * 40) % 256), cv2.LINE_8, 4)
    views, unclipped = {}, set()
    for tid, uv in hulls.items():
        lo, hi = uv.min(axis=0), uv.max(axis=0)
        amodal = (max(lo[0], 0.0), max(lo[1], 0.0), min(hi[0], W), min(hi[1], H))
        if amodal[0] >= amodal[2] or amodal[1] >= amodal[3]:
            continue
        if lo[0] >= 0 and lo[1] >= 0 and hi[0] <= W and hi[1] <= H:
            unclipped.add(tid)
        views[tid] = _view(tid, uv, ids, amodal, to_opt, boxes[tid])
    return views, ids, bgr, tags, unclipped


def _view(tid: int, uv: np.ndarray, ids: np.ndarray, amodal, to_opt, box: Box3D) -> CameraView:
    """Visible pixels, silhouette and modal box, counted inside the amodal box's pixel window only."""
    c0, r0 = int(amodal[0]), int(amodal[1])
    c1, r1 = int(math.ceil(amodal[2])) + 1, int(math.ceil(amodal[3])) + 1
    window = ids[r0:r1, c0:c1]
    poly = np.round(cv2.convexHull((uv - (c0, r0)).astype(np.float32))[:, 0] * 16).astype(np.int32)
    alone = np.zeros(window.shape, np.uint8)
    cv2.fillConvexPoly(alone, poly, 1, cv2.LINE_8, 4)
    silhouette = int(alone.sum())
    mine = window == tid
    visible = int(mine.sum())
    ys, xs = np.nonzero(mine)
    modal = None
    if visible:
        modal = (float(xs.min() + c0), float(ys.min() + r0), float(xs.max() + 1 + c0), float(ys.max() + 1 + r0))
    full_area = cv2.contourArea(cv2.convexHull(uv.astype(np.float32)))
    inside = amodal == (uv[:, 0].min(), uv[:, 1].min(), uv[:, 0].max(), uv[:, 1].max())
    truncation = 0.0 if inside else float(np.clip(1 - silhouette / max(full_area, 1e-9), 0, 1))
    visibility = visible / silhouette if silhouette else 0.0
    centre = apply(to_opt, np.array(box.centre_m))
    return CameraView(amodal=tuple(float(v) for v in amodal), modal=modal, visible_px=visible,
                      visibility=round(visibility, 4), truncation=round(truncation, 4),
                      occlusion=0 if visibility >= 0.8 else 1 if visibility >= 0.4 else 2,
                      box_camera=Box3D(centre_m=tuple(float(v) for v in centre), size_m=box.size_m, yaw_deg=box.yaw_deg))


def lidar_sweep(boxes: dict[int, Box3D], actors: dict[int, Actor], pose: np.ndarray, channels: int, n_background: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """CARLA's ray_cast layout (N, 4) in the sensor frame, channel-major; object ids; channel counts."""
    parts, owners = [], []
    for tid, box in boxes.items():
        local = rng.uniform(-0.4, 0.4, (actors[tid].points, 3)) * np.array(box.size_m)
        parts.append(apply(carla_matrix(*box.centre_m, yaw_deg=box.yaw_deg), local))
        owners.append(np.full(len(local), tid, np.uint32))
    # ground returns 5 cm below the boxes' bottom faces: inside no box, whatever the layout
    ground = np.column_stack([rng.uniform(-40, 40, (n_background, 2)) + pose[:2, 3], np.full(n_background, -0.05)])
    parts.append(ground)
    owners.append(np.zeros(n_background, np.uint32))
    world, owner = np.concatenate(parts), np.concatenate(owners)
    sensor = apply(invert(pose), world)
    channel = rng.integers(0, channels, len(sensor))
    order = np.argsort(channel, kind="stable")
    points = np.column_stack([sensor, np.exp(-0.004 * np.linalg.norm(sensor, axis=1))]).astype(np.float32)[order]
    return points, owner[order], tuple(int(c) for c in np.bincount(channel, minlength=channels))


def write_episode(folder: Path, scene: Scene, seed: int = 1) -> dict:
    """Write a synthetic episode directory; returns what the tests compare against (unclipped amodal boxes)."""
    rng = np.random.default_rng(seed)
    rig, plan = scene.rig, json.loads(plan_json())
    actors = {a.track_id: a for a in scene.actors}
    (folder / "labels").mkdir(parents=True)
    for name in rig.sensors:
        (folder / "sensors" / name).mkdir(parents=True)
    truth = {"unclipped": {}, "views": {}}
    for tick in scene.ticks:
        t_s = round(tick * scene.step_s, 6)
        labels = _frame(folder, scene, plan, actors, tick, t_s, rng, truth)
        (folder / "labels" / f"{tick:06d}.json").write_text(labels.model_dump_json() + "\n")
    _write_json(folder / "calib.json", _calib(rig, plan))
    _write_json(folder / "frames.json", {"ticks": list(scene.ticks)})
    _write_json(folder / "episode.json", {"format_version": 1, "scenario": plan["scenario"], "seed": seed, "plan": plan})
    return truth


def _write_json(file: Path, doc: dict) -> None:
    file.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")  # as the recorder writes them


def _calib(rig: Rig, plan: dict) -> dict:
    sensors = {}
    for name, s in rig.sensors.items():
        entry = {"type": s.type, "sensor_to_vehicle": _matrix(s.mount.matrix())}
        if name in rig.cameras:
            entry |= {"intrinsics": np.round(s.intrinsics(), 6).tolist(), "width_px": s.width_px,
                      "height_px": s.height_px, "fov_deg": s.fov_deg}
        else:
            entry |= {"channels": s.channels, "range_m": s.range_m, "upper_fov_deg": s.upper_fov_deg,
                      "lower_fov_deg": s.lower_fov_deg}
        sensors[name] = entry
    ego = next(a["id"] for a in plan["actors"] if a["role"] == "ego")
    return {"rig": rig.model_dump(mode="json"), "ego_track_id": ego, "frame_every": 1,
            "renderer": {"engine": "synthetic"}, "sensors": sensors}


def _frame(folder: Path, scene: Scene, plan: dict, actors: dict[int, Actor], tick: int, t_s: float, rng,
           truth) -> FrameLabels:
    ex, ey, ez, eyaw = scene.ego
    ex += scene.ego_speed * t_s * math.cos(math.radians(eyaw))
    ey += scene.ego_speed * t_s * math.sin(math.radians(eyaw))
    ego = carla_matrix(ex, ey, ez, yaw_deg=eyaw)
    boxes = {tid: a.box(t_s) for tid, a in actors.items()}
    views: dict[int, dict[str, CameraView]] = {tid: {} for tid in actors}
    captures = {}
    for name, cam in scene.rig.cameras.items():
        pose = ego @ cam.mount.matrix()
        kinds = {tid: a.kind for tid, a in actors.items()}
        size = (cam.width_px, cam.height_px)
        cam_views, ids, bgr, tags, unclipped = camera_views(boxes, kinds, pose, cam.intrinsics(), size)
        for tid, view in cam_views.items():
            views[tid][name] = view
            truth["views"][(tick, tid, name)] = view
            if tid in unclipped:
                truth["unclipped"][(tick, tid, name)] = view.amodal
        captures[name] = _write_camera(folder, name, tick, ids, bgr, tags, pose)
    counts: dict[int, dict[str, int]] = {tid: {} for tid in actors}
    for name, lidar in scene.rig.lidars.items():
        pose = ego @ lidar.mount.matrix()
        points, owner, channel_counts = lidar_sweep(boxes, actors, pose, lidar.channels, scene.background_points, rng)
        for tid in actors:
            counts[tid][name] = int(np.sum(owner == tid))
        captures[name] = _write_lidar(folder, name, tick, points, owner, pose, channel_counts)
    objects = tuple(_object(actors[tid], boxes[tid], ego, eyaw, views[tid], counts[tid]) for tid in sorted(actors))
    return FrameLabels(scenario=plan["scenario"], seed=1, tags=tuple(plan["tags"]), tick=tick, t_s=t_s,
                       ego_track_id=1, ego_pose=(ex, ey, ez, eyaw), objects=objects, captures=captures)


def _object(actor: Actor, box: Box3D, ego: np.ndarray, ego_yaw: float, views, counts) -> ObjectLabel:
    actor_class, kitti, nusc, coco, attribute, _ = CLASSES[actor.kind]
    centre_ego = apply(invert(ego), np.array(box.centre_m))
    return ObjectLabel(track_id=actor.track_id, name=f"{actor.kind}{actor.track_id}", role="background",
                       blueprint=f"synthetic.{actor.kind}", actor_class=actor_class, kitti_type=kitti,
                       nuscenes_category=nusc, coco_category=coco, attribute=attribute, speed_mps=actor.speed, box=box,
                       box_ego=Box3D(centre_m=tuple(float(v) for v in centre_ego), size_m=box.size_m,
                                     yaw_deg=box.yaw_deg - ego_yaw),
                       cameras=views, lidar_points=counts)


def _write_camera(folder: Path, name: str, tick: int, ids: np.ndarray, bgr: np.ndarray, tags: np.ndarray, pose) -> Capture:
    stem = f"sensors/{name}/{tick:06d}"
    cv2.imwrite(str(folder / f"{stem}.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
    instance = np.dstack([(ids >> 8).astype(np.uint8), (ids & 0xFF).astype(np.uint8), tags])  # B, G, R
    cv2.imwrite(str(folder / f"{stem}_instance.png"), instance)
    return Capture(files={"rgb": f"{stem}.jpg", "instance": f"{stem}_instance.png"}, sensor_to_world=_matrix(pose))


def _write_lidar(folder: Path, name: str, tick: int, points, owner, pose, channel_counts) -> Capture:
    stem = f"sensors/{name}/{tick:06d}"
    points.tofile(folder / f"{stem}.bin")
    semantic = np.zeros(len(points), SEMANTIC_LIDAR_DTYPE)
    semantic["x"], semantic["y"], semantic["z"] = points[:, 0], points[:, 1], points[:, 2]
    semantic["object_idx"] = owner
    semantic.tofile(folder / f"{stem}_semantic.bin")
    return Capture(files={"points": f"{stem}.bin", "semantic": f"{stem}_semantic.bin"}, sensor_to_world=_matrix(pose),
                   channel_counts=channel_counts)


# --- scenes ----------------------------------------------------------------------------------------

MAIN_ACTORS = (
    Actor(10, "car", 16.0, 3.5, 30.0, (4.8, 2.0, 1.5), speed=4.0),
    Actor(11, "prop", 23.0, 5.2, 0.0, (0.6, 0.6, 0.5), points=15),  # behind car 10: hidden in the image
    Actor(12, "pedestrian", 11.0, -2.5, 90.0, (0.5, 0.5, 1.8), speed=1.2),
    Actor(13, "cyclist", 21.0, -5.0, -10.0, (1.8, 0.7, 1.7), speed=3.0),
    Actor(14, "truck", 30.0, -9.0, 5.0, (8.0, 2.6, 3.2)),
    Actor(15, "car", 9.0, 10.5, -80.0, (4.5, 1.9, 1.4)),  # right edge: truncated
    Actor(16, "car", -12.0, 1.0, 180.0, (4.6, 1.9, 1.5), speed=2.0),  # behind the ego: LiDAR only
)
MAIN = Scene(make_rig(), MAIN_ACTORS, ego=(2.0, 1.0, 0.0, 3.0), ego_speed=5.0, ticks=(0, 2, 4, 6))
SECOND = Scene(make_rig(extra_camera=True), (
    Actor(20, "car", 14.0, -2.0, 0.0, (4.4, 1.8, 1.5), speed=6.0),
    Actor(21, "pedestrian", 9.0, 3.0, -90.0, (0.5, 0.5, 1.7), speed=1.0),
    Actor(22, "car", 8.0, -9.0, 30.0, (4.6, 1.9, 1.5)),
), ego=(-5.0, 2.0, 0.0, -20.0), ego_speed=3.0, ticks=(0, 1, 2))


@pytest.fixture(scope="module")
def episodes(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("episodes")
    truth = {"main": write_episode(root / "main", MAIN, seed=1), "second": write_episode(root / "second", SECOND, seed=2)}
    return {"main": root / "main", "second": root / "second", "truth": truth}


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --- the synthetic data is what it claims to be ------------------------------------------------------

def test_synthetic_episode_has_the_cases_the_exports_need(episodes):
    views = episodes["truth"]["main"]["views"]
    assert any(v.modal is None for (t, tid, c), v in views.items() if tid == 11), "the prop is hidden behind the car"
    assert any(v.truncation > 0 for (t, tid, c), v in views.items() if tid == 15), "car 15 is truncated"
    assert not any(tid == 16 for (t, tid, c) in views), "car 16 is behind the camera"
    episode = read_episode_dir(episodes["main"])
    assert [f.tick for f in episode.frames] == [0, 2, 4, 6] and episode.cameras == ("front",)


# --- KITTI ---------------------------------------------------------------------------------------------

def read_kitti_calib(file: Path) -> dict[str, np.ndarray]:
    out = {}
    for line in file.read_text().splitlines():
        key, values = line.split(":", 1)
        out[key] = np.array([float(v) for v in values.split()])
    return {"P2": out["P2"].reshape(3, 4), "R0": out["R0_rect"].reshape(3, 3),
            "Tr": out["Tr_velo_to_cam"].reshape(3, 4), "Tr_imu": out["Tr_imu_to_velo"].reshape(3, 4)}


def read_kitti_labels(file: Path) -> list[dict]:
    rows = []
    for line in file.read_text().splitlines():
        f = line.split()
        assert len(f) == 15, line
        rows.append({"type": f[0], "trunc": float(f[1]), "occ": int(f[2]), "alpha": float(f[3]),
                     "bbox": np.array(f[4:8], float), "hwl": np.array(f[8:11], float),
                     "loc": np.array(f[11:14], float), "ry": float(f[14])})
    return rows


def kitti_corners(row: dict) -> np.ndarray:
    """(8, 3) camera-frame corners, labels-reference 4.2 (frustum-pointnets' compute_box_3d)."""
    h, w, l = row["hwl"]
    x = np.array([l, l, -l, -l, l, l, -l, -l]) / 2
    y = np.array([0, 0, 0, 0, -h, -h, -h, -h])
    z = np.array([w, -w, -w, w, w, -w, -w, w]) / 2
    c, s = math.cos(row["ry"]), math.sin(row["ry"])
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return (rot @ np.vstack([x, y, z])).T + row["loc"]


def kitti_project(P2: np.ndarray, R0: np.ndarray, cam: np.ndarray) -> np.ndarray:
    rect = cam @ R0.T
    uvw = np.hstack([rect, np.ones((len(rect), 1))]) @ P2.T
    return uvw[:, :2] / uvw[:, 2:3]


def test_kitti_boxes_reproject_through_p2_and_points_land_in_their_boxes(episodes, tmp_path):
    out = tmp_path / "kitti"
    summary = export([episodes["main"]], "kitti", out)
    training = out / "training"
    stems = sorted(p.stem for p in (training / "label_2").glob("*.txt"))
    assert stems == [f"{i:06d}" for i in range(4)] == (out / "ImageSets" / "train.txt").read_text().split()
    assert summary.frames == 4 and summary.annotations > 0
    checked_boxes = checked_points = 0
    for stem in stems:
        calib = read_kitti_calib(training / "calib" / f"{stem}.txt")
        image = cv2.imread(str(training / "image_2" / f"{stem}.png"))
        H, W = image.shape[:2]
        rows = read_kitti_labels(training / "label_2" / f"{stem}.txt")
        assert {r["type"] for r in rows} <= {"Car", "Truck", "Pedestrian", "Cyclist", "Misc"}
        for row in rows:
            corners = kitti_corners(row)
            uv = kitti_project(calib["P2"], calib["R0"], corners)
            lo, hi = uv.min(axis=0), uv.max(axis=0)
            if np.all(corners[:, 2] > NEAR_M) and lo[0] >= 0 and lo[1] >= 0 and hi[0] <= W and hi[1] <= H:
                assert np.allclose(np.r_[lo, hi], row["bbox"], atol=0.5 + 0.01), (stem, row)
                checked_boxes += 1
            alpha = row["ry"] - math.atan2(row["loc"][0], row["loc"][2])
            assert abs(math.remainder(row["alpha"] - alpha, 2 * math.pi)) < 0.011
        velo = np.fromfile(training / "velodyne" / f"{stem}.bin", np.float32).reshape(-1, 4)
        cam = np.hstack([velo[:, :3], np.ones((len(velo), 1))]) @ calib["Tr"].T
        for row in rows:
            inside = points_in_kitti_box(cam, row) & (cam[:, 2] > NEAR_M)
            uv = kitti_project(calib["P2"], calib["R0"], cam[inside])
            uv = uv[(uv[:, 0] >= 0) & (uv[:, 0] <= W) & (uv[:, 1] >= 0) & (uv[:, 1] <= H)]  # where the camera sees
            l, t, r, b = row["bbox"]
            assert np.all((uv[:, 0] >= l - 0.5) & (uv[:, 0] <= r + 0.5) & (uv[:, 1] >= t - 0.5) & (uv[:, 1] <= b + 0.5))
            checked_points += len(uv)
    assert checked_boxes >= 8 and checked_points >= 200
    mapping = json.loads((out / "mapping.json").read_text())["samples"]
    assert [(m["index"], m["tick"], m["camera"], m["lidar"]) for m in mapping] == [
        (f"{i:06d}", t, "front", "lidar_top") for i, t in enumerate((0, 2, 4, 6))]


def points_in_kitti_box(cam: np.ndarray, row: dict) -> np.ndarray:
    """Camera-frame points inside a label_2 box (in the box's own frame: x along l, y up to -h, z along w)."""
    c, s = math.cos(row["ry"]), math.sin(row["ry"])
    rel = cam - row["loc"]
    local = rel @ np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])  # = Ry^T rel
    h, w, l = row["hwl"]
    return (np.abs(local[:, 0]) <= l / 2) & (local[:, 1] <= 0) & (local[:, 1] >= -h) & (np.abs(local[:, 2]) <= w / 2)


def test_kitti_without_lidar_has_no_velodyne_and_ego_relative_tr(tmp_path):
    rig = make_rig(lidar_mount=False, camera_mount={"x_m": 1.5, "z_m": 1.6})
    write_episode(tmp_path / "ep", Scene(rig, MAIN_ACTORS[:2]))
    summary = export([tmp_path / "ep"], "kitti", tmp_path / "kitti")
    assert not (tmp_path / "kitti" / "training" / "velodyne").exists()
    assert any("no LiDAR" in n for n in summary.notes)
    calib = read_kitti_calib(tmp_path / "kitti" / "training" / "calib" / "000000.txt")
    # the ego frame (FLU) -> camera: a point 10 m ahead of the vehicle origin on the ground
    assert np.allclose(calib["Tr"] @ [10, 0, 0, 1], [0, 1.6, 8.5]) and np.allclose(calib["Tr_imu"], np.eye(4)[:3])


# --- the worked example (labels-reference section 7) -----------------------------------------------------

def test_worked_example_of_labels_reference_section_7(tmp_path):
    """Car at (20, 3, 0) yaw 30 with bb.location (0, 0, 0.75), extent (2.4, 1, 0.75); camera at (0, 0, 2)
    yaw 0, 1280x720, fov 90. The rig also holds section 4.3's example mounts (LiDAR at (0, 0, 2.4),
    camera at (1.5, 0, 1.6)), so the ego sits at (-1.5, 0, 0.4) to put the camera at (0, 0, 2)."""
    rig = make_rig(1280, 720, camera_mount={"x_m": 1.5, "z_m": 1.6}, lidar_mount={"z_m": 2.4})
    car = Actor(30, "car", 20.0, 3.0, 30.0, (4.8, 2.0, 1.5))
    write_episode(tmp_path / "ep", Scene(rig, (car,), ego=(-1.5, 0.0, 0.4, 0.0)))
    export([tmp_path / "ep"], "kitti", tmp_path / "kitti")
    line = (tmp_path / "kitti" / "training" / "label_2" / "000000.txt").read_text().strip()
    assert line == "Car 0.00 0 -1.20 672.45 374.17 790.25 433.47 1.50 2.00 4.80 3.00 2.00 20.00 -1.05"
    calib = read_kitti_calib(tmp_path / "kitti" / "training" / "calib" / "000000.txt")
    assert np.allclose(calib["Tr"], [[0, -1, 0, 0], [0, 0, -1, -0.8], [1, 0, 0, -1.5]], atol=1e-9)
    assert np.allclose(calib["Tr"] @ [10, 2, 0, 1], [-2, -0.8, 8.5])
    export([tmp_path / "ep"], "nuscenes", tmp_path / "nusc")
    (ann,) = json.loads((tmp_path / "nusc" / nu.VERSION / "sample_annotation.json").read_text())
    assert ann["translation"] == pytest.approx([20, -3, 0.75]) and ann["size"] == pytest.approx([2.0, 4.8, 1.5])
    assert ann["rotation"] == pytest.approx([0.9659, 0, 0, -0.2588], abs=5e-5)
    translation, rotation = nu.flu_pose(carla_matrix(100, 50, 0.2, yaw_deg=90))
    assert translation == pytest.approx([100, -50, 0.2]) and rotation == pytest.approx([0.7071, 0, 0, -0.7071], abs=5e-5)
    _, camera = nu.flu_pose(carla_matrix(pitch_deg=-10), camera=True)
    assert camera == pytest.approx([0.4545, -0.5417, 0.5417, -0.4545], abs=5e-5)
    assert nu.flu_pose(np.eye(4), camera=True)[1] == pytest.approx([0.5, -0.5, 0.5, -0.5])


# --- COCO --------------------------------------------------------------------------------------------------

def coco_eval(gt, iou_type: str) -> float:
    from pycocotools.cocoeval import COCOeval

    key = "bbox" if iou_type == "bbox" else "segmentation"
    dets = [{"image_id": a["image_id"], "category_id": a["category_id"], key: a[key], "score": 1.0}
            for a in gt.dataset["annotations"] if not a["iscrowd"]]
    evaluator = COCOeval(gt, gt.loadRes(dets), iou_type)
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return float(evaluator.stats[0])


def test_coco_loads_and_the_ground_truth_scores_ap_1(episodes, tmp_path):
    from pycocotools import mask as mask_api
    from pycocotools.coco import COCO

    out = tmp_path / "coco"
    export([episodes["main"], episodes["second"]], "coco", out)
    gt = COCO(str(out / "annotations" / "instances.json"))
    doc = gt.dataset
    assert [i["id"] for i in doc["images"]] == list(range(1, len(doc["images"]) + 1)) and len(doc["images"]) == 4 + 3 * 2
    assert [a["id"] for a in doc["annotations"]] == list(range(1, len(doc["annotations"]) + 1))
    assert {c["name"]: c["id"] for c in doc["categories"]} == {"person": 1, "bicycle": 2, "car": 3, "truck": 8}
    assert all(a["track_id"] not in (11,) for a in doc["annotations"])  # the hidden prop: no modal box, no COCO class
    for a in doc["annotations"]:
        assert a["area"] == mask_api.area(a["segmentation"])
        assert mask_api.toBbox(a["segmentation"]).tolist() == a["bbox"]
    for image in doc["images"]:
        assert (out / "images" / image["file_name"]).is_file() and image["tags"] == ["vru", "occlusion", "child", "urban"]
    assert abs(coco_eval(gt, "bbox") - 1.0) < 1e-9
    assert abs(coco_eval(gt, "segm") - 1.0) < 1e-9


def test_instance_rle_equals_pycocotools_encode_of_the_whole_mask():
    """The strip shortcut gives pycocotools' bytes for any mask, box position and a wrong visible count."""
    from pycocotools import mask as mask_api

    from edgecase.export.coco import instance_rle

    rng = np.random.default_rng(3)
    for _ in range(300):
        H, W = rng.integers(1, 9, 2)
        ids = np.where(rng.random((H, W)) < rng.random(), 7, rng.integers(0, 3, (H, W))).astype(np.uint16)
        mine = ids == 7
        if not mine.any():
            continue
        xs = np.nonzero(mine)[1]
        modal = (float(xs.min()), 0.0, float(xs.max() + 1), float(H))
        want = mask_api.encode(np.asfortranarray(mine.astype(np.uint8)))["counts"].decode()
        assert instance_rle(ids, 7, modal, int(mine.sum()), mask_api)["counts"] == want
        assert instance_rle(ids, 7, (0.0, 0.0, 1.0, 1.0), int(mine.sum()) + 1, mask_api)["counts"] == want


# --- nuScenes, with the official devkit -----------------------------------------------------------------------

DEVKIT_SCRIPT = r"""
import json, sys
import numpy as np
from nuscenes.nuscenes import NuScenes
from nuscenes.utils.data_classes import LidarPointCloud
from nuscenes.utils.geometry_utils import BoxVisibility, points_in_box, view_points

nusc = NuScenes(version="v1.0-edgecase", dataroot=sys.argv[1], verbose=False)
out = {"scenes": len(nusc.scene), "samples": len(nusc.sample), "boxes": 0, "projected": {}, "lidar": [], "rings": []}
for sample in nusc.sample:
    for ann in sample["anns"]:
        nusc.get_box(ann)
        out["boxes"] += 1
    for channel, sd_token in sample["data"].items():
        sd = nusc.get("sample_data", sd_token)
        if sd["sensor_modality"] == "camera":
            _, boxes, K = nusc.get_sample_data(sd_token, box_vis_level=BoxVisibility.ALL)
            for box in boxes:
                uv = view_points(box.corners(), K, normalize=True)[:2]
                out["projected"][box.token + "/" + channel] = [uv[0].min(), uv[1].min(), uv[0].max(), uv[1].max()]
        else:
            path, boxes, _ = nusc.get_sample_data(sd_token)
            cloud = LidarPointCloud.from_file(path)
            ring = np.fromfile(path, dtype=np.float32).reshape(-1, 5)[:, 4]
            out["rings"].append([float(ring.min()), float(ring.max()), bool(np.all(ring == np.round(ring)))])
            for box in boxes:
                n = int(points_in_box(box, cloud.points[:3]).sum())
                out["lidar"].append([box.token, n, nusc.get("sample_annotation", box.token)["num_lidar_pts"]])
print(json.dumps(out, default=float))
"""


@pytest.mark.slow  # builds the devkit's venv on first use (~30 s, cached); runs in the normal suite
@pytest.mark.timeout(nuscenes_venv.INSTALL_TIMEOUT_S + 300)
def test_nuscenes_devkit_loads_projects_and_counts_points(episodes, tmp_path):
    try:
        nuscenes_venv.devkit_python()
    except nuscenes_venv.DevkitUnavailable as why:
        pytest.skip(f"nuScenes devkit venv unavailable: {why}")
    out = tmp_path / "nusc"
    summary = export([episodes["main"], episodes["second"]], "nuscenes", out)
    done = nuscenes_venv.run_script(DEVKIT_SCRIPT, str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["scenes"] == 2 and result["samples"] == 4 + 3 == summary.frames
    assert result["boxes"] == summary.annotations == 4 * len(MAIN_ACTORS) + 3 * 3
    expected = {}
    for i, name in enumerate(("main", "second")):
        for (tick, tid, camera), amodal in episodes["truth"][name]["unclipped"].items():
            expected[nu.token("sample_annotation", i, tid, tick) + "/" + camera.upper()] = amodal
    assert set(result["projected"]) == set(expected) and len(expected) >= 20
    errors = [np.abs(np.subtract(result["projected"][k], expected[k])).max() for k in expected]
    assert max(errors) < 0.5, max(errors)
    assert len(result["lidar"]) == summary.annotations
    assert all(n == want for _, n, want in result["lidar"]) and sum(w for *_, w in result["lidar"]) > 500
    assert all(lo == 0 and hi <= 31 and whole for lo, hi, whole in result["rings"])


def test_nuscenes_tables_link_up(episodes, tmp_path):
    out = tmp_path / "nusc"
    export([episodes["main"], episodes["second"]], "nuscenes", out)
    tables = {name: json.loads((out / nu.VERSION / f"{name}.json").read_text()) for name in nu.TABLES}
    assert len(tables["scene"]) == 2 and len(tables["log"]) == 2 and tables["map"][0]["log_tokens"]
    assert (out / tables["map"][0]["filename"]).is_file()
    channels = {s["channel"]: s["modality"] for s in tables["sensor"]}
    assert channels == {"FRONT": "camera", "LEFT": "camera", "LIDAR_TOP": "lidar"}
    instances = {i["token"]: i for i in tables["instance"]}
    assert len(instances) == len(MAIN_ACTORS) + 3 and all(i["nbr_annotations"] in (3, 4) for i in instances.values())
    anns = {a["token"]: a for a in tables["sample_annotation"]}
    for inst in instances.values():  # walk each chain from first to last
        token, seen = inst["first_annotation_token"], 0
        while token:
            seen, last, token = seen + 1, token, anns[token]["next"]
        assert seen == inst["nbr_annotations"] and last == inst["last_annotation_token"]
    first, second = sorted(tables["scene"], key=lambda s: s["name"])
    times = {s["token"]: s["timestamp"] for s in tables["sample"]}
    by_scene = [[x["timestamp"] for x in tables["sample"] if x["scene_token"] == sc["token"]] for sc in (first, second)]
    assert max(by_scene[0]) < min(by_scene[1]) and times[first["first_sample_token"]] == nu.BASE_US
    assert {a["visibility_token"] for a in anns.values()} <= {"1", "2", "3", "4"}
    pcd = next(out.glob("samples/LIDAR_TOP/*.pcd.bin"))
    assert pcd.stat().st_size % 20 == 0


# --- merging, determinism, overwrite, bad input ----------------------------------------------------------------

def test_merging_two_episodes_gives_continuous_kitti_indices(episodes, tmp_path):
    summary = export([episodes["main"], episodes["second"]], "kitti", tmp_path / "kitti")
    mapping = json.loads((tmp_path / "kitti" / "mapping.json").read_text())["samples"]
    assert [m["index"] for m in mapping] == [f"{i:06d}" for i in range(7)] and summary.frames == 7
    expected = [("main", t) for t in (0, 2, 4, 6)] + [("second", t) for t in (0, 1, 2)]
    assert [(m["episode"], m["tick"]) for m in mapping] == expected
    assert len(list((tmp_path / "kitti" / "training" / "velodyne").glob("*.bin"))) == 7


def test_camera_argument_picks_the_kitti_camera_and_filters_coco(episodes, tmp_path):
    export([episodes["second"]], "kitti", tmp_path / "kitti", camera="left")
    mapping = json.loads((tmp_path / "kitti" / "mapping.json").read_text())["samples"]
    assert {m["camera"] for m in mapping} == {"left"} and len(mapping) == 3
    export([episodes["second"]], "coco", tmp_path / "coco", camera="left")
    images = json.loads((tmp_path / "coco" / "annotations" / "instances.json").read_text())["images"]
    assert {i["camera"] for i in images} == {"left"} and len(images) == 3
    with pytest.raises(InputError, match="no camera 'rear'"):
        export([episodes["second"]], "kitti", tmp_path / "k2", camera="rear")


@pytest.mark.parametrize("fmt", ["kitti", "coco", "nuscenes"])
def test_exports_are_deterministic(episodes, tmp_path, fmt):
    export([episodes["main"], episodes["second"]], fmt, tmp_path / "a")
    export([episodes["main"], episodes["second"]], fmt, tmp_path / "b")
    a, b = tree_digest(tmp_path / "a"), tree_digest(tmp_path / "b")
    assert a == b and len(a) > 10


def test_out_is_refused_when_not_empty_and_replaced_with_force(episodes, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    export([episodes["main"]], "kitti", out)  # an empty directory is fine
    (out / "stale.txt").write_text("old")
    with pytest.raises(InputError, match="not empty"):
        export([episodes["main"]], "kitti", out)
    export([episodes["main"]], "coco", out, force=True)
    assert not (out / "stale.txt").exists() and (out / "annotations" / "instances.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "no staging directory left behind"
    with pytest.raises(InputError, match="overlaps"):
        export([episodes["main"]], "kitti", episodes["main"], force=True)
    with pytest.raises(InputError, match="unknown export format"):
        export([episodes["main"]], "yolo", tmp_path / "y")


def _broken_copy(episodes, tmp_path: Path, name: str) -> Path:
    import shutil

    folder = tmp_path / name
    shutil.copytree(episodes["main"], folder)
    return folder


@pytest.mark.parametrize("case", ["missing_labels", "garbage_labels", "bad_labels_field", "garbage_episode",
                                  "missing_calib", "missing_image", "truncated_points"])
def test_bad_input_is_an_input_error_naming_the_file(episodes, tmp_path, case):
    folder = _broken_copy(episodes, tmp_path, case)
    labels, image, points = (folder / "labels" / "000002.json", folder / "sensors/front/000004.jpg",
                             folder / "sensors/lidar_top/000006.bin")
    target, damage = {
        "missing_labels": (labels, lambda: labels.unlink()),
        "garbage_labels": (labels, lambda: labels.write_text('{"tick": 2, oops')),
        "bad_labels_field": (labels, lambda: labels.write_text(labels.read_text().replace('"tick":2', '"tick":"two"', 1))),
        "garbage_episode": (folder / "episode.json", lambda: (folder / "episode.json").write_text("[1, 2")),
        "missing_calib": (folder / "calib.json", lambda: (folder / "calib.json").unlink()),
        "missing_image": (image, lambda: image.unlink()),
        "truncated_points": (points, lambda: points.write_bytes(b"\0" * 10)),
    }[case]
    damage()
    with pytest.raises(InputError) as err:
        export([folder], "nuscenes", tmp_path / "out")
    assert str(target) in str(err.value) and err.value.exit_code == 2
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))


def test_garbage_json_error_points_at_line_and_column(episodes, tmp_path):
    folder = _broken_copy(episodes, tmp_path, "ep")
    (folder / "frames.json").write_text('{\n "ticks": [0, 2,, 4]\n}\n')
    with pytest.raises(InputError) as err:
        export([folder], "kitti", tmp_path / "out")
    assert str(err.value).startswith(f"{folder / 'frames.json'}:2:")


# --- speed ---------------------------------------------------------------------------------------------------------

def test_export_speed_100_frames_20_objects(tmp_path_factory, capsys):
    """100 frames, 20 objects, one 1280x720 camera + one 64-channel LiDAR: frames/s per format (printed).

    The assertion is deliberately loose (CI machines vary); the numbers go in docs/exports.md."""
    rng = np.random.default_rng(5)
    actors = tuple(Actor(100 + k, ("car", "pedestrian", "cyclist", "truck")[k % 4], 8.0 + 4.0 * (k // 4) + rng.uniform(0, 1),
                         -9.0 + 4.5 * (k % 5), float(rng.uniform(-180, 180)), (2.0, 1.0, 1.5), speed=1.0, points=400)
                   for k in range(20))
    root = tmp_path_factory.mktemp("speed")
    scene = Scene(make_rig(1280, 720, channels=64), actors, ticks=tuple(range(100)), background_points=40_000)
    write_episode(root / "ep", scene)
    rates = {}
    for fmt in ("kitti", "coco", "nuscenes"):
        started = time.perf_counter()
        summary = export([root / "ep"], fmt, root / fmt)
        rates[fmt] = summary.frames / (time.perf_counter() - started)
        assert summary.frames == 100
    started = time.perf_counter()
    export([root / "ep"], "kitti", root / "kitti0", png_compression=0)
    rates["kitti png_compression=0"] = 100 / (time.perf_counter() - started)
    with capsys.disabled():
        print("\nexport frames/s:", {k: round(v, 1) for k, v in rates.items()})
    assert min(rates.values()) > 10
