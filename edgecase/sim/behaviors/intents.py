"""Every actor's Intent as arrays of one row per actor, and the roles derived from them.

Agents turns intents into Controls with numpy; these arrays are what it reads. A row is rewritten
only when its actor's intent object changes (most ticks: none), and the derived masks (who
follows with the IDM, who tracks a speed, who changes lanes) only when a row or a path changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgecase.sim.behaviors.base import Intent
from edgecase.sim.idm import IdmParams

TRACK_ACCEL_MPS2 = 2.0  # a speed tracker (no IDM) speeds up at most this hard


class IntentArrays:
    """The intents as arrays of one row per actor, rewritten only for the rows whose intent changed."""

    def __init__(self, n: int):
        self.speed_mps = np.zeros(n)
        self.idm = np.zeros(n, dtype=bool)
        self.obey = np.zeros(n, dtype=bool)
        self.hold_along = np.zeros(n, dtype=bool)
        defaults = IdmParams()
        self.time_headway_s = np.full(n, defaults.time_headway_s)
        self.min_gap_m = np.full(n, defaults.min_gap_m)
        self.max_accel_mps2 = np.full(n, TRACK_ACCEL_MPS2)
        self.comfort_decel_mps2 = np.full(n, defaults.comfort_decel_mps2)
        self.brake_mps2 = np.full(n, np.nan)
        self.accel_mps2 = np.full(n, np.nan)
        self.heading_rad = np.full(n, np.nan)
        self.width_m = np.full(n, np.nan)
        self.box_offset_m = np.full(n, np.nan)
        self.lights = np.zeros(n, dtype=np.uint32)
        self.blend_to = np.full(n, -1, dtype=np.intp)
        self.blend_start_s = np.zeros(n)
        self.blend_duration_s = np.ones(n)
        self.blend_shift_m = np.zeros(n)
        self.version = 0
        self.any_brake = self.any_accel = self.any_hold = self.any_blend = self.any_width = self.any_offset = False

    def write(self, row: int, intent: Intent) -> None:
        self.version += 1
        self.speed_mps[row] = intent.speed_mps
        self.idm[row] = intent.idm is not None
        p = intent.idm or IdmParams(max_accel_mps2=TRACK_ACCEL_MPS2)
        self.time_headway_s[row], self.min_gap_m[row] = p.time_headway_s, p.min_gap_m
        self.max_accel_mps2[row], self.comfort_decel_mps2[row] = p.max_accel_mps2, p.comfort_decel_mps2
        self.obey[row] = intent.obey_lights
        self.hold_along[row] = intent.hold_along
        self.brake_mps2[row] = _nan(intent.brake_mps2)
        self.accel_mps2[row] = _nan(intent.accel_mps2)
        self.heading_rad[row] = _nan(intent.heading_rad)
        self.width_m[row] = _nan(intent.width_m)
        self.box_offset_m[row] = _nan(intent.box_offset_m)
        self.lights[row] = intent.lights
        blend = intent.blend
        self.blend_to[row] = -1 if blend is None else blend.to_path
        if blend is not None:
            self.blend_start_s[row], self.blend_duration_s[row] = blend.start_s, max(blend.duration_s, 1e-6)
            self.blend_shift_m[row] = blend.shift_m
        self.any_brake = bool(np.isfinite(self.brake_mps2).any())
        self.any_accel = bool(np.isfinite(self.accel_mps2).any())
        self.any_hold = bool(self.hold_along.any())
        self.any_blend = bool((self.blend_to >= 0).any())
        self.any_width = bool(np.isfinite(self.width_m).any())
        self.any_offset = bool(np.isfinite(self.box_offset_m).any())


@dataclass(frozen=True)
class Masks:
    """Per-actor roles derived from the intents and the tracks; they change only with them."""

    on_path: np.ndarray
    path: np.ndarray  # the path index, 0 for actors without one (their lookups are ignored)
    vehicles: np.ndarray  # vehicles on a path: they steer by pure pursuit
    followers: np.ndarray  # rows of vehicles on a path that car-follow (IDM)
    trackers: np.ndarray  # actors tracking a speed (no IDM)
    holding: np.ndarray
    blending: np.ndarray
    mobile: np.ndarray
    any_walker: bool
    all_vehicles: bool  # every actor is a vehicle on a path: masks need not be applied

    @classmethod
    def of(cls, it: IntentArrays, path: np.ndarray, vehicle: np.ndarray, walker: np.ndarray) -> Masks:
        on_path = path >= 0
        vehicles = vehicle & on_path
        return cls(
            on_path=on_path, path=np.where(on_path, path, 0), vehicles=vehicles,
            followers=np.flatnonzero(it.idm & vehicles), trackers=(vehicle | walker) & ~(it.idm & vehicles),
            holding=it.hold_along & on_path, blending=it.blend_to >= 0, mobile=vehicle | walker, any_walker=bool(walker.any()),
            all_vehicles=bool(vehicles.all()),
        )  # fmt: skip


def _nan(value: float | None) -> float:
    return math.nan if value is None else value
