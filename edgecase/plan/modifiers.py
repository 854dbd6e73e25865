"""Global modifiers: weather, time of day, fog and sensor degradation, for any scenario.

A scenario says what the edge case is; a modifier says under which conditions to record it
(`edgecase run FILE --weather HardRainNight --degrade noise=4,blur=1.5,dropout=0.3`). They
work on what the compiler made, never on the scenario, so the random draws of an episode are the
same with and without them and the two recordings differ only in what the modifier changes:

* weather (`weather`, `time_of_day`, `fog_density`) rewrites `plan.weather`, so the plan's content
  hash, `episode.json`'s plan and a `replay --check` all carry it. `weather` replaces the
  scenario's weather by the CARLA preset's values; `time_of_day` then sets `sun_altitude_angle`
  (the presets' own values: noon 45, sunset 15, night -90 degrees) and `fog_density` the fog (%).
* degradation (`noise`, `blur_px`, `dropout`) returns a modified sensor rig (the calibration the
  episode records is that rig). Noise and blur are Gaussian, so they add in quadrature to what the
  rig already has. `dropout` P removes that share of the LiDAR's points: the rig's general
  drop-off rate r (None: CARLA's 0.45) becomes 1 - (1 - r)(1 - P). CARLA draws that drop per
  ray before casting, independently of its intensity-based drop afterwards, so the degraded
  LiDAR keeps (1 - P) of the points the same LiDAR keeps without the modifier, in CARLA and in the
  embedded backend alike. Semantic LiDARs (no drop-off in CARLA) and non-RGB cameras (ground
  truth) are left alone.
* traffic (`traffic_per_km`) appends background vehicles (follow_lane) to the plan's actors at
  that density around the ego, on a random stream of their own (edgecase/plan/traffic.py): the
  scenario's actors keep their ids, poses and draws, and the plan's hash includes the traffic.
"""

from __future__ import annotations

import math
from typing import Literal, Optional

import carla

from edgecase.errors import InputError
from edgecase.plan.model import EpisodePlan, Frozen, WeatherPlan
from edgecase.plan.traffic import add_traffic, check_density
from edgecase.roads import RoadNetwork
from edgecase.scenario.base import suggest
from edgecase.scenario.model import WEATHER_FIELDS
from edgecase.sensors import Rig
from edgecase.sensors.rig import Camera, Lidar

DEFAULT_DROPOFF = 0.45  # CARLA's dropoff_general_rate when a rig leaves it unset
SUN_ALTITUDE_DEG = {"noon": 45.0, "sunset": 15.0, "night": -90.0}  # ClearNoon, ClearSunset, ClearNight
PRESETS = tuple(sorted(n for n in dir(carla.WeatherParameters) if n[:1].isupper() and n != "Default"))
DEGRADE_KEYS = {"noise": "noise", "blur": "blur_px", "dropout": "dropout"}

TimeOfDay = Literal["noon", "sunset", "night"]


class Modifiers(Frozen):
    """What to change on every episode; all None: nothing (the plain scenario)."""

    weather: Optional[str] = None  # a CARLA preset name
    time_of_day: Optional[TimeOfDay] = None
    fog_density: Optional[float] = None  # percent, 0..100
    noise: Optional[float] = None  # camera RGB Gaussian noise, 8-bit levels
    blur_px: Optional[float] = None  # camera RGB Gaussian blur sigma, pixels
    dropout: Optional[float] = None  # share of LiDAR points removed, 0..1
    traffic_per_km: Optional[float] = None  # background vehicles per km of driving lane, 0..150

    def model_post_init(self, _context: object) -> None:
        """Bad values are usage errors (exit 2) with a hint, checked once when the options are read."""
        if self.weather is not None and self.weather not in PRESETS:
            raise InputError(f"unknown weather preset '{self.weather}'", hint=suggest(self.weather, PRESETS))
        _check_range("--fog", self.fog_density, 0.0, 100.0)
        _check_range("--degrade noise", self.noise, 0.0, 64.0)
        _check_range("--degrade blur", self.blur_px, 0.0, 32.0)
        _check_range("--degrade dropout", self.dropout, 0.0, 1.0)
        check_density(self.traffic_per_km)

    @property
    def changes_weather(self) -> bool:
        return any(v is not None for v in (self.weather, self.time_of_day, self.fog_density))

    @property
    def adds_traffic(self) -> bool:
        return self.traffic_per_km is not None and self.traffic_per_km > 0

    @property
    def degrades(self) -> bool:
        return any(v is not None for v in (self.noise, self.blur_px, self.dropout))

    def as_dict(self) -> dict[str, object]:
        """The modifiers given (None left out): what a sweep's manifest stores."""
        return self.model_dump(exclude_none=True)


