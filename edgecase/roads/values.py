"""The values roads/ hands to the rest of edgecase: frozen, typed, in CARLA's world frame.

CARLA's frame is left-handed (x forward, y right, z up; metres, degrees): OpenDRIVE's y is flipped,
so a road heading along OpenDRIVE +y appears at CARLA yaw -90, and a positive yaw change is a right
turn. Every number here is already in that frame; nothing downstream converts again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class LaneKind(str, Enum):
    """The lane types a scenario can name; CARLA's other types (border, median, ...) map to None."""

    DRIVING = "driving"
    PARKING = "parking"
    SIDEWALK = "sidewalk"
    SHOULDER = "shoulder"
    BIKING = "biking"


class Turn(str, Enum):
    """A branch through a junction, from its heading change (CARLA: positive yaw change = right)."""

    LEFT = "left"
    RIGHT = "right"
    STRAIGHT = "straight"


@dataclass(frozen=True, slots=True)
class LanePoint:
    """A point on a lane's centre line; yaw is the lane's direction of travel, in (-180, 180]."""

    road_id: int
    section_id: int
    lane_id: int
    s_m: float  # OpenDRIVE s along the road's reference line (not along this lane)
    x_m: float
    y_m: float
    z_m: float
    yaw_deg: float
    width_m: float
    kind: LaneKind | None  # None for lane types we don't name
    junction_id: int | None  # None outside junctions


@dataclass(frozen=True, slots=True)
class LaneRef:
    """One lane of one road, over the sections where it has this kind (a lane may change type)."""

    road_id: int
    lane_id: int
    kind: LaneKind
    length_m: float  # along the road's reference line
    junction_id: int | None


@dataclass(frozen=True, slots=True)
class Approach:
    """A driving lane entering a junction, at the point where it meets the junction."""

    road_id: int
    lane_id: int
    s_m: float
    x_m: float
    y_m: float
    yaw_deg: float
    turns: tuple[Turn, ...]  # the movements this lane can make, each once, in order left, straight, right


@dataclass(frozen=True, slots=True)
class Junction:
    """A junction, its centre (bounding-box centre) and the driving lanes that enter it."""

    id: int
    x_m: float
    y_m: float
    approaches: tuple[Approach, ...]
    signalized: bool  # a traffic light (OpenDRIVE type 1000001) controls at least one approach
