"""One recorded episode directory, read back as frozen values for the exporters.

What is read (docs/episode-format.md, "Sensor data and labels"): `episode.json` (scenario, seed,
plan), `calib.json` (each sensor's type, mount and intrinsics), `frames.json` (the ticks with
frames) and every `labels/TTTTTT.json` (`edgecase.labels.model.FrameLabels`). Sensor files
(images, masks, point clouds) are only located here and read on demand by the helpers at the
bottom, so an export of one format never decodes what it does not write.

Every problem with the input is an `InputError` (exit code 2) naming the file, and for JSON the
line and column: a missing file, garbage JSON, a value of the wrong shape, a frame whose tick
disagrees with its file name. Exporters never see a half-valid episode.

`trace.npz` is not needed (labels carry every box), so `edgecase.record.read_episode` (which
loads it) is not used: episodes copied without their trace still export.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import cv2
import numpy as np
from pydantic import ValidationError

from edgecase.errors import InputError, SourcePos
from edgecase.labels.model import FrameLabels
from edgecase.plan import EpisodePlan

EPISODE_FORMAT = 1
_POINT_BYTES = 16  # sensor.lidar.ray_cast: x, y, z, intensity float32


@dataclass(frozen=True, eq=False)
class SensorCalib:
    """One sensor of the rig, from calib.json; matrices are read-only (4x4 in CARLA's frame)."""

    name: str
    type: str  # CARLA blueprint id without 'sensor.': camera.rgb, lidar.ray_cast, ...
    sensor_to_vehicle: np.ndarray  # (4, 4) sensor -> ego vehicle, CARLA attachment frame
    intrinsics: np.ndarray | None = None  # (3, 3) K, cameras only
    width_px: int = 0
    height_px: int = 0
    channels: int = 0  # LiDARs only

    @property
    def is_camera(self) -> bool:
        return self.type.startswith("camera.")

    @property
    def is_lidar(self) -> bool:
        return self.type.startswith("lidar.")


@dataclass(frozen=True, eq=False)
class Episode:
    """An episode directory's metadata, calibration and labels, in tick order."""

    path: Path
    scenario: str
    seed: int
    meta: Mapping[str, Any]  # episode.json as read
    plan: EpisodePlan
    ego_track_id: int
    sensors: Mapping[str, SensorCalib]  # in calib.json's order
    frames: tuple[FrameLabels, ...]

    @property
    def cameras(self) -> tuple[str, ...]:
        return tuple(n for n, s in self.sensors.items() if s.is_camera)

    @property
    def lidars(self) -> tuple[str, ...]:
        return tuple(n for n, s in self.sensors.items() if s.is_lidar)

    def labels_file(self, tick: int) -> Path:
        return self.path / "labels" / f"{tick:06d}.json"

    def file(self, frame: FrameLabels, sensor: str, kind: str) -> Path:
        """The path of one capture file (kind: rgb, instance, points, ...); InputError if absent."""
        capture = frame.captures.get(sensor)
        where = self.labels_file(frame.tick)
        if capture is None or kind not in capture.files:
            raise InputError(f"{where}: no '{kind}' file for sensor '{sensor}' in captures")
        path = self.path / capture.files[kind]
        if not path.is_file():
            raise InputError(f"{path}: missing (listed in {where})")
        return path


def episode_key(index: int, episode: Episode) -> str:
    """A name per input episode for output paths, unique even when two inputs share a directory name."""
    return f"{index:03d}_{episode.path.name}"


def read_episode_dir(path: str | Path) -> Episode:
    """Read and check one episode directory; see the module docstring for what is read."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{path}: not an episode directory (no such directory)")
    meta = _load_json(path / "episode.json")
    if meta.get("format_version") != EPISODE_FORMAT:
        raise InputError(f"{path / 'episode.json'}: episode format {meta.get('format_version')!r}; "
                         f"this edgecase reads {EPISODE_FORMAT}")
    try:
        scenario, seed, plan = str(meta["scenario"]), int(meta["seed"]), EpisodePlan.model_validate(meta["plan"])
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"{path / 'episode.json'}: {_describe(err)}") from None
    calib_file = path / "calib.json"
    if not calib_file.is_file():
        raise InputError(f"{calib_file}: missing: the episode has no sensor data",
                         hint="record it with `edgecase run ... --sensors RIG`")
    calib = _load_json(calib_file)
    sensors = _read_sensors(calib, calib_file)
    ticks = _read_ticks(path / "frames.json")
    frames = tuple(_read_labels(path / "labels" / f"{tick:06d}.json", tick) for tick in ticks)
    return Episode(path, scenario, seed, MappingProxyType(meta), plan, int(calib.get("ego_track_id", plan.ego.id)),
                   MappingProxyType(sensors), frames)


def _load_json(file: Path) -> dict[str, Any]:
    """A JSON object from `file`; missing or unparsable files become InputErrors at the line/column."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{file}: missing") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{file}: unreadable ({err})") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"not valid JSON: {err.msg}", SourcePos(str(file), err.lineno, err.colno)) from None
    if not isinstance(value, dict):
        raise InputError(f"{file}: expected a JSON object, found {type(value).__name__}")
    return value


