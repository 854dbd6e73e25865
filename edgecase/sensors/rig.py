"""Sensor rigs: which cameras and LiDARs an ego vehicle carries, where, and with what settings.

A rig is a YAML file (`sensors/NAME.yaml`, format in docs/sensor-rigs.md) read with the scenario
language's hostile-input YAML loader, so every mistake is an `InputError` at `file:line:col`, with
did-you-mean for unknown keys, sensor types and rig names.  Nothing here renders: the simulation
reads these models.

Conventions follow CARLA 0.9.16 (../shared/docs/labels-reference.md sections 1-3):
* `type` is CARLA's blueprint id without `sensor.` (`camera.rgb` -> `sensor.camera.rgb`).
* `mount` is the sensor's pose in CARLA's attachment frame: relative to the vehicle's origin
  (near the bounding-box centre in x/y, at the bottom in z), x forward, y right, z up, metres;
  roll/pitch/yaw in degrees with CARLA's signs (+yaw turns right, +pitch nose up).
* Camera intrinsics are CARLA's ideal pinhole: f = W / (2 tan(fov/2)), cx = W/2, cy = H/2, with the
  *horizontal* fov.
* LiDAR fields are CARLA's blueprint attributes with units in their names; the defaults are the
  ones in CARLA's docs (Docs/ref_sensors.md, LiDAR sensor attributes): channels 32, range 10 m,
  points_per_second 56000, rotation_frequency 10 Hz, upper_fov 10 deg, lower_fov -30 deg,
  dropoff_general_rate 0.45, noise_stddev 0.0.

Where bare rig names resolve (`load_rig("front_camera")`): `base_dir` if given, else the folder in
$EDGECASE_SENSORS_DIR, else the repository's top-level `sensors/` folder, found next to the
`edgecase` package (true for a checkout and for `pip install -e .`).  The rig files are not
copied into the package: one copy, the one users edit.  A non-editable install passes a path,
`base_dir`, or sets $EDGECASE_SENSORS_DIR.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator
from pydantic_core import PydanticCustomError

from edgecase.errors import InputError, SourcePos
from edgecase.scenario.base import Strict, suggest
from edgecase.scenario.loader import validate_as
from edgecase.scenario.source import Limits, load_yaml_file
from edgecase.sensors.transforms import carla_matrix

CameraType = Literal["camera.rgb", "camera.depth", "camera.semantic_segmentation", "camera.instance_segmentation"]
LidarType = Literal["lidar.ray_cast", "lidar.ray_cast_semantic"]
CAMERA_TYPES: tuple[str, ...] = CameraType.__args__  # type: ignore[attr-defined]
LIDAR_TYPES: tuple[str, ...] = LidarType.__args__  # type: ignore[attr-defined]
SENSOR_TYPES: tuple[str, ...] = CAMERA_TYPES + LIDAR_TYPES

RIGS_ENV = "EDGECASE_SENSORS_DIR"
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def _within(lo: float, hi: float, unit: str) -> AfterValidator:
    """A range check with a plain message ('200 is outside 1..179 deg'); NaN and inf fail it too."""

    def check(value: float) -> float:
        if not (lo <= value <= hi):
            raise PydanticCustomError("range", "{value} is outside {lo}..{hi}{unit}",
                                      {"value": value, "lo": lo, "hi": hi, "unit": f" {unit}" if unit else ""})
        return value

    return AfterValidator(check)


Metres = Annotated[float, _within(-50, 50, "m")]
Pixels = Annotated[int, Field(strict=True), _within(16, 8192, "px")]
SensorName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]


class Mount(Strict):
    """A sensor's pose relative to the vehicle's origin, in CARLA's attachment frame (x fwd, y right, z up)."""

    x_m: Metres = 0.0
    y_m: Metres = 0.0
    z_m: Metres = 0.0
    roll_deg: Annotated[float, _within(-180, 180, "deg")] = 0.0
    pitch_deg: Annotated[float, _within(-90, 90, "deg")] = 0.0
    yaw_deg: Annotated[float, _within(-180, 180, "deg")] = 0.0

    def matrix(self) -> np.ndarray:
        """4x4 sensor -> vehicle, as `carla.Transform.get_matrix()` builds it (labels-reference 1.2)."""
        return carla_matrix(self.x_m, self.y_m, self.z_m, self.roll_deg, self.pitch_deg, self.yaw_deg)