def _check_range(what: str, value: float | None, lo: float, hi: float) -> None:
    if value is not None and not (lo <= value <= hi):
        raise InputError(f"{what} {value:g} is outside {lo:g}..{hi:g}")


def parse_degrade(text: str | None) -> dict[str, float]:
    """'noise=4,blur=1.5,dropout=0.3' -> {'noise': 4.0, 'blur_px': 1.5, 'dropout': 0.3}."""
    out: dict[str, float] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, raw = item.partition("=")
        key = key.strip()
        if key not in DEGRADE_KEYS:
            raise InputError(f"--degrade: unknown key '{key}'", hint=suggest(key, tuple(DEGRADE_KEYS)))
        try:
            value = float(raw)
        except ValueError:
            raise InputError(f"--degrade {item.strip()!r}: expected {key}=NUMBER") from None
        if not sep or not math.isfinite(value):
            raise InputError(f"--degrade {item.strip()!r}: expected {key}=NUMBER")
        out[DEGRADE_KEYS[key]] = value
    return out


def modifiers_from_options(weather: str | None = None, time_of_day: str | None = None, fog: float | None = None,
                           degrade: str | None = None, traffic: float | None = None) -> Modifiers | None:
    """The command line's modifier options as one `Modifiers` (None when none was given)."""
    if time_of_day is not None and time_of_day not in SUN_ALTITUDE_DEG:
        raise InputError(f"--time-of-day '{time_of_day}': expected one of {', '.join(SUN_ALTITUDE_DEG)}")
    mods = Modifiers(weather=weather, time_of_day=time_of_day, fog_density=fog, traffic_per_km=traffic, **parse_degrade(degrade))  # type: ignore[arg-type]
    return mods if mods.changes_weather or mods.degrades or mods.traffic_per_km is not None else None


def modify_plan(plan: EpisodePlan, mods: Modifiers | None, network: RoadNetwork | None = None) -> EpisodePlan:
    """The plan with the weather modifiers and the traffic applied (a new plan, so a new content
    hash); traffic needs the plan's road network (None: loaded from plan.map.source)."""
    if mods is not None and mods.adds_traffic:
        plan = add_traffic(plan, network or RoadNetwork.load(plan.map.source), float(mods.traffic_per_km))  # type: ignore[arg-type]
    if mods is None or not mods.changes_weather:
        return plan
    preset = mods.weather or plan.weather.preset
    params = dict(_preset(mods.weather)) if mods.weather else dict(plan.weather.params)
    if mods.time_of_day is not None:
        params["sun_altitude_angle"] = SUN_ALTITUDE_DEG[mods.time_of_day]
    if mods.fog_density is not None:
        params["fog_density"] = float(mods.fog_density)
    return plan.model_copy(update={"weather": WeatherPlan(preset=preset, params=params)})


def _preset(name: str) -> dict[str, float]:
    preset = getattr(carla.WeatherParameters, name)
    return {field: float(getattr(preset, field)) for field in WEATHER_FIELDS}


def modify_rig(rig: Rig | None, mods: Modifiers | None) -> Rig | None:
    """The rig with the degradation applied to every RGB camera and every ray-cast LiDAR."""
    if rig is None or mods is None or not mods.degrades:
        return rig
    sensors = {name: _degrade(sensor, mods) for name, sensor in rig.sensors.items()}
    return rig.model_copy(update={"sensors": sensors})


def _degrade(sensor: Camera | Lidar, mods: Modifiers) -> Camera | Lidar:
    if isinstance(sensor, Camera) and sensor.type == "camera.rgb":
        update = {}
        if mods.noise is not None:
            update["noise_stddev"] = _quadrature(sensor.noise_stddev, mods.noise)
        if mods.blur_px is not None:
            update["blur_px"] = _quadrature(sensor.blur_px, mods.blur_px)
        return sensor.model_copy(update=update)
    if isinstance(sensor, Lidar) and sensor.type == "lidar.ray_cast" and mods.dropout is not None:
        rate = DEFAULT_DROPOFF if sensor.dropoff_general_rate is None else sensor.dropoff_general_rate
        return sensor.model_copy(update={"dropoff_general_rate": 1.0 - (1.0 - rate) * (1.0 - mods.dropout)})
    return sensor


def _quadrature(own: float | None, extra: float) -> float:
    """Two independent Gaussians (noise, or blur kernels) make one of sigma sqrt(a^2 + b^2)."""
    return math.hypot(own or 0.0, extra)
