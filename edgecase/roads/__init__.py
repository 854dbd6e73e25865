"""Road maps: OpenDRIVE loaded through an offline carla.Map, and the builtin procedural maps.

Everything is in CARLA's world frame (left-handed: x forward, y right, z up; metres, degrees).
"""

from edgecase.roads.builtin import BuiltinMap, builtin_map, builtin_map_names
from edgecase.roads.crosswalks import Crosswalk
from edgecase.roads.network import RoadNetwork
from edgecase.roads.values import Approach, Junction, LaneKind, LanePoint, LaneRef, Turn

__all__ = [
    "Approach",
    "BuiltinMap",
    "Crosswalk",
    "Junction",
    "LaneKind",
    "LanePoint",
    "LaneRef",
    "RoadNetwork",
    "Turn",
    "builtin_map",
    "builtin_map_names",
]
