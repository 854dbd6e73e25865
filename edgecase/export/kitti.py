"""Episodes -> the KITTI object benchmark layout (labels-reference sections 4 and 7).

    OUT/training/image_2/NNNNNN.png    the camera's RGB (the JPEG decoded, re-encoded as PNG)
    OUT/training/label_2/NNNNNN.txt    one line per labelled object the camera sees
    OUT/training/calib/NNNNNN.txt      P0..P3, R0_rect, Tr_velo_to_cam, Tr_imu_to_velo
    OUT/training/velodyne/NNNNNN.bin   the first LiDAR's sweep, KITTI velodyne frame (no LiDAR: absent)
    OUT/ImageSets/train.txt            every index
    OUT/mapping.json                   index -> episode, tick, camera, LiDAR

One sample per (episode, frame) of one camera (the `camera` argument, else each episode's first
camera), indices continuous over the episodes in the order given.

Frames. KITTI's camera frame is the optical one (x right, y down, z forward); boxes are yaw-only
about its y axis with `location` at the bottom centre; the velodyne frame is x forward, y left,
z up. Everything is computed from the world box and the camera's pose at capture (section 7), not
copied from the annotator's camera-frame box, so the export checks the annotator rather than
repeating it. The box model is exact for level cameras (pitch = roll = 0, as in KITTI): a
pitched camera's boxes keep KITTI's yaw-only form (bottom centre along the camera's y axis).

The 2D box is the annotator's amodal box (the 3D box projected, clipped at the near plane and to
the image): KITTI's evaluation treats bbox as the full box extent, clipped to the image.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgecase.errors import InputError
from edgecase.export.reader import Episode, read_image, read_points
from edgecase.labels.model import Box3D, CameraView, FrameLabels, ObjectLabel
from edgecase.sensors.transforms import OPTICAL, carla_matrix, invert

KITTI_TYPES = frozenset({"Car", "Van", "Truck", "Pedestrian", "Person_sitting", "Cyclist", "Tram", "Misc"})
S4 = np.diag([1.0, -1.0, 1.0, 1.0])  # CARLA (y right) <-> right-handed FLU (y left)
A4 = np.eye(4)
A4[:3, :3] = OPTICAL  # UE camera frame -> optical frame


@dataclass(frozen=True)
class Sample:
    """One KITTI index: which episode frame, seen by which camera, with which LiDAR (or None)."""

    index: int
    episode: Episode
    episode_index: int
    frame: FrameLabels
    camera: str
    lidar: str | None


def write_kitti(episodes: Sequence[Episode], root: Path, camera: str | None = None, workers: int = 2,
                png_compression: int | None = None) -> dict[str, Any]:
    """Write the dataset into `root` (an empty staging directory); returns counts and notes."""
    samples = list(_samples(episodes, camera))
    folders = ["image_2", "label_2", "calib"] + (["velodyne"] if any(s.lidar for s in samples) else [])
    for name in folders:
        (root / "training" / name).mkdir(parents=True)
    with ThreadPoolExecutor(max(1, workers)) as pool:  # OpenCV and file I/O release the GIL
        objects = sum(pool.map(lambda s: _write_sample(s, root / "training", png_compression), samples))
    (root / "ImageSets").mkdir()
    (root / "ImageSets" / "train.txt").write_text("".join(f"{s.index:06d}\n" for s in samples))
    _write_mapping(root / "mapping.json", samples)
    notes = [f"{e.path}: no LiDAR in the rig: no velodyne files; Tr_velo_to_cam maps the ego vehicle's "
             "frame (x fwd, y left, z up) to the camera" for e in episodes if not e.lidars]
    return {"frames": len(samples), "items": len(samples), "annotations": objects, "notes": notes}


def _samples(episodes: Sequence[Episode], camera: str | None):
    index = 0
    for i, episode in enumerate(episodes):
        cam = camera or (episode.cameras[0] if episode.cameras else None)
        if cam is None or cam not in episode.cameras:
            raise InputError(f"{episode.path / 'calib.json'}: no camera '{cam}' "
                             f"(cameras: {', '.join(episode.cameras) or 'none'})")
        lidar = episode.lidars[0] if episode.lidars else None
        for frame in episode.frames:
            if cam in frame.captures:
                yield Sample(index, episode, i, frame, cam, lidar if lidar in frame.captures else None)
                index += 1


# --- label_2 -----------------------------------------------------------------------------------

def label_lines(frame: FrameLabels, camera: str) -> list[str]:
    """label_2 lines for the objects with a view in `camera` (labels-reference 4.1), in plan order."""
    pose = np.array(frame.captures[camera].sensor_to_world, dtype=float)
    lines = []
    for obj in frame.objects:
        view = obj.cameras.get(camera)
        if view is not None and (obj.kitti_type in KITTI_TYPES or obj.kitti_type == "DontCare"):
            lines.append(kitti_line(obj, view, pose))
    return lines


def kitti_line(obj: ObjectLabel, view: CameraView, camera_pose: np.ndarray) -> str:
    """type truncated occluded alpha l t r b h w l x y z ry, KITTI's '%.2f' precision."""
    if obj.kitti_type == "DontCare":  # an ignore region: KITTI's invalid values for everything 3D
        return "DontCare -1 -1 -10 " + _fmt(view.amodal) + " -1 -1 -1 -1000 -1000 -1000 -10"
    location, dims, ry = box_in_camera(obj.box, camera_pose)
    alpha = _wrap(ry - math.atan2(location[0], location[2]))
    return (f"{obj.kitti_type} {_num(min(max(view.truncation, 0.0), 1.0))} {int(view.occlusion)} {_num(alpha)} "
            f"{_fmt(view.amodal)} {_fmt(dims)} {_fmt(location)} {_num(ry)}")