def _check_type(value: Any, choices: tuple[str, ...]) -> Any:
    """An unknown sensor type gets did-you-mean against every type, not just this kind's."""
    if value not in choices:
        text = str(value)
        if text.startswith("sensor.") and text.removeprefix("sensor.") in SENSOR_TYPES:
            hint = f"write '{text.removeprefix('sensor.')}', without 'sensor.'"
        else:
            hint = suggest(text, SENSOR_TYPES)
        raise PydanticCustomError("sensor_type", "unknown sensor type '{value}' ({hint})", {"value": text, "hint": hint})
    return value


class Camera(Strict):
    """A CARLA camera (`sensor.camera.*`): image size, horizontal fov, and optional noise on RGB."""

    type: CameraType
    mount: Mount
    width_px: Pixels  # CARLA image_size_x (default 800)
    height_px: Pixels  # CARLA image_size_y (default 600)
    fov_deg: Annotated[float, _within(1, 179, "deg")] = 90.0  # horizontal; CARLA fov (default 90)
    noise_stddev: Annotated[float, _within(0, 64, "")] | None = None  # Gaussian, 8-bit intensity levels (RGB only)
    blur_px: Annotated[float, _within(0, 32, "px")] | None = None  # Gaussian blur sigma (RGB only)

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, value: Any) -> Any:
        return _check_type(value, CAMERA_TYPES)

    @field_validator("noise_stddev", "blur_px")
    @classmethod
    def _rgb_only(cls, value: float | None, info: Any) -> float | None:
        kind = info.data.get("type")
        if value is not None and kind is not None and kind != "camera.rgb":
            raise PydanticCustomError("rgb_only", "only camera.rgb takes noise: a {kind} is ground truth",
                                      {"kind": kind})
        return value

    @property
    def focal_px(self) -> float:
        return self.width_px / (2.0 * math.tan(math.radians(self.fov_deg) / 2.0))

    @property
    def vertical_fov_deg(self) -> float:
        return math.degrees(2.0 * math.atan(self.height_px / (2.0 * self.focal_px)))

    def intrinsics(self) -> np.ndarray:
        """K = [[f, 0, W/2], [0, f, H/2], [0, 0, 1]] (CARLA's pinhole; labels-reference 2.1)."""
        f = self.focal_px
        return np.array([[f, 0.0, self.width_px / 2.0], [0.0, f, self.height_px / 2.0], [0.0, 0.0, 1.0]])

    def carla_attributes(self) -> dict[str, str]:
        """The blueprint attributes this camera sets (CARLA takes them as strings)."""
        return {"image_size_x": str(self.width_px), "image_size_y": str(self.height_px), "fov": repr(self.fov_deg)}


class Lidar(Strict):
    """A CARLA LiDAR (`sensor.lidar.ray_cast[_semantic]`); defaults are CARLA's (Docs/ref_sensors.md)."""

    type: LidarType
    mount: Mount
    channels: Annotated[int, Field(strict=True), _within(1, 256, "")] = 32
    range_m: Annotated[float, _within(1, 500, "m")] = 10.0
    points_per_second: Annotated[int, Field(strict=True), _within(1, 10_000_000, "")] = 56_000
    rotation_frequency_hz: Annotated[float, _within(0.1, 100, "Hz")] = 10.0
    upper_fov_deg: Annotated[float, _within(-90, 90, "deg")] = 10.0
    lower_fov_deg: Annotated[float, _within(-90, 90, "deg")] = -30.0
    dropoff_general_rate: Annotated[float, _within(0, 1, "")] | None = None  # None: CARLA's 0.45 (ray_cast only)
    noise_stddev_m: Annotated[float, _within(0, 1, "m")] | None = None  # None: CARLA's 0.0 (ray_cast only)

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, value: Any) -> Any:
        return _check_type(value, LIDAR_TYPES)

    @field_validator("lower_fov_deg")
    @classmethod
    def _below_upper(cls, value: float, info: Any) -> float:
        upper = info.data.get("upper_fov_deg")
        if upper is not None and value >= upper:
            raise PydanticCustomError("fov_order", "{value} must be below upper_fov_deg ({upper})",
                                      {"value": value, "upper": upper})
        return value

    @field_validator("dropoff_general_rate", "noise_stddev_m")
    @classmethod
    def _not_semantic(cls, value: float | None, info: Any) -> float | None:
        if value is not None and info.data.get("type") == "lidar.ray_cast_semantic":
            raise PydanticCustomError("semantic_lidar", "lidar.ray_cast_semantic has no drop-off or noise in CARLA", {})
        return value

    def elevations_deg(self) -> np.ndarray:
        """Channel i's elevation: upper - i (upper - lower) / (channels - 1) (CARLA's CreateLasers)."""
        if self.channels == 1:
            return np.array([self.upper_fov_deg])
        return np.linspace(self.upper_fov_deg, self.lower_fov_deg, self.channels)

    def carla_attributes(self) -> dict[str, str]:
        out = {"channels": str(self.channels), "range": repr(self.range_m),
               "points_per_second": str(self.points_per_second),
               "rotation_frequency": repr(self.rotation_frequency_hz),
               "upper_fov": repr(self.upper_fov_deg), "lower_fov": repr(self.lower_fov_deg)}
        if self.dropoff_general_rate is not None:
            out["dropoff_general_rate"] = repr(self.dropoff_general_rate)
        if self.noise_stddev_m is not None:
            out["noise_stddev"] = repr(self.noise_stddev_m)
        return out


