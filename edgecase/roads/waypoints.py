"""carla.Waypoint <-> LanePoint: the one place that reads carla's waypoint fields."""

from __future__ import annotations

import carla

from edgecase.roads.values import LaneKind, LanePoint

LANE_TYPES: dict[LaneKind, carla.LaneType] = {
    LaneKind.DRIVING: carla.LaneType.Driving,
    LaneKind.PARKING: carla.LaneType.Parking,
    LaneKind.SIDEWALK: carla.LaneType.Sidewalk,
    LaneKind.SHOULDER: carla.LaneType.Shoulder,
    LaneKind.BIKING: carla.LaneType.Biking,
}
_KINDS = {lane_type: kind for kind, lane_type in LANE_TYPES.items()}


def wrap_deg(angle_deg: float) -> float:
    """An angle in (-180, 180]; carla returns yaw unnormalised (a lane may read 270 or -90)."""
    angle = angle_deg % 360.0
    return (angle - 360.0 if angle > 180.0 else angle) + 0.0  # + 0.0 turns -0.0 into 0.0


def lane_point(wp: carla.Waypoint) -> LanePoint:
    transform = wp.transform
    return LanePoint(
        road_id=wp.road_id,
        section_id=wp.section_id,
        lane_id=wp.lane_id,
        s_m=wp.s,
        x_m=transform.location.x,
        y_m=transform.location.y,
        z_m=transform.location.z,
        yaw_deg=wrap_deg(transform.rotation.yaw),
        width_m=wp.lane_width,
        kind=_KINDS.get(wp.lane_type),
        junction_id=wp.junction_id if wp.is_junction else None,
    )


def yaw_deg(wp: carla.Waypoint) -> float:
    return wp.transform.rotation.yaw
