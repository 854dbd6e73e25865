"""The world at one tick, and what behaviors ask of it: frozen values, arrays of one row per actor.

Rows follow the plan's actor order (row i is `plan.actors[i]`, track id i + 1), so numpy does
the per-actor arithmetic and many actors stay cheap. Angles are radians here (numpy's unit);
positions are CARLA's world frame (left-handed: x forward, y right; yaw turns +x towards +y).
Arrays are made read-only, so a state handed to behaviors and observers cannot change under them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

LightColor = Literal["Red", "Yellow", "Green"]  # carla.TrafficLightState names


# carla.VehicleLightState bit flags (values read from carla 0.9.16's module; this layer does not import carla)
LIGHT_NONE, LIGHT_POSITION, LIGHT_LOW_BEAM, LIGHT_HIGH_BEAM, LIGHT_BRAKE = 0, 1, 2, 4, 8
LIGHT_RIGHT_BLINKER, LIGHT_LEFT_BLINKER, LIGHT_REVERSE = 16, 32, 64
LIGHT_HAZARD = LIGHT_LEFT_BLINKER | LIGHT_RIGHT_BLINKER  # CARLA has no hazard flag: both blinkers
LIGHT_DTYPE = np.uint32  # VehicleLightState is a 32-bit flag set (All = 0xFFFFFFFF)


def frozen(array: np.ndarray) -> np.ndarray:
    """The array as read-only float (or bool, or light-flag) data; no copy when it already is one (the hot path)."""
    if not (isinstance(array, np.ndarray) and array.dtype in (np.float64, np.bool_, LIGHT_DTYPE)):
        array = np.asarray(array, dtype=float) if np.asarray(array).dtype != bool else np.asarray(array)
    array.setflags(write=False)
    return array


def _light_flags(array: np.ndarray | None, n: int) -> np.ndarray:
    return np.zeros(n, dtype=LIGHT_DTYPE) if array is None else np.asarray(array).astype(LIGHT_DTYPE, copy=False)


@dataclass(frozen=True, slots=True)
class ActorStates:
    """Kinematic state of every actor; each field has shape (N,)."""

    x_m: np.ndarray
    y_m: np.ndarray
    yaw_rad: np.ndarray
    speed_mps: np.ndarray  # along the heading; >= 0 (nobody reverses in these scenarios)
    accel_mps2: np.ndarray  # applied in the last step
    steer_rad: np.ndarray  # front-wheel angle applied (vehicles), 0 for walkers and props
    length_m: np.ndarray  # the current box: an opening door widens it
    width_m: np.ndarray
    height_m: np.ndarray
    active: np.ndarray  # bool: in the world now (dropped cargo appears when it falls)
    # The box centre's offset to the right of (x, y), across the heading (negative: to the left):
    # an open door widens the box on its side only, so the box's centre moves by half the reach.
    box_offset_m: np.ndarray | None = None  # None: zeros
    light_state: np.ndarray | None = None  # carla.VehicleLightState flags (uint32); None: zeros (all off)

    def __post_init__(self) -> None:
        n = len(self.x_m)
        if self.box_offset_m is None:
            object.__setattr__(self, "box_offset_m", np.zeros(n))
        object.__setattr__(self, "light_state", _light_flags(self.light_state, n))
        for name in self.__slots__:
            object.__setattr__(self, name, frozen(getattr(self, name)))

    def __len__(self) -> int:
        return len(self.x_m)


@dataclass(frozen=True, slots=True)
class LightState:
    id: int  # the OpenDRIVE signal id
    color: LightColor


@dataclass(frozen=True, slots=True)
class WorldState:
    tick: int
    t_s: float
    actors: ActorStates
    lights: tuple[LightState, ...] = ()


@dataclass(frozen=True, slots=True)
class Controls:
    """What the behaviors ask of each actor for the next step; each array has shape (N,).

    The embedded backend integrates them directly; the CARLA bridge turns them into
    VehicleControl / WalkerControl. NaN in an optional field means 'leave as it is'.
    """

    accel_mps2: np.ndarray  # longitudinal; negative brakes. Backends clip to the actor's limits
    steer_rad: np.ndarray  # front-wheel angle (vehicles and two-wheelers)
    heading_rad: np.ndarray  # walkers: walking direction (they turn on the spot); NaN for others
    width_m: np.ndarray  # NaN: keep the box width (a door opening sets it)
    active: np.ndarray  # bool: whether each actor is in the world (False -> True: dropped cargo falls)
    lights: tuple[LightState, ...] = field(default=())  # forced light states (scenario control)
    box_offset_m: np.ndarray | None = None  # NaN (None: all NaN): keep the box centre's offset to the right
    light_state: np.ndarray | None = None  # carla.VehicleLightState flags for each actor; None: all off

    def __post_init__(self) -> None:
        n = len(self.accel_mps2)
        if self.box_offset_m is None:
            object.__setattr__(self, "box_offset_m", np.full(n, np.nan))
        object.__setattr__(self, "light_state", _light_flags(self.light_state, n))
        for name in ("accel_mps2", "steer_rad", "heading_rad", "width_m", "active", "box_offset_m", "light_state"):
            object.__setattr__(self, name, frozen(getattr(self, name)))