class _UnknownSensor(BaseModel):
    """Where a sensor whose type is missing or unknown goes: it fails on `type` alone, so the error
    names the type (with did-you-mean) rather than a key that only looks wrong for a guessed kind."""

    model_config = ConfigDict(extra="allow")
    type: str

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, value: Any) -> Any:
        return _check_type(value, ())


def _sensor_kind(value: Any) -> str:
    if isinstance(value, Camera):
        return "camera"
    if isinstance(value, Lidar):
        return "lidar"
    kind = value.get("type") if isinstance(value, dict) else None
    return "camera" if kind in CAMERA_TYPES else "lidar" if kind in LIDAR_TYPES else "unknown"


Sensor = Annotated[Union[Annotated[Camera, Tag("camera")], Annotated[Lidar, Tag("lidar")],
                         Annotated[_UnknownSensor, Tag("unknown")]],
                   Discriminator(_sensor_kind)]


class Rig(Strict):
    """A named set of sensors on the ego vehicle."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", max_length=64)]
    description: str = ""
    sensors: Annotated[dict[SensorName, Sensor], Field(min_length=1)]  # never holds an _UnknownSensor

    @property
    def cameras(self) -> dict[str, Camera]:
        return {k: v for k, v in self.sensors.items() if isinstance(v, Camera)}

    @property
    def lidars(self) -> dict[str, Lidar]:
        return {k: v for k, v in self.sensors.items() if isinstance(v, Lidar)}


def rigs_dir(base_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where bare rig names resolve: base_dir, else $EDGECASE_SENSORS_DIR, else <repo>/sensors."""
    if base_dir is not None:
        return Path(base_dir)
    env = os.environ.get(RIGS_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "sensors"


def available_rigs(base_dir: str | os.PathLike[str] | None = None) -> list[str]:
    folder = rigs_dir(base_dir)
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _is_file(path: Path) -> bool:
    """Path.is_file, but False for a name the OS refuses (too long, a NUL) instead of an OSError."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def load_rig(name_or_path: str | os.PathLike[str], base_dir: str | os.PathLike[str] | None = None, *,
             pos: SourcePos | None = None, limits: Limits = Limits()) -> Rig:
    """A bare name (`front_camera`) reads `NAME.yaml` from `rigs_dir(base_dir)`; anything with a
    slash or a .yaml/.yml suffix is a path.  `pos` is where the name was written (a scenario's
    `sensors:` key), for the unknown-name error."""
    text = os.fspath(name_or_path)
    is_name = isinstance(name_or_path, str) and _NAME.fullmatch(text) and not text.endswith((".yaml", ".yml"))
    if is_name:
        folder = rigs_dir(base_dir)
        path = folder / f"{text}.yaml"
        if not _is_file(path):
            names = available_rigs(base_dir)
            close = suggest(text, names) if names else ""
            hint = (f"{close} available rigs: {', '.join(names)}" if close.startswith("did") else
                    f"available rigs: {', '.join(names)}" if names else f"no rigs in {folder}")
            raise InputError(f"unknown sensor rig '{text}'", pos or SourcePos(str(path), 1, 1), hint=hint)
    else:
        path = Path(text)
        if pos is not None and not _is_file(path):  # a scenario's `sensors: rigs/x.yaml`: point at where it is named
            raise InputError(f"no such sensor rig file {text}", pos,
                             hint="a rig is a name from sensors/ or a .yaml path relative to the scenario")
    doc = load_yaml_file(path, limits=limits)
    return validate_as(Rig, doc)
