"""Light, sky, fog and body colours for the embedded camera, from CARLA's weather parameters.

A deliberately small model, the same for both camera engines (moderngl and the painter):
* Flat shading. A face's colour is albedo * (ambient + sun * max(0, n . to_sun)), computed once per
  face on the CPU, so both engines paint identical face colours. The ground (normal +z) is darkened
  further when wet.
* The sun: `sun_altitude_angle` above the horizon, `sun_azimuth_angle` measured like CARLA's yaw
  (from +x towards +y, clockwise seen from above). Clouds move light from the direct term to the
  ambient one; a low sun is warm; below the horizon there is no sun, a dim bluish ambient (street and
  moon light) and an almost black sky: night.
* Sky: a gradient from a horizon colour to a zenith colour by the sine of the ray's elevation
  (quadratic, so that a coarse grid of vertex colours, as the GL engine draws it, matches it).
* Fog: colour = mix(colour, fog_rgb, 1 - exp(-k max(0, distance - fog_distance))), with k growing
  with `fog_density` (percent) and rain; the sky counts as SKY_DISTANCE_M away. Distances are along
  the ray, in metres.
* Bodies: one colour per CARLA tag (cars, trucks, buses, walkers, two-wheelers, props), varied per
  actor id by a fixed integer hash: deterministic across runs and processes.
Missing weather fields take CARLA's ClearNoon values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

SKY_DISTANCE_M = 1000.0  # how far the sky is, for fog

#: carla.WeatherParameters.ClearNoon (0.9.16), for fields a plan leaves out
CLEAR_NOON: dict[str, float] = {"cloudiness": 5.0, "precipitation": 0.0, "precipitation_deposits": 0.0,
                                "sun_azimuth_angle": -1.0, "sun_altitude_angle": 45.0, "fog_density": 2.0,
                                "fog_distance": 0.75, "wetness": 0.0}

Rgb = tuple[float, float, float]


def _mix(a: Rgb, b: Rgb, t: float) -> Rgb:
    return tuple(x + (y - x) * t for x, y in zip(a, b))  # type: ignore[return-value]


def _scale(a: Rgb, k: float) -> Rgb:
    return tuple(x * k for x in a)  # type: ignore[return-value]


def _smoothstep(lo: float, hi: float, x: float) -> float:
    t = min(max((x - lo) / (hi - lo), 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass(frozen=True)
class Lighting:
    """Everything the renderers need about light; colours are linear 0..1 RGB. Hashable (cache key)."""

    to_sun: tuple[float, float, float]  # unit vector towards the sun, world frame
    sun_rgb: Rgb  # direct light (0 at night)
    ambient_rgb: Rgb
    zenith_rgb: Rgb
    horizon_rgb: Rgb
    fog_rgb: Rgb
    fog_start_m: float
    fog_per_m: float  # extinction coefficient
    ground_wet: float  # 0..1, darkens the ground

    @property
    def night(self) -> bool:
        return self.to_sun[2] < 0.0

    @classmethod
    def from_weather(cls, params: Mapping[str, float] | None = None) -> Lighting:
        """From `plan.weather.params` (every carla.WeatherParameters field; missing ones: ClearNoon)."""
        p = {**CLEAR_NOON, **(params or {})}
        alt, az = math.radians(p["sun_altitude_angle"]), math.radians(p["sun_azimuth_angle"])
        to_sun = (math.cos(alt) * math.cos(az), math.cos(alt) * math.sin(az), math.sin(alt))
        cloud = min(max(p["cloudiness"] / 100.0, 0.0), 1.0)
        rain = min(max(p["precipitation"] / 100.0, 0.0), 1.0)
        day = _smoothstep(-6.0, 8.0, p["sun_altitude_angle"])  # civil twilight to full day
        warm = 1.0 - _smoothstep(2.0, 30.0, p["sun_altitude_angle"])  # low sun: orange
        sun = _mix((1.0, 0.97, 0.90), (1.0, 0.62, 0.32), warm)
        sun = _scale(sun, 0.85 * (1.0 - 0.85 * cloud) * (1.0 - 0.5 * rain) * (1.0 if alt > 0 else 0.0))
        ambient = _scale(_mix((0.36, 0.40, 0.48), (0.46, 0.46, 0.48), cloud), 1.0 - 0.35 * rain)
        ambient = _mix((0.045, 0.05, 0.07), ambient, day)
        zenith = _mix((0.20, 0.40, 0.78), (0.52, 0.54, 0.57), cloud)
        horizon = _mix(_mix((0.66, 0.76, 0.90), (0.96, 0.62, 0.36), warm * (1 - cloud)), (0.68, 0.69, 0.70), cloud)
        gloom = 1.0 - 0.45 * rain
        zenith = _mix((0.004, 0.006, 0.018), _scale(zenith, gloom), day)
        horizon = _mix((0.015, 0.02, 0.035), _scale(horizon, gloom), day)
        fog = _mix((0.03, 0.032, 0.04), _scale(_mix((0.74, 0.76, 0.79), (0.86, 0.72, 0.60), warm), gloom), day)
        density = min(max(p["fog_density"] / 100.0, 0.0), 1.0)
        fog_per_m = 0.04 * density ** 1.5 + 0.004 * rain
        wet = min(max(max(p["wetness"], p["precipitation_deposits"], 0.5 * p["precipitation"]) / 100.0, 0.0), 1.0)
        return cls(to_sun=to_sun, sun_rgb=sun, ambient_rgb=ambient, zenith_rgb=zenith, horizon_rgb=horizon,
                   fog_rgb=fog, fog_start_m=max(p["fog_distance"], 0.0), fog_per_m=fog_per_m, ground_wet=wet)

    # --- per face -------------------------------------------------------------------------------------

    def shade(self, albedo: np.ndarray, normals: np.ndarray) -> np.ndarray:
        """Flat-shaded colours (N, 3) in 0..1 of faces with albedo (N, 3) 0..1 and unit normals (N, 3)."""
        lambert = np.maximum(normals @ np.asarray(self.to_sun), 0.0)[:, None]
        light = np.asarray(self.ambient_rgb) + lambert * np.asarray(self.sun_rgb)
        return np.clip(albedo * light, 0.0, 1.0)

    def shade_ground(self, albedo: np.ndarray) -> np.ndarray:
        """Colours of upward faces (roads, terrain): shade() with n = +z, darker when wet."""
        up = np.broadcast_to(np.array([0.0, 0.0, 1.0]), albedo.shape)
        return self.shade(albedo * (1.0 - 0.45 * self.ground_wet), up)

    # --- per pixel ------------------------------------------------------------------------------------

    def sky(self, sin_elevation: np.ndarray, fogged: bool = True) -> np.ndarray:
        """Sky colour (..., 3) for rays of that elevation: horizon to zenith by 1 - (1 - sin e)^2."""
        t = 1.0 - (1.0 - np.clip(sin_elevation, 0.0, 1.0)[..., None]) ** 2  # smooth: GL interpolates it
        colour = np.asarray(self.horizon_rgb) + (np.asarray(self.zenith_rgb) - np.asarray(self.horizon_rgb)) * t
        return colour + (np.asarray(self.fog_rgb) - colour) * self.sky_fog if fogged else colour

    @property
    def sky_fog(self) -> float:
        return self.fog_amount(SKY_DISTANCE_M)

    def fog_amount(self, distance_m):
        """0..1: how much of the fog colour replaces a surface at that ray distance."""
        beyond = np.maximum(np.minimum(distance_m, SKY_DISTANCE_M) - self.fog_start_m, 0.0)
        return 1.0 - np.exp(-self.fog_per_m * beyond)


# --- body colours -----------------------------------------------------------------------------------

_PAINTS = np.array([[0.62, 0.62, 0.64], [0.08, 0.08, 0.09], [0.85, 0.85, 0.84], [0.55, 0.08, 0.07],
                    [0.10, 0.18, 0.45], [0.30, 0.32, 0.34], [0.16, 0.30, 0.20], [0.75, 0.62, 0.35]])
_CLOTHES = np.array([[0.15, 0.18, 0.30], [0.45, 0.12, 0.12], [0.20, 0.20, 0.20], [0.55, 0.50, 0.40],
                     [0.12, 0.32, 0.28], [0.60, 0.45, 0.20]])
#: CARLA tag -> palette (rows of albedo) for actor bodies
BODY_PALETTES: dict[int, np.ndarray] = {
    14: _PAINTS,  # Car
    15: np.array([[0.85, 0.85, 0.84], [0.20, 0.30, 0.55], [0.55, 0.12, 0.10], [0.35, 0.38, 0.36]]),  # Truck
    16: np.array([[0.85, 0.70, 0.12], [0.70, 0.15, 0.12], [0.82, 0.82, 0.80]]),  # Bus
    18: np.array([[0.10, 0.10, 0.12], [0.60, 0.10, 0.08], [0.15, 0.25, 0.55]]),  # Motorcycle
    19: np.array([[0.12, 0.30, 0.55], [0.65, 0.20, 0.10], [0.20, 0.20, 0.22]]),  # Bicycle
    12: _CLOTHES,  # Pedestrians
    13: _CLOTHES,  # Rider
    20: np.array([[0.90, 0.40, 0.08], [0.50, 0.50, 0.48]]),  # Static (cones, barriers)
    21: np.array([[0.45, 0.35, 0.22], [0.30, 0.45, 0.60]]),  # Dynamic
    9: np.array([[0.20, 0.38, 0.12]]),  # Vegetation
}
_OTHER = np.array([[0.50, 0.50, 0.50]])


def body_albedo(tags: np.ndarray, actor_ids: np.ndarray) -> np.ndarray:
    """(N, 3) albedo: the tag's palette entry picked by a hash of the id, brightness varied +-12%."""
    ids = np.asarray(actor_ids, np.uint64)
    h = (ids * np.uint64(2654435761) + np.uint64(0x9E3779B9)) % np.uint64(2 ** 32)  # Knuth's multiplicative hash
    out = np.empty((len(ids), 3))
    for i, (tag, code) in enumerate(zip(np.asarray(tags).tolist(), h.tolist())):
        palette = BODY_PALETTES.get(tag, _OTHER)  # the hash's high bits are its well-mixed ones
        vary = 0.88 + 0.24 * ((code >> 16) & 0xFF) / 255.0
        out[i] = np.clip(palette[(code >> 24) % len(palette)] * vary, 0.0, 1.0)
    return out
