"""Junctions: which driving lanes enter each one, the turns each can make, and whether lights rule it.

The lane structure comes from the OpenDRIVE tables (which roads end at the junction, which of their
lanes drive into it); the turns come from carla, by following each lane's branches through the
junction, so they agree with what `advance` will do. A junction is signalized when a traffic light
(type 1000001) sits on one of its connecting roads (CARLA towns put <signalReference>s there) or on
an approaching road with a <validity> covering an approaching lane (roadgen's maps).
"""

from __future__ import annotations

from collections.abc import Iterator

import carla

from edgecase.roads import travel
from edgecase.roads.values import Approach, Junction, Turn
from edgecase.roads.waypoints import lane_point
from edgecase.roads.xodr import Xodr

TRAFFIC_LIGHT = "1000001"
_TURN_ORDER = (Turn.LEFT, Turn.STRAIGHT, Turn.RIGHT)


def junctions(xodr: Xodr, carla_map: carla.Map) -> list[Junction]:
    """Every junction that has a connecting road, sorted by id."""
    found = []
    for junction_id in sorted(xodr.junctions):
        centre = _centre(xodr, carla_map, junction_id)
        if centre is None:
            continue
        approaches = tuple(_approaches(xodr, carla_map, junction_id))
        signalized = _signalized(xodr, junction_id, approaches)
        found.append(Junction(junction_id, centre[0], centre[1], approaches, signalized))
    return found


def _centre(xodr: Xodr, carla_map: carla.Map, junction_id: int) -> tuple[float, float] | None:
    """carla's bounding-box centre of the junction, read through any lane of a connecting road."""
    for road in xodr.roads.values():
        if road.junction_id != junction_id or not road.sections:
            continue
        lane_ids = [i for i in road.sections[0].lanes if i != 0]
        wp = carla_map.get_waypoint_xodr(road.id, lane_ids[0], road.length_m / 2) if lane_ids else None
        if wp is not None and wp.is_junction:
            location = wp.get_junction().bounding_box.location
            return location.x, location.y
    return None


def _approaches(xodr: Xodr, carla_map: carla.Map, junction_id: int) -> Iterator[Approach]:
    for road_id, lane_id in _entering_lanes(xodr, junction_id):
        road = xodr.roads[road_id]
        wp = carla_map.get_waypoint_xodr(road_id, lane_id, road.last_s_m if lane_id < 0 else 0.0)
        if wp is None:
            continue
        turns = {
            travel.branch_turn(wp, option, True)
            for option in travel.step(wp, 0.5, True)
            if option.is_junction and option.junction_id == junction_id
        }
        if turns:
            p = lane_point(wp)
            ordered = tuple(t for t in _TURN_ORDER if t in turns)
            yield Approach(road_id, lane_id, p.s_m, p.x_m, p.y_m, p.yaw_deg, ordered)


def _entering_lanes(xodr: Xodr, junction_id: int) -> Iterator[tuple[int, int]]:
    """Driving lanes that end at the junction: ids < 0 at a road's successor end, > 0 at its
    predecessor end (a link names a junction when no road has that id, as carla decides)."""
    for road in sorted(xodr.roads.values(), key=lambda r: r.id):
        if road.junction_id != -1 or not road.sections:
            continue
        for end_is_successor in (True, False):
            linked = road.successor if end_is_successor else road.predecessor
            if linked != junction_id or linked in xodr.roads:
                continue
            section = road.sections[-1 if end_is_successor else 0]
            for lane in sorted(section.lanes.values(), key=lambda lane: abs(lane.id)):
                if lane.type == "driving" and (lane.id < 0) == end_is_successor and lane.id != 0:
                    yield road.id, lane.id


def _signalized(xodr: Xodr, junction_id: int, approaches: tuple[Approach, ...]) -> bool:
    light_ids = {s.id for s in xodr.signals if s.type == TRAFFIC_LIGHT and not s.is_reference}
    for light in (s for s in xodr.signals if s.id in light_ids):  # the lights and their references
        if xodr.roads[light.road_id].junction_id == junction_id:
            return True
        for a in approaches:
            if a.road_id == light.road_id and any(min(v) <= a.lane_id <= max(v) for v in light.validity):
                return True
    return False
