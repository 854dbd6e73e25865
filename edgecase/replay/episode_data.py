"""One recorded episode directory as a frozen value, for everything replay draws or exports.

`load_episode(DIR)` reads what every replay view needs once (episode.json, trace.npz, calib.json,
frames.json; docs/episode-format.md) and checks it, so a directory that is not an episode fails
here with one clear `InputError` instead of deep inside a renderer. Per-frame files (labels,
images) are read on demand through `labels(tick)` and `image_path(camera, tick)`: an episode can
hold thousands of frames, and a video reads each once.

The trace comes back twice: `arrays` as stored (name -> read-only array) and `trace`, the same
data as an `edgecase.sim.trace.Trace`, so the metrics functions (`edgecase.sim.metrics.ttc_s`,
`distance_m`, ...) apply to a recorded episode exactly as they did during the run. Arrays that
episodes written before them lack (`box_offset_m`, `light_state`) read as zeros.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from edgecase.errors import InputError
from edgecase.labels.model import FrameLabels
from edgecase.plan import EpisodePlan
from edgecase.record import read_episode
from edgecase.roads import RoadNetwork
from edgecase.sim.trace import FIELDS, Event, Trace

_OPTIONAL_FIELDS = ("box_offset_m", "light_state")  # added within format 1; older traces lack them


@dataclass(frozen=True, eq=False)
class EpisodeData:
    """A recorded episode: plan, trace, events, and (with sensors) calibration and frame ticks.

    Treat it as immutable: its arrays are read-only, its dicts are shared with every view.
    """

    path: Path
    meta: dict[str, Any]  # episode.json as written (outcome, metrics, versions, ...)
    plan: EpisodePlan
    arrays: dict[str, np.ndarray]  # trace.npz: t_s (T,), light_codes (T, L), one (T, N) array per field
    trace: Trace  # the same arrays as the simulator's Trace (names, light ids, events)
    events: tuple[Event, ...]
    calib: dict[str, Any] | None  # calib.json; None: recorded without sensors
    frame_ticks: tuple[int, ...]  # ticks with sensor frames and labels, ascending; () without sensors

    # --- shape of the episode --------------------------------------------------------------------

    @property
    def step_s(self) -> float:
        return self.plan.step_s

    @property
    def ticks(self) -> int:
        """T: rows of the trace (the initial state, then one per step)."""
        return len(self.arrays["t_s"])

    @property
    def names(self) -> tuple[str, ...]:
        """Actor instance names in row order (row i is plan.actors[i], track id i + 1)."""
        return self.trace.names

    @property
    def has_sensors(self) -> bool:
        return self.calib is not None

    @property
    def ego_index(self) -> int:
        return self.names.index(self.plan.ego.name)

    @property
    def edge_case_indices(self) -> tuple[int, ...]:
        """Rows of the scenario's edge-case actors: role 'adversary' (criticality's actors among them)."""
        return tuple(i for i, actor in enumerate(self.plan.actors) if actor.role == "adversary")

    # --- sensors ---------------------------------------------------------------------------------

    def sensors_of(self, prefix: str) -> tuple[str, ...]:
        """Sensor names whose CARLA type starts with `prefix` ('camera.', 'lidar.'), in rig order."""
        sensors = (self.calib or {}).get("sensors", {})
        return tuple(name for name, info in sensors.items() if str(info.get("type", "")).startswith(prefix))

    @property
    def cameras(self) -> tuple[str, ...]:
        return self.sensors_of("camera.")

    @property
    def lidars(self) -> tuple[str, ...]:
        return self.sensors_of("lidar.")

    def camera(self, name: str | None = None) -> str:
        """A camera's name, checked; None: the rig's first camera. InputError names the choices."""
        cameras = self.cameras
        if not cameras:
            raise InputError(f"{self.path} has no camera frames (recorded without a sensor rig with cameras)",
                             hint="leave out --camera to get the bird's-eye video")
        if name is None:
            return cameras[0]
        if name not in cameras:
            raise InputError(f"{self.path} has no camera {name!r} (cameras: {', '.join(cameras)})")
        return name

    def labels(self, tick: int) -> FrameLabels:
        """The FrameLabels of a frame tick; InputError for a tick without a frame."""
        file = self.path / "labels" / f"{self._frame_tick(tick):06d}.json"
        try:
            stamp = file.stat().st_mtime_ns  # part of the cache key: a re-recorded episode is read again
        except OSError:
            raise InputError(f"{file} is missing (the episode's frames.json lists tick {tick})") from None
        return _read_labels(file, stamp)

    def image_path(self, camera: str, tick: int) -> Path:
        """The camera's RGB file at a frame tick (.jpg, or .png for lossless recordings)."""
        capture = self.labels(tick).captures.get(self.camera(camera))
        if capture is not None and "rgb" in capture.files:
            return self.path / capture.files["rgb"]
        stem = self.path / "sensors" / camera / f"{tick:06d}"
        return stem.with_suffix(".jpg") if stem.with_suffix(".jpg").exists() else stem.with_suffix(".png")

    def _frame_tick(self, tick: int) -> int:
        tick = int(tick)
        if tick in self._frame_set:
            return tick
        if not self.frame_ticks:
            raise InputError(f"{self.path} has no sensor frames (recorded without a sensor rig)")
        lower = max((t for t in self.frame_ticks if t < tick), default=None)
        upper = min((t for t in self.frame_ticks if t > tick), default=None)
        near = " or ".join(str(t) for t in (lower, upper) if t is not None)
        raise InputError(f"{self.path}: tick {tick} has no sensor frame (nearest: {near})")

    @functools.cached_property
    def _frame_set(self) -> frozenset[int]:
        return frozenset(self.frame_ticks)

    # --- the map ---------------------------------------------------------------------------------

    def road_network(self) -> RoadNetwork | None:
        """The plan's map, or None where it cannot be found again (a map file moved since the run,
        or a map on a CARLA server): replay then draws actors without roads rather than failing."""
        return _road_network(self.plan.map.source, self.plan.map.sha256, str(self.path))