def _read_sensors(calib: dict[str, Any], file: Path) -> dict[str, SensorCalib]:
    entries = calib.get("sensors")
    if not isinstance(entries, dict) or not entries:
        raise InputError(f"{file}: 'sensors' must be a non-empty object")
    out = {}
    for name, entry in entries.items():
        try:
            out[name] = _sensor(name, entry)
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"{file}: sensors.{name}: {_describe(err)}") from None
    return out


def _sensor(name: str, entry: dict[str, Any]) -> SensorCalib:
    mount = _frozen(entry["sensor_to_vehicle"], (4, 4))
    kind = str(entry["type"])
    if kind.startswith("camera."):
        return SensorCalib(name, kind, mount, _frozen(entry["intrinsics"], (3, 3)),
                           int(entry["width_px"]), int(entry["height_px"]))
    if kind.startswith("lidar."):
        return SensorCalib(name, kind, mount, channels=int(entry.get("channels", 0)))
    raise ValueError(f"unknown sensor type {kind!r}")


def _frozen(value: Any, shape: tuple[int, ...]) -> np.ndarray:
    array = np.array(value, dtype=float)
    if array.shape != shape or not np.all(np.isfinite(array)):
        raise ValueError(f"expected a finite {'x'.join(map(str, shape))} matrix, found shape {array.shape}")
    array.flags.writeable = False
    return array


def _read_ticks(file: Path) -> list[int]:
    ticks = _load_json(file).get("ticks")
    if not isinstance(ticks, list) or not all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in ticks):
        raise InputError(f"{file}: 'ticks' must be a list of non-negative integers")
    if ticks != sorted(set(ticks)):
        raise InputError(f"{file}: 'ticks' must be increasing without repeats")
    return ticks


def _read_labels(file: Path, tick: int) -> FrameLabels:
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{file}: missing (tick {tick} is listed in frames.json)") from None
    except OSError as err:
        raise InputError(f"{file}: unreadable ({err})") from None
    try:
        labels = FrameLabels.model_validate_json(raw)
    except ValidationError as err:
        if err.errors(include_url=False)[0]["type"] == "json_invalid":
            _load_json(file)  # raises with the line and column
        raise InputError(f"{file}: {_describe(err)}") from None
    if labels.tick != tick:
        raise InputError(f"{file}: holds tick {labels.tick}, its name says {tick}")
    return labels


def _describe(err: Exception) -> str:
    """One line for a validation problem: the first pydantic error with its field path."""
    if isinstance(err, ValidationError):
        first = err.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where + ': ' if where else ''}{first['msg']}"
    if isinstance(err, KeyError):
        return f"missing key {err.args[0]!r}"
    return str(err)


# --- sensor files, read on demand ----------------------------------------------------------------

def read_points(file: Path) -> np.ndarray:
    """sensor.lidar.ray_cast's raw layout as (N, 4) float32: x, y, z (sensor frame, y right), intensity."""
    raw = file.read_bytes()
    if len(raw) % _POINT_BYTES:
        raise InputError(f"{file}: {len(raw)} bytes is not a whole number of 16-byte LiDAR points")
    return np.frombuffer(raw, "<f4").reshape(-1, 4)


def read_image(file: Path, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    image = cv2.imread(str(file), flags)
    if image is None:
        raise InputError(f"{file}: not a readable image")
    return image


def read_instance_ids(file: Path) -> np.ndarray:
    """(H, W) uint16 actor ids from an instance PNG: G + 256 B (cv2 gives B, G, R; labels-reference 3.4)."""
    image = read_image(file, cv2.IMREAD_COLOR)
    return image[..., 1].astype(np.uint16) | (image[..., 0].astype(np.uint16) << 8)
