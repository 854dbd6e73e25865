"""Sensor frames and labels into the episode directory, on a background thread.

The loop hands each (state, frames) to `FrameRecorder.submit` and goes on simulating; a writer
thread annotates the frame (pure `edgecase.labels.annotate`), encodes the images and writes
every file. Encoding (JPEG, PNG) costs about as much as rendering and OpenCV releases the GIL
while it encodes, so on two cores the writer runs beside the loop instead of stalling it. The
queue is short, so a slow disk slows the loop instead of filling memory. An error in the writer
is raised again in the loop's thread at the next submit or at `close`.

File layout: docs/episode-format.md, "Sensor data and labels".
"""

from __future__ import annotations

import errno
import json
import queue
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgecase.labels import annotate
from edgecase.labels.model import Capture, FrameLabels
from edgecase.plan import EpisodePlan
from edgecase.sensors import Rig
from edgecase.sensors.frames import CameraFrame, LidarFrame, SensorFrames, carla_lidar_points, carla_semantic_points, channel_counts
from edgecase.sim.oracles import Visibility
from edgecase.sim.state import WorldState

DEPTH_SCALE = 100.0  # depth PNGs hold centimetres in uint16
DEPTH_NONE = 65535  # nothing hit within 655.34 m
# zlib level 1 without PNG's row filters: 2-3x faster than OpenCV's defaults on these flat masks,
# for files about as small (../shared/docs/cpu-sensors-notes.md section 3)
FAST_PNG = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]
_STOP = object()


class FrameRecorder:
    """Writes frames under `root` (the episode's temporary directory) as they come."""

    def __init__(self, root: Path, plan: EpisodePlan, rig: Rig, lossless: bool = False, depth: int = 4) -> None:
        self.root, self.plan, self.rig, self.lossless = root, plan, rig, lossless
        self.ticks: list[int] = []
        self._seen: dict[int, dict[str, float]] = {}  # tick -> actor name -> largest visible share over cameras
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        for name in rig.sensors:
            (root / "sensors" / name).mkdir(parents=True, exist_ok=True)
        (root / "labels").mkdir(exist_ok=True)
        self._thread = threading.Thread(target=self._work, name="edgecase-writer", daemon=True)
        self._thread.start()

    def submit(self, state: WorldState, frames: SensorFrames) -> None:
        self._raise()
        self.ticks.append(state.tick)
        self._queue.put((state, frames))

    def close(self) -> None:
        """Wait for every submitted frame to be written; raise the writer's error, if any."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        self._raise()

    def abort(self, wait_s: float = 10.0) -> None:
        """Stop without writing the frames still queued (the episode is being discarded); wait at
        most `wait_s` for the frame being written, so a stalled disk cannot hang a Ctrl-C (the
        writer is a daemon thread, and what it writes later fails: its directory is removed)."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(wait_s)

    def visibility(self) -> Visibility:
        """What the cameras saw of each actor at every written frame (after `close`), for the
        `max_visible_fraction` oracle; an actor out of every camera's view counts 0."""
        ticks = np.array(sorted(self._seen), dtype=int)
        names = {name for frame in self._seen.values() for name in frame}
        return Visibility(ticks, {name: np.array([self._seen[t].get(name, 0.0) for t in ticks]) for name in names})

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _work(self) -> None:
        while (item := self._queue.get()) is not _STOP:
            if self._error is None:  # after an error, drain without writing: the episode is lost
                try:
                    self._write(*item)
                except BaseException as err:  # noqa: BLE001 - handed to the loop's thread
                    self._error = err

    def _write(self, state: WorldState, frames: SensorFrames) -> None:
        labels = annotate(self.plan, state, frames)
        captures = {name: self._write_camera(frame) for name, frame in frames.cameras.items()}
        captures |= {name: self._write_lidar(frame) for name, frame in frames.lidars.items()}
        labels = labels.model_copy(update={"captures": captures})
        self._seen[state.tick] = {o.name: max((v.visibility for v in o.cameras.values()), default=0.0)
                                  for o in labels.objects}
        (self.root / "labels" / f"{state.tick:06d}.json").write_text(labels.model_dump_json() + "\n")

    def _write_camera(self, frame: CameraFrame) -> Capture:
        stem = f"sensors/{frame.name}/{frame.tick:06d}"
        rgb_file = f"{stem}.png" if self.lossless else f"{stem}.jpg"
        bgr = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR)
        params = [] if self.lossless else [cv2.IMWRITE_JPEG_QUALITY, 95]
        _imwrite(self.root / rgb_file, bgr, params)
        depth = np.minimum(frame.depth_m * DEPTH_SCALE, DEPTH_NONE).astype(np.uint16)  # inf (nothing hit) -> 65535
        _imwrite(self.root / f"{stem}_depth.png", depth, FAST_PNG)
        low, high = (frame.instance & 0xFF).astype(np.uint8), (frame.instance >> 8).astype(np.uint8)
        _imwrite(self.root / f"{stem}_instance.png", cv2.merge([high, low, frame.semantic]), FAST_PNG)  # B, G, R
        files = {"rgb": rgb_file, "depth": f"{stem}_depth.png", "instance": f"{stem}_instance.png"}
        return Capture(files=files, sensor_to_world=_matrix(frame.pose))

    def _write_lidar(self, frame: LidarFrame) -> Capture:
        stem = f"sensors/{frame.name}/{frame.tick:06d}"
        carla_lidar_points(frame).tofile(self.root / f"{stem}.bin")
        carla_semantic_points(frame).tofile(self.root / f"{stem}_semantic.bin")
        counts = channel_counts(frame, self.rig.lidars[frame.name].channels)
        return Capture(files={"points": f"{stem}.bin", "semantic": f"{stem}_semantic.bin"},
                       sensor_to_world=_matrix(frame.pose), channel_counts=tuple(int(c) for c in counts))