def box_in_camera(box: Box3D, camera_pose: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float], float]:
    """(bottom-centre location in the optical frame, (h, w, l), rotation_y) of a world box (section 7)."""
    length, width, height = box.size_m
    centre = OPTICAL @ (invert(camera_pose) @ np.append(box.centre_m, 1.0))[:3]
    heading = carla_matrix(yaw_deg=box.yaw_deg)[:3, 0]  # the box's +x in the world
    d = OPTICAL @ camera_pose[:3, :3].T @ heading
    ry = _wrap(math.atan2(-d[2], d[0]))
    return centre + np.array([0.0, height / 2.0, 0.0]), (height, width, length), ry


def _wrap(angle: float) -> float:
    """Into [-pi, pi]."""
    return math.remainder(angle, 2.0 * math.pi)


def _num(value: float) -> str:
    return f"{round(float(value), 2) + 0.0:.2f}"  # + 0.0: never '-0.00'


def _fmt(values) -> str:
    return " ".join(_num(v) for v in values)


# --- calib ---------------------------------------------------------------------------------------

def calib_text(sample: Sample) -> str:
    """The seven calib lines (section 4.3): P2 = [K | 0] (ideal rectified camera), R0_rect = I.

    Tr_velo_to_cam = (A4 M_cam^-1 M_lidar S4)[:3] from the two capture poses; Tr_imu_to_velo maps
    the ego vehicle's frame ("IMU", FLU at CARLA's vehicle origin) to the LiDAR's. Without a LiDAR,
    "velo" is the ego vehicle's frame itself: Tr_velo_to_cam = A4 (cam -> vehicle)^-1 S4, and
    Tr_imu_to_velo = identity.
    """
    episode, frame = sample.episode, sample.frame
    cam = episode.sensors[sample.camera]
    p2 = np.hstack([cam.intrinsics, np.zeros((3, 1))])
    cam_pose = np.array(frame.captures[sample.camera].sensor_to_world, dtype=float)
    if sample.lidar is not None:
        lidar_pose = np.array(frame.captures[sample.lidar].sensor_to_world, dtype=float)
        velo_to_cam = A4 @ invert(cam_pose) @ lidar_pose @ S4
        imu_to_velo = S4 @ invert(episode.sensors[sample.lidar].sensor_to_vehicle) @ S4
    else:
        velo_to_cam = A4 @ invert(np.asarray(cam.sensor_to_vehicle)) @ S4
        imu_to_velo = np.eye(4)
    rows = [(f"P{i}", p2) for i in range(4)] + [("R0_rect", np.eye(3)), ("Tr_velo_to_cam", velo_to_cam[:3]),
                                                 ("Tr_imu_to_velo", imu_to_velo[:3])]
    return "".join(f"{key}: " + " ".join(f"{v + 0.0:.12e}" for v in np.asarray(m).ravel()) + "\n" for key, m in rows)


# --- image_2 and velodyne ------------------------------------------------------------------------

def _write_sample(sample: Sample, training: Path, png_compression: int | None) -> int:
    """Every file of one index; returns its number of label lines."""
    stem = f"{sample.index:06d}"
    lines = label_lines(sample.frame, sample.camera)
    (training / "label_2" / f"{stem}.txt").write_text("".join(line + "\n" for line in lines))
    (training / "calib" / f"{stem}.txt").write_text(calib_text(sample))
    source = sample.episode.file(sample.frame, sample.camera, "rgb")
    target = training / "image_2" / f"{stem}.png"
    if source.suffix.lower() == ".png":
        shutil.copyfile(source, target)  # recorded --lossless: already PNG
    else:
        params = png_params(png_compression)
        if not cv2.imwrite(str(target), read_image(source, cv2.IMREAD_COLOR), params):
            raise OSError(f"could not write {target}")
    if sample.lidar is not None:
        points = read_points(sample.episode.file(sample.frame, sample.lidar, "points"))
        velo = points.astype("<f4")  # a copy: CARLA's x, y, z, intensity ...
        velo[:, 1] = -velo[:, 1]  # ... with y mirrored: KITTI's velodyne frame has y left
        velo.tofile(training / "velodyne" / f"{stem}.bin")
    return len(lines)


def png_params(level: int | None) -> list[int]:
    """zlib level 1 without row filters unless a level is given: about 2x faster than OpenCV 5's
    defaults (~10 ms for 1280x720) on rendered frames, for files of similar size; level 0 stores
    (2-12x bigger, faster still); other levels keep OpenCV's filtering."""
    if level is None:
        return [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]
    if not 0 <= level <= 9:
        raise InputError(f"PNG compression level {level} is outside 0..9")
    params = [cv2.IMWRITE_PNG_COMPRESSION, int(level)]
    return params + [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE] if level == 0 else params


def _write_mapping(file: Path, samples: Sequence[Sample]) -> None:
    rows = [{"index": f"{s.index:06d}", "episode": s.episode.path.name, "episode_path": str(s.episode.path),
             "episode_index": s.episode_index, "scenario": s.episode.scenario, "seed": s.episode.seed,
             "tick": s.frame.tick, "t_s": s.frame.t_s, "camera": s.camera, "lidar": s.lidar} for s in samples]
    file.write_text(json.dumps({"samples": rows}, indent=1) + "\n")