def load_episode(episode_dir: str | Path) -> EpisodeData:
    """Read an episode directory (docs/episode-format.md); InputError if it is not one."""
    path = Path(episode_dir)
    if not path.is_dir():
        raise InputError(f"{path} is not an episode directory (no such directory)")
    if not (path / "trace.npz").is_file() and (path / "episode.json").is_file():
        raise InputError(f"{path} is not a complete episode directory (no trace.npz)")
    try:
        record = read_episode(path)
    except (OSError, ValueError, KeyError, ValidationError) as e:
        raise InputError(f"{path} is not a readable episode directory ({type(e).__name__}: {_first_line(e)})") from None
    arrays = _checked_arrays(path, record.meta, record.arrays)
    events = tuple(Event(**e) for e in record.meta.get("events", ()))
    calib, frame_ticks = _sensor_files(path)
    trace = _trace(record.meta, arrays, events)
    return EpisodeData(path, record.meta, record.plan, arrays, trace, events, calib, frame_ticks)


def _checked_arrays(path: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every field present with shape (T, N) (optional ones filled with zeros), all read-only."""
    names = meta.get("trace", {}).get("actors", [])
    count = len(arrays.get("t_s", ()))
    shape = (count, len(names))
    out = {"t_s": arrays.get("t_s"), "light_codes": arrays.get("light_codes", np.zeros((count, 0), np.int8))}
    for field in FIELDS:
        if field not in arrays and field in _OPTIONAL_FIELDS:
            arrays[field] = np.zeros(shape, np.uint32 if field == "light_state" else float)
        if field not in arrays or arrays[field].shape != shape:
            raise InputError(f"{path}/trace.npz: array {field!r} is missing or not {shape} (ticks, actors)")
        out[field] = arrays[field]
    if out["t_s"] is None or count == 0:
        raise InputError(f"{path}/trace.npz has no ticks")
    for array in out.values():
        array.setflags(write=False)
    return out


def _trace(meta: dict[str, Any], arrays: dict[str, np.ndarray], events: tuple[Event, ...]) -> Trace:
    info = meta.get("trace", {})
    fields = {field: arrays[field] for field in FIELDS}
    return Trace(names=tuple(info.get("actors", ())), t_s=arrays["t_s"], light_ids=tuple(info.get("light_ids", ())),
                 light_codes=arrays["light_codes"], events=events, **fields)


def _sensor_files(path: Path) -> tuple[dict[str, Any] | None, tuple[int, ...]]:
    """calib.json and frames.json, both or neither (a recording without sensors has neither)."""
    calib_file, frames_file = path / "calib.json", path / "frames.json"
    if not calib_file.is_file():
        return None, ()
    try:
        calib = json.loads(calib_file.read_text())
        ticks = tuple(sorted(int(t) for t in json.loads(frames_file.read_text())["ticks"]))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"{path}: calib.json / frames.json unreadable ({_first_line(e)})") from None
    return calib, ticks


@functools.lru_cache(maxsize=512)
def _read_labels(file: Path, stamp: int) -> FrameLabels:
    """Cached: a video and its still, or two exports of one episode, read each file once."""
    try:
        return FrameLabels.model_validate_json(file.read_bytes())
    except (OSError, ValidationError) as e:
        raise InputError(f"{file}: unreadable labels ({_first_line(e)})") from None


@functools.lru_cache(maxsize=8)
def _road_network(source: str, sha256: str, episode_dir: str) -> RoadNetwork | None:
    """Try the source as written (builtin, or a path from the working directory), then beside the
    episode; accept only the very map the plan was made on (its sha256)."""
    for base in (None, Path(episode_dir), Path(episode_dir).parent):
        try:
            network = RoadNetwork.load(source, base_dir=base)
        except InputError:
            continue
        if network.sha256 == sha256:
            return network
    return None


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0]
