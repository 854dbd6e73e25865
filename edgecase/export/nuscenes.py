"""Episodes -> a nuScenes v1.0 dataset the official devkit loads (labels-reference sections 6 and 7).

    OUT/v1.0-edgecase/{category,attribute,visibility,instance,sensor,calibrated_sensor,ego_pose,
                       log,scene,sample,sample_data,sample_annotation,map}.json
    OUT/samples/<CHANNEL>/<EPISODE>__<CHANNEL>__<TIMESTAMP>.jpg | .pcd.bin
    OUT/maps/edgecase.png          a tiny placeholder mask: the devkit insists every log has a map

Each episode is a scene, each frame a key-frame sample; every sensor of the rig is a channel named
after it, upper-cased (`front` -> `FRONT`, `LIDAR_TOP` stays). nuScenes' frames are right-handed
(x forward, y left, z up), so every CARLA position is mirrored in y and every rotation conjugated
by S = diag(1, -1, 1) (yaw -> -yaw); cameras add the optical rotation q_opt (section 7).

* ego_pose: one per sample_data, the vehicle pose that sensor's capture implies
  (sensor -> world at capture times vehicle -> sensor from calib.json), so the devkit's
  ego_pose * calibrated_sensor reproduces the capture pose exactly.
* sample_annotation: the box centre, size [w, l, h], yaw rotation; num_lidar_pts = the first
  LiDAR's points on the actor (semantic LiDAR); visibility bin from the best camera's visible
  fraction; the nuScenes attribute from the labels.
* .pcd.bin: 5 float32 per point (x, -y, z, intensity, ring index = the point's laser, from
  CARLA's channel-major order and per-channel counts).
* timestamps: microseconds, t_s * 1e6 plus a per-scene base; scenes are laid out one after the
  other with 10 s gaps so no two overlap.
* tokens: the first 32 hex digits of sha1 of a descriptive key ('sample/3/120'): two exports of
  the same episodes give byte-identical tables.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgecase.errors import InputError
from edgecase.export.reader import Episode, episode_key, read_points
from edgecase.labels.model import FrameLabels, ObjectLabel
from edgecase.sensors.transforms import carla_matrix, invert

VERSION = "v1.0-edgecase"
TABLES = ("category", "attribute", "visibility", "instance", "sensor", "calibrated_sensor", "ego_pose", "log",
          "scene", "sample", "sample_data", "sample_annotation", "map")
BASE_US = 1_700_000_000_000_000  # 2023-11-14T22:13:20Z: the first scene's t = 0
SCENE_GAP_S = 10
MAP_FILE = "maps/edgecase.png"
S3 = np.diag([1.0, -1.0, 1.0])
#: optical axes (x right, y down, z fwd) in the FLU frame: q_opt = [0.5, -0.5, 0.5, -0.5]
OPTICAL_IN_FLU = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
VISIBILITY = (("1", "v0-40", "visibility of whole object is between 0 and 40%"),
              ("2", "v40-60", "visibility of whole object is between 40 and 60%"),
              ("3", "v60-80", "visibility of whole object is between 60 and 80%"),
              ("4", "v80-100", "visibility of whole object is between 80 and 100%"))


def token(*parts: object) -> str:
    """A deterministic 32-hex token for a descriptive key."""
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()[:32]


def quaternion(matrix: np.ndarray) -> list[float]:
    """[w, x, y, z] (w >= 0, unit) of a 3x3 rotation matrix (Shepperd's method: stable for any angle)."""
    m = np.asarray(matrix, dtype=float)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 2.0 * math.sqrt(trace + 1.0)
        q = [s / 4, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [(m[2, 1] - m[1, 2]) / s, s / 4, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, s / 4, (m[1, 2] + m[2, 1]) / s]
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, s / 4]
    q_arr = np.array(q) / np.linalg.norm(q)
    return _floats(-q_arr if q_arr[0] < 0 else q_arr)


def _floats(values) -> list[float]:
    return [float(v) + 0.0 for v in values]  # + 0.0: no '-0.0' in the tables


def flu_pose(matrix: np.ndarray, camera: bool = False) -> tuple[list[float], list[float]]:
    """(translation, rotation) in nuScenes' right-handed frames of a CARLA 4x4 pose (section 7)."""
    rotation = S3 @ np.asarray(matrix)[:3, :3] @ S3
    if camera:
        rotation = rotation @ OPTICAL_IN_FLU
    return _floats(S3 @ np.asarray(matrix)[:3, 3]), quaternion(rotation)


def annotation_box(obj: ObjectLabel) -> dict[str, list[float]]:
    """A world box as sample_annotation's translation (centre), size [w, l, h] and rotation."""
    length, width, height = obj.box.size_m
    return {"translation": _floats(S3 @ np.asarray(obj.box.centre_m)), "size": _floats([width, length, height]),
            "rotation": quaternion(S3 @ carla_matrix(yaw_deg=obj.box.yaw_deg)[:3, :3] @ S3)}


def visibility_token(obj: ObjectLabel) -> str:
    """nuScenes bins of the best camera's visible fraction: '1' 0-40 %, '2' 40-60, '3' 60-80, '4' 80-100."""
    best = max((view.visibility for view in obj.cameras.values()), default=0.0)
    return "1" if best < 0.4 else "2" if best < 0.6 else "3" if best < 0.8 else "4"


def write_nuscenes(episodes: Sequence[Episode], root: Path, workers: int = 2) -> dict[str, Any]:
    """Write the 13 tables, the sample files and the map mask into `root` (an empty staging directory)."""
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    sensors: dict[str, dict[str, Any]] = {}
    jobs: list[tuple[Episode, FrameLabels, str, Path, str]] = []
    base = BASE_US
    for i, episode in enumerate(episodes):
        _scene(tables, sensors, jobs, i, episode, base)
        last = max((f.t_s for f in episode.frames), default=0.0)
        base += (math.ceil(last) + SCENE_GAP_S) * 1_000_000
    tables["sensor"] = [sensors[ch] for ch in sorted(sensors)]
    _vocabularies(tables)
    tables["map"] = [{"token": token("map", "edgecase"), "category": "semantic_prior", "filename": MAP_FILE,
                      "log_tokens": [log["token"] for log in tables["log"]]}]
    for channel in sorted(sensors):
        (root / "samples" / channel).mkdir(parents=True)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        list(pool.map(lambda job: _write_file(*job, root), jobs))
    (root / "maps").mkdir()
    ok, png = cv2.imencode(".png", np.zeros((2, 2), np.uint8))
    (root / MAP_FILE).write_bytes(png.tobytes())
    (root / VERSION).mkdir()
    for name in TABLES:
        (root / VERSION / f"{name}.json").write_text(json.dumps(tables[name], indent=1) + "\n")
    return {"frames": len(tables["sample"]), "items": len(tables["sample_data"]),
            "annotations": len(tables["sample_annotation"]), "notes": []}


def _scene(tables, sensors, jobs, i: int, episode: Episode, base: int) -> None:
    """Add one episode's log, scene, calibrated sensors, samples, sample_data and annotations."""
    key = episode_key(i, episode)
    log = {"token": token("log", i), "logfile": key, "vehicle": "edgecase-ego",
           "date_captured": datetime.fromtimestamp(base // 1_000_000, timezone.utc).strftime("%Y-%m-%d"),
           "location": episode.plan.map.name}
    tables["log"].append(log)
    calibrated = _calibrated_sensors(tables, sensors, i, episode)
    samples = [_sample(tables, jobs, i, episode, frame, base, calibrated) for frame in episode.frames]
    _link(samples)
    tables["sample"].extend(samples)
    _link_by(tables["sample_data"], lambda sd: (sd["scene"], sd["channel"]), scene=i)
    _instances(tables, i)
    description = f"{episode.scenario} seed {episode.seed} ({key}); tags: {', '.join(episode.plan.tags) or 'none'}"
    tables["scene"].append({"token": token("scene", i), "name": f"scene-{i:04d}", "description": description,
                            "log_token": log["token"], "nbr_samples": len(samples),
                            "first_sample_token": samples[0]["token"] if samples else "",
                            "last_sample_token": samples[-1]["token"] if samples else ""})


def _calibrated_sensors(tables, sensors, i: int, episode: Episode) -> dict[str, dict[str, Any]]:
    """sensor records (shared by channel) and this scene's calibrated_sensor records, by sensor name."""
    out: dict[str, dict[str, Any]] = {}
    for name, calib in episode.sensors.items():
        channel = name.upper()
        if any(other.upper() == channel for other in out):
            raise InputError(f"{episode.path / 'calib.json'}: sensors '{name}' and another differ only in case: "
                             f"both would be channel {channel}")
        modality = "camera" if calib.is_camera else "lidar"
        record = sensors.setdefault(channel, {"token": token("sensor", channel), "channel": channel,
                                              "modality": modality})
        if record["modality"] != modality:
            raise InputError(f"{episode.path / 'calib.json'}: sensor '{name}' is a {modality}; another "
                             f"episode's {channel} is a {record['modality']}")
        translation, rotation = flu_pose(calib.sensor_to_vehicle, camera=calib.is_camera)
        intrinsic = np.asarray(calib.intrinsics).tolist() if calib.is_camera else []
        entry = {"token": token("calibrated_sensor", i, channel), "sensor_token": record["token"],
                 "translation": translation, "rotation": rotation, "camera_intrinsic": intrinsic}
        tables["calibrated_sensor"].append(entry)
        out[name] = entry
    return out


def _sample(tables, jobs, i: int, episode: Episode, frame: FrameLabels, base: int, calibrated) -> dict[str, Any]:
    timestamp = base + round(frame.t_s * 1e6)
    sample = {"token": token("sample", i, frame.tick), "timestamp": timestamp, "scene_token": token("scene", i)}
    for name, calib in episode.sensors.items():
        if name not in frame.captures:
            continue
        channel = name.upper()
        kind = "rgb" if calib.is_camera else "points"
        source = episode.file(frame, name, kind)
        ext = source.suffix.lower().lstrip(".") if calib.is_camera else "pcd"
        filename = f"samples/{channel}/{episode_key(i, episode)}__{channel}__{timestamp}.{ext}" + (
            ".bin" if ext == "pcd" else "")
        ego = np.asarray(frame.captures[name].sensor_to_world) @ invert(calib.sensor_to_vehicle)
        translation, rotation = flu_pose(ego)
        pose = {"token": token("ego_pose", i, channel, frame.tick), "translation": translation,
                "rotation": rotation, "timestamp": timestamp}
        tables["ego_pose"].append(pose)
        tables["sample_data"].append({
            "token": token("sample_data", i, channel, frame.tick), "sample_token": sample["token"],
            "ego_pose_token": pose["token"], "calibrated_sensor_token": calibrated[name]["token"],
            "filename": filename, "fileformat": ext, "width": calib.width_px, "height": calib.height_px,
            "timestamp": timestamp, "is_key_frame": True, "scene": i, "channel": channel})
        jobs.append((episode, frame, name, source, filename))
    lidar = episode.lidars[0] if episode.lidars else None
    for obj in frame.objects:
        if not obj.nuscenes_category:  # no nuScenes class: not annotated
            continue
        tables["sample_annotation"].append({
            "token": token("sample_annotation", i, obj.track_id, frame.tick), "sample_token": sample["token"],
            "instance_token": token("instance", i, obj.track_id), "category": obj.nuscenes_category,
            "attribute_tokens": [token("attribute", obj.attribute)] if obj.attribute else [],
            "attribute": obj.attribute, "visibility_token": visibility_token(obj), **annotation_box(obj),
            "num_lidar_pts": int(obj.lidar_points.get(lidar, 0)) if lidar else 0, "num_radar_pts": 0,
            "scene": i, "track": obj.track_id})
    return sample


def _link(records: list[dict[str, Any]]) -> None:
    """prev/next tokens along a list ("" at the ends)."""
    for k, record in enumerate(records):
        record["prev"] = records[k - 1]["token"] if k else ""
        record["next"] = records[k + 1]["token"] if k + 1 < len(records) else ""


def _link_by(records: list[dict[str, Any]], key, scene: int) -> None:
    """Chain this scene's records that share `key` (time order = list order)."""
    chains: dict[Any, list[dict[str, Any]]] = {}
    for record in records:
        if record["scene"] == scene:
            chains.setdefault(key(record), []).append(record)
    for chain in chains.values():
        _link(chain)


def _instances(tables, i: int) -> None:
    """One instance per track id in scene i, with its annotation chain."""
    annotations = tables["sample_annotation"]
    _link_by(annotations, lambda a: a["track"], scene=i)
    tracks: dict[int, list[dict[str, Any]]] = {}
    for ann in annotations:
        if ann["scene"] == i:
            tracks.setdefault(ann["track"], []).append(ann)
    for track in sorted(tracks):
        chain = tracks[track]
        tables["instance"].append({"token": token("instance", i, track),
                                   "category_token": token("category", chain[0]["category"]),
                                   "nbr_annotations": len(chain), "first_annotation_token": chain[0]["token"],
                                   "last_annotation_token": chain[-1]["token"]})


def _vocabularies(tables) -> None:
    """category, attribute and visibility tables; drop the helper keys the records carried so far."""
    annotations = tables["sample_annotation"]
    tables["category"] = [{"token": token("category", name), "name": name, "description": ""}
                          for name in sorted({a["category"] for a in annotations})]
    tables["attribute"] = [{"token": token("attribute", name), "name": name, "description": ""}
                           for name in sorted({a["attribute"] for a in annotations if a["attribute"]})]
    tables["visibility"] = [{"token": tok, "level": level, "description": text} for tok, level, text in VISIBILITY]
    for ann in annotations:
        for helper in ("category", "attribute", "scene", "track"):
            del ann[helper]
    for sd in tables["sample_data"]:
        del sd["scene"], sd["channel"]


def _write_file(episode: Episode, frame: FrameLabels, sensor: str, source: Path, filename: str, root: Path) -> None:
    """Copy a camera image; convert a LiDAR sweep to nuScenes' 5-float .pcd.bin."""
    target = root / filename
    if not filename.endswith(".pcd.bin"):
        shutil.copyfile(source, target)
        return
    points = read_points(source)
    counts = frame.captures[sensor].channel_counts
    if counts and sum(counts) != len(points):
        raise InputError(f"{episode.labels_file(frame.tick)}: channel_counts of '{sensor}' add up to {sum(counts)}, "
                         f"{source.name} holds {len(points)} points")
    out = np.empty((len(points), 5), "<f4")
    out[:, :4] = points
    out[:, 1] = -points[:, 1]
    out[:, 4] = np.repeat(np.arange(len(counts), dtype="<f4"), counts) if counts else 0.0
    out.tofile(target)