def calibration(rig: Rig, plan: EpisodePlan, frame_every: int, renderer: dict[str, Any]) -> dict[str, Any]:
    """calib.json: the rig as written, and each sensor's mount and intrinsics as matrices."""
    sensors: dict[str, Any] = {}
    for name, sensor in rig.sensors.items():
        entry: dict[str, Any] = {"type": sensor.type, "sensor_to_vehicle": _matrix(sensor.mount.matrix())}
        if name in rig.cameras:
            entry |= {"intrinsics": np.round(sensor.intrinsics(), 6).tolist(), "width_px": sensor.width_px,
                      "height_px": sensor.height_px, "fov_deg": sensor.fov_deg}
        else:
            entry |= {"channels": sensor.channels, "range_m": sensor.range_m,
                      "upper_fov_deg": sensor.upper_fov_deg, "lower_fov_deg": sensor.lower_fov_deg}
        sensors[name] = entry
    return {"rig": rig.model_dump(mode="json"), "ego_track_id": plan.ego.id, "frame_every": frame_every,
            "renderer": renderer, "sensors": sensors}


def read_frame_labels(path: Path) -> FrameLabels:
    return FrameLabels.model_validate_json(Path(path).read_text())


def _matrix(matrix: np.ndarray) -> tuple[tuple[float, float, float, float], ...]:
    return tuple(tuple(float(v) for v in row) for row in np.round(np.asarray(matrix, float), 6) + 0.0)


def _imwrite(path: Path, image: np.ndarray, params: list[int] | None = None) -> None:
    if not cv2.imwrite(str(path), image, params or []):  # OpenCV says no more than that: most likely the disk
        raise OSError(errno.EIO, f"could not write {path}")


def dump_json(path: Path, document: dict[str, Any], sort_keys: bool = True) -> None:
    path.write_text(json.dumps(document, indent=1, sort_keys=sort_keys, allow_nan=False) + "\n")
