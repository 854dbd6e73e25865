"""An episode as one MCAP file for Foxglove: the 3D scene, camera images with their 2D boxes, LiDAR, events.

Written with the foxglove-sdk's own message types (protobuf, the schemas Foxglove ships), so the
file opens in Foxglove as it is, with no custom layout or decoder:

| topic | schema | per frame |
|---|---|---|
| /tf | foxglove.FrameTransforms | world -> ego -> each sensor (cameras also -> CAM_optical) |
| /boxes | foxglove.SceneUpdate | a CubePrimitive per labelled actor (+ the ego's own box), in 'world' |
| /CAM/image | foxglove.CompressedImage | the recorded JPEG (PNG) bytes, untouched |
| /CAM/calibration | foxglove.CameraCalibration | K, so Foxglove can draw the 3D boxes into the image |
| /CAM/annotations | foxglove.ImageAnnotations | each amodal 2D box as a line loop, with its name |
| /LIDAR/points | foxglove.PointCloud | x, y, z, intensity float32 in the LiDAR's right-handed frame |
| /events | foxglove.Log | episode.json's events (one message each, at its t_s) |

Frames (labels-reference 1.2 and 6.2): Foxglove's 3D panel is right-handed, CARLA is not, so
everything is mirrored in y on the way out: a point (x, y, z) becomes (x, -y, z), a yaw becomes -yaw,
a rotation matrix R becomes S R S with S = diag(1, -1, 1). 'world' is CARLA's world mirrored, 'ego'
the ego vehicle's origin (x forward, y left, z up), a sensor frame its mount (FLU); camera images
live in CAM_optical (x right, y down, z forward), as Foxglove expects of an image's frame_id.

Time: a message's log time (and its header stamp) is EPOCH_BASE_NS + t_s in nanoseconds; a fixed
base instead of the wall clock keeps the file a pure function of the episode (the same episode
gives the same bytes), and a base well after 1970 keeps tools that treat 0 as "unset" happy.

Episodes without sensors still export: /tf and /boxes at every trace tick, boxes from the trace.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgecase.labels.model import FrameLabels, ObjectLabel
from edgecase.replay import style
from edgecase.replay.episode_data import EpisodeData, load_episode
from edgecase.sim.boxes import Boxes, ground_z, world_boxes
from edgecase.sim.state import ActorStates

EPOCH_BASE_NS = 1_000_000_000 * 1_000_000_000  # 2001-09-09T01:46:40Z: t_s = 0 of every episode
MIRROR = np.diag([1.0, -1.0, 1.0])  # CARLA (y right) <-> right-handed (y left)
OPTICAL_IN_FLU = (-0.5, 0.5, -0.5, 0.5)  # x, y, z, w: optical (x right, y down, z fwd) in FLU (labels-reference 7)
BOX_ALPHA = {"ego": 0.5, "adversary": 0.7, "background": 0.45}  # cubes are see-through: the points inside show
_POINT_FIELDS = ("x", "y", "z", "intensity")


@dataclass(frozen=True)
class McapSummary:
    """What `write_mcap` wrote: the file, and how many messages went to each topic."""

    path: Path
    frames: int  # frame ticks exported (every trace tick for an episode without sensors)
    topics: dict[str, int] = field(default_factory=dict)  # topic -> messages
    start_ns: int = 0  # log time of the first and last message
    end_ns: int = 0
    bytes: int = 0

    @property
    def messages(self) -> int:
        return sum(self.topics.values())


def stamp_ns(t_s: float) -> int:
    """The log time of simulation time t_s: EPOCH_BASE_NS + t_s, whole nanoseconds."""
    return EPOCH_BASE_NS + round(float(t_s) * 1e9)


def write_mcap(episode_dir: str | Path, out_file: str | Path) -> McapSummary:
    """Write the episode as MCAP (see the module docstring); an existing `out_file` is replaced.
    Written beside it and renamed into place, so an interrupted export never leaves half a file."""
    episode = load_episode(episode_dir)
    out = Path(out_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        frames, topics = _write(episode, partial)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return McapSummary(out, frames, dict(topics.counts), topics.first_ns, topics.last_ns, out.stat().st_size)


def _write(episode: EpisodeData, out: Path) -> tuple[int, _Topics]:
    import foxglove
    from foxglove.mcap import MCAPCompression, MCAPWriteOptions

    context = foxglove.Context()  # our own: channels of other code (the global context) stay out of the file
    # LZ4: JPEGs and float point clouds hardly compress, and zstd would cost most of the export time;
    # no compression threads, so chunking stays deterministic and the caller's cores stay free
    options = MCAPWriteOptions(compression=MCAPCompression.Lz4, compression_threads=0)
    with foxglove.open_mcap(out, allow_overwrite=True, context=context, writer_options=options) as writer:
        writer.write_metadata("edgecase", _metadata(episode))
        topics = _Topics(episode, context)
        ticks = episode.frame_ticks or tuple(range(episode.ticks))
        events = sorted(episode.events, key=lambda e: e.t_s)
        for tick in ticks:
            t_s = float(episode.arrays["t_s"][tick])
            while events and events[0].t_s <= t_s:
                topics.event(events.pop(0))
            topics.frame(tick)
        for event in events:
            topics.event(event)
        topics.close()
    return len(ticks), topics


def bench_mcap(episode_dir: str | Path, repeats: int = 3) -> dict[str, Any]:
    """Export speed for benchmarks/bench_replay.py (target >= 200 frames/s): `frames_per_s` is the best
    of `repeats` exports (files in the page cache, labels parsed once), `first_frames_per_s` the first
    one (what a fresh `edgecase replay --mcap` pays, imports aside)."""
    import foxglove  # imported before timing: a CLI run pays it once, not per frame

    del foxglove

    seconds = []
    with tempfile.TemporaryDirectory(prefix="edgecase-mcap-") as tmp:
        for i in range(max(1, repeats)):
            started = time.perf_counter()
            summary = write_mcap(episode_dir, Path(tmp) / f"bench-{i}.mcap")
            seconds.append(time.perf_counter() - started)
    best = min(seconds)
    return {"frames": summary.frames, "messages": summary.messages, "bytes": summary.bytes, "seconds": round(best, 4),
            "frames_per_s": round(summary.frames / best, 1), "first_frames_per_s": round(summary.frames / seconds[0], 1),
            "megabytes_per_s": round(summary.bytes / best / 1e6, 1)}


def _metadata(episode: EpisodeData) -> dict[str, str]:
    meta = episode.meta
    return {"scenario": str(meta.get("scenario", "")), "seed": str(meta.get("seed", "")),
            "backend": str(meta.get("backend", "")), "plan_sha256": str(meta.get("plan_sha256", "")),
            "passed": json.dumps(meta.get("outcome", {}).get("passed")), "epoch_base_ns": str(EPOCH_BASE_NS),
            "world_frame": "CARLA's world with y mirrored (right-handed, x forward, y left, z up)"}


class _Topics:
    """The channels of one export, and what each frame puts on them."""

    def __init__(self, episode: EpisodeData, context: Any) -> None:
        from foxglove import channels as ch

        self.episode, self.bottom = episode, ground_z(episode.plan)
        self.counts: dict[str, int] = {}
        self.first_ns = self.last_ns = 0
        self.cameras, self.lidars = episode.cameras, episode.lidars
        sensors = (episode.calib or {}).get("sensors", {})
        self.mounts = {name: np.asarray(info["sensor_to_vehicle"], float) for name, info in sensors.items()}
        self.intrinsics = {name: sensors[name] for name in self.cameras}
        self.channels: dict[str, Any] = {
            "/tf": ch.FrameTransformsChannel("/tf", context=context),
            "/boxes": ch.SceneUpdateChannel("/boxes", context=context),
            "/events": ch.LogChannel("/events", context=context),
        }
        for cam in self.cameras:
            self.channels[f"/{cam}/image"] = ch.CompressedImageChannel(f"/{cam}/image", context=context)
            self.channels[f"/{cam}/calibration"] = ch.CameraCalibrationChannel(f"/{cam}/calibration", context=context)
            self.channels[f"/{cam}/annotations"] = ch.ImageAnnotationsChannel(f"/{cam}/annotations", context=context)
        for lidar in self.lidars:
            self.channels[f"/{lidar}/points"] = ch.PointCloudChannel(f"/{lidar}/points", context=context)

    def log(self, topic: str, message: Any, ns: int) -> None:
        self.channels[topic].log(message, log_time=ns)
        self.counts[topic] = self.counts.get(topic, 0) + 1
        self.first_ns = ns if not self.first_ns else min(self.first_ns, ns)
        self.last_ns = max(self.last_ns, ns)

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()

    def frame(self, tick: int) -> None:
        """Everything at one tick: transforms, boxes, and (with sensors) each sensor's data."""
        from foxglove import messages as fm

        episode = self.episode
        labels = episode.labels(tick) if episode.frame_ticks else None
        t_s = labels.t_s if labels is not None else float(episode.arrays["t_s"][tick])
        ns = stamp_ns(t_s)
        stamp = fm.Timestamp(ns // 1_000_000_000, ns % 1_000_000_000)
        boxes = world_boxes(episode.plan, _states(episode, tick), self.bottom)
        self.log("/tf", fm.FrameTransforms(transforms=self._transforms(tick, labels, stamp)), ns)
        self.log("/boxes", _scene(episode, boxes, labels, stamp), ns)
        if labels is None:
            return
        for cam in self.cameras:
            self._camera(cam, labels, stamp, ns)
        for lidar in self.lidars:
            self._lidar(lidar, labels, stamp, ns)

    def event(self, event: Any) -> None:
        from foxglove import messages as fm

        ns = stamp_ns(event.t_s)
        level = fm.LogLevel.Warning if event.kind == "collision" else fm.LogLevel.Info
        text = f"{event.kind} {event.actor}" + (f" {event.detail}" if event.detail else "") + f" (tick {event.tick})"
        stamp = fm.Timestamp(ns // 1_000_000_000, ns % 1_000_000_000)
        self.log("/events", fm.Log(timestamp=stamp, level=level, message=text, name="edgecase", file="episode.json"), ns)

    def _transforms(self, tick: int, labels: FrameLabels | None, stamp: Any) -> list[Any]:
        """world -> ego (the ego's CARLA origin), ego -> each sensor's mount, camera -> its optical frame."""
        from foxglove import messages as fm

        if labels is not None:
            x, y, z, yaw = labels.ego_pose
        else:  # the trace's (x, y) is the ego's origin (actor_pose); its height is the plan's
            e, arrays = self.episode.ego_index, self.episode.arrays
            x, y = float(arrays["x_m"][tick, e]), float(arrays["y_m"][tick, e])
            z, yaw = self.episode.plan.ego.pose.z_m, math.degrees(float(arrays["yaw_rad"][tick, e]))
        out = [_transform(fm, stamp, "world", "ego", (x, -y, z), _yaw_quat(yaw))]
        for name, mount in self.mounts.items():
            out.append(_transform(fm, stamp, "ego", name, *_rh_pose(mount)))
        for cam in self.cameras:
            out.append(_transform(fm, stamp, cam, f"{cam}_optical", (0.0, 0.0, 0.0), OPTICAL_IN_FLU))
        return out

    def _camera(self, cam: str, labels: FrameLabels, stamp: Any, ns: int) -> None:
        from foxglove import messages as fm

        capture = labels.captures.get(cam)
        if capture is None or "rgb" not in capture.files:
            return
        file = capture.files["rgb"]
        data = (self.episode.path / file).read_bytes()
        fmt = "png" if file.endswith(".png") else "jpeg"
        frame = f"{cam}_optical"
        self.log(f"/{cam}/image", fm.CompressedImage(timestamp=stamp, frame_id=frame, data=data, format=fmt), ns)
        self.log(f"/{cam}/calibration", _calibration(fm, self.intrinsics[cam], frame, stamp), ns)
        self.log(f"/{cam}/annotations", _annotations(fm, cam, labels.objects, stamp), ns)

    def _lidar(self, lidar: str, labels: FrameLabels, stamp: Any, ns: int) -> None:
        from foxglove import messages as fm

        capture = labels.captures.get(lidar)
        if capture is None or "points" not in capture.files:
            return
        points = np.fromfile(self.episode.path / capture.files["points"], np.float32).reshape(-1, 4)
        points[:, 1] *= -1.0  # the sensor's CARLA frame (y right) -> right-handed (y left)
        fields = [fm.PackedElementField(name=n, offset=4 * i, type=fm.PackedElementFieldNumericType.Float32)
                  for i, n in enumerate(_POINT_FIELDS)]
        identity = fm.Pose(position=fm.Vector3(), orientation=fm.Quaternion(w=1.0))
        cloud = fm.PointCloud(timestamp=stamp, frame_id=lidar, pose=identity, point_stride=16, fields=fields,
                              data=points.tobytes())
        self.log(f"/{lidar}/points", cloud, ns)


def _states(episode: EpisodeData, tick: int) -> ActorStates:
    """Every actor's state at `tick`, from the trace (what world_boxes builds boxes from)."""
    a = episode.arrays
    row = {f: a[f][tick] for f in ("x_m", "y_m", "yaw_rad", "speed_mps", "accel_mps2", "steer_rad", "length_m",
                                  "width_m", "height_m", "active", "box_offset_m", "light_state")}
    return ActorStates(**row)


def _scene(episode: EpisodeData, boxes: Boxes, labels: FrameLabels | None, stamp: Any) -> Any:
    """A cube per labelled actor (from the trace without labels) and the ego's; earlier cubes deleted first."""
    from foxglove import messages as fm

    plan = episode.plan
    e = episode.ego_index
    entities = [_entity(fm, stamp, str(plan.ego.id), plan.ego.name, "ego", boxes.centre_m[e], 2 * boxes.extent_m[e],
                        math.degrees(boxes.yaw_rad[e]), plan.ego.actor_class)]
    if labels is not None:
        entities += [_entity(fm, stamp, str(o.track_id), o.name, o.role, o.box.centre_m, o.box.size_m, o.box.yaw_deg,
                             o.actor_class) for o in labels.objects]
    else:
        for i, actor in enumerate(plan.actors):
            if i != e and boxes.active[i]:
                entities.append(_entity(fm, stamp, str(actor.id), actor.name, actor.role, boxes.centre_m[i],
                                        2 * boxes.extent_m[i], math.degrees(boxes.yaw_rad[i]), actor.actor_class))
    clear = fm.SceneEntityDeletion(timestamp=stamp, type=fm.SceneEntityDeletionType.All)
    return fm.SceneUpdate(deletions=[clear], entities=entities)


def _entity(fm: Any, stamp: Any, entity_id: str, name: str, role: str, centre: Any, size: Any, yaw_deg: float,
            actor_class: str) -> Any:
    """One actor's box: CARLA centre (x, y, z) at (x, -y, z), yaw turned to -yaw; size = length, width, height."""
    x, y, z = (float(v) for v in centre)
    pose = fm.Pose(position=fm.Vector3(x=x, y=-y, z=z), orientation=_quat(fm, _yaw_quat(float(yaw_deg))))
    length, width, height = (float(v) for v in size)
    colour = _colour(fm, actor_class, role, BOX_ALPHA.get(role, 0.45))
    cube = fm.CubePrimitive(pose=pose, size=fm.Vector3(x=length, y=width, z=height), color=colour)
    top = fm.Pose(position=fm.Vector3(x=x, y=-y, z=z + height / 2 + 0.4), orientation=fm.Quaternion(w=1.0))
    text = fm.TextPrimitive(pose=top, billboard=True, font_size=14.0, scale_invariant=True,
                            color=fm.Color(r=1.0, g=1.0, b=1.0, a=1.0), text=name)
    meta = [fm.KeyValuePair(key=k, value=v) for k, v in (("name", name), ("role", role), ("class", actor_class))]
    return fm.SceneEntity(timestamp=stamp, frame_id="world", id=entity_id, metadata=meta, cubes=[cube], texts=[text])


def _annotations(fm: Any, cam: str, objects: tuple[ObjectLabel, ...], stamp: Any) -> Any:
    """Each object's amodal 2D box in this camera as a closed line loop, its name above it."""
    loops, texts = [], []
    for o in objects:
        view = o.cameras.get(cam)
        if view is None:
            continue
        x0, y0, x1, y1 = view.amodal
        colour = _colour(fm, o.actor_class, o.role)
        corners = [fm.Point2(x=x, y=y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]
        loops.append(fm.PointsAnnotation(timestamp=stamp, type=fm.PointsAnnotationType.LineLoop, points=corners,
                                         outline_color=colour, thickness=2.0,
                                         metadata=[fm.KeyValuePair(key="track_id", value=str(o.track_id))]))
        texts.append(fm.TextAnnotation(timestamp=stamp, position=fm.Point2(x=x0, y=max(0.0, y0 - 4.0)), text=o.name,
                                       font_size=14.0, text_color=colour, background_color=fm.Color(a=0.6)))
    return fm.ImageAnnotations(timestamp=stamp, points=loops, texts=texts)


def _colour(fm: Any, actor_class: str, role: str, alpha: float = 1.0) -> Any:
    """The replay style's colour of an actor (edge-case actors magenta, as in the video and the report)."""
    b, g, r = style.actor_colour(actor_class, role)
    return fm.Color(r=r / 255, g=g / 255, b=b / 255, a=alpha)


def _calibration(fm: Any, info: dict[str, Any], frame: str, stamp: Any) -> Any:
    k = np.asarray(info["intrinsics"], float)
    p = np.hstack([k, np.zeros((3, 1))])
    return fm.CameraCalibration(timestamp=stamp, frame_id=frame, width=int(info["width_px"]),
                                height=int(info["height_px"]), distortion_model="plumb_bob", D=[0.0] * 5,
                                K=k.ravel().tolist(), R=np.eye(3).ravel().tolist(), P=p.ravel().tolist())


def _transform(fm: Any, stamp: Any, parent: str, child: str, translation: Any, quat: tuple[float, ...]) -> Any:
    x, y, z = (float(v) for v in translation)
    return fm.FrameTransform(timestamp=stamp, parent_frame_id=parent, child_frame_id=child,
                             translation=fm.Vector3(x=x, y=y, z=z), rotation=_quat(fm, quat))


def _quat(fm: Any, q: tuple[float, ...]) -> Any:
    return fm.Quaternion(x=q[0], y=q[1], z=q[2], w=q[3])


def _yaw_quat(yaw_deg: float) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a CARLA yaw in the mirrored frame: a turn of -yaw about z."""
    half = -math.radians(yaw_deg) / 2
    return 0.0, 0.0, math.sin(half), math.cos(half)


def _rh_pose(matrix: np.ndarray) -> tuple[tuple[float, float, float], tuple[float, float, float, float]]:
    """A CARLA 4x4 (parent <- child) as a right-handed translation and (x, y, z, w) quaternion."""
    t = matrix[:3, 3]
    return (float(t[0]), -float(t[1]), float(t[2])), matrix_quat(MIRROR @ matrix[:3, :3] @ MIRROR)


def matrix_quat(r: np.ndarray) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a proper rotation matrix (Shepperd's method: divide by the largest term)."""
    trace = r[0, 0] + r[1, 1] + r[2, 2]
    if trace > 0:
        s = 2.0 * math.sqrt(1.0 + trace)
        q = ((r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s, s / 4)
    elif r[0, 0] >= r[1, 1] and r[0, 0] >= r[2, 2]:
        s = 2.0 * math.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2])
        q = (s / 4, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s, (r[2, 1] - r[1, 2]) / s)
    elif r[1, 1] >= r[2, 2]:
        s = 2.0 * math.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2])
        q = ((r[0, 1] + r[1, 0]) / s, s / 4, (r[1, 2] + r[2, 1]) / s, (r[0, 2] - r[2, 0]) / s)
    else:
        s = 2.0 * math.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1])
        q = ((r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, s / 4, (r[1, 0] - r[0, 1]) / s)
    sign = -1.0 if q[3] < 0 else 1.0  # w >= 0: one of the two equal quaternions, always the same one
    return tuple(float(sign * v) for v in q)  # type: ignore[return-value]
