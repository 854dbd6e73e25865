"""What each actor is called in KITTI, nuScenes and COCO, and its nuScenes attribute.

Classes depend on the blueprint only (`classes_of`), attributes on the plan and the speed now
(`attribute_of`). Sources for the class lists: KITTI object devkit readme.txt (labels-reference
4.1), nuScenes v1.0 categories and attributes (nuscenes-devkit docs/instructions_nuscenes.md,
labels-reference 6.2), COCO 2017 `instances_*.json` categories (ids are COCO's own, with gaps).
Where a dataset has no class for something, the choice is said next to it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fnmatch import fnmatchcase

from edgecase.plan.blueprints import ActorClass, catalog
from edgecase.plan.model import ActorPlan

KITTI_TYPES = ("Car", "Van", "Truck", "Pedestrian", "Person_sitting", "Cyclist", "Tram", "Misc", "DontCare")

#: nuScenes v1.0's 23 annotated categories (category.json)
NUSCENES_CATEGORIES = (
    "animal", "human.pedestrian.adult", "human.pedestrian.child", "human.pedestrian.construction_worker",
    "human.pedestrian.personal_mobility", "human.pedestrian.police_officer", "human.pedestrian.stroller",
    "human.pedestrian.wheelchair", "movable_object.barrier", "movable_object.debris",
    "movable_object.pushable_pullable", "movable_object.trafficcone", "static_object.bicycle_rack",
    "vehicle.bicycle", "vehicle.bus.bendy", "vehicle.bus.rigid", "vehicle.car", "vehicle.construction",
    "vehicle.emergency.ambulance", "vehicle.emergency.police", "vehicle.motorcycle", "vehicle.trailer", "vehicle.truck",
)
NUSCENES_ATTRIBUTES = ("vehicle.moving", "vehicle.stopped", "vehicle.parked", "cycle.with_rider", "cycle.without_rider",
                       "pedestrian.moving", "pedestrian.standing", "pedestrian.sitting_lying_down")

#: COCO 2017 categories edgecase can produce: name -> (official id, supercategory)
COCO_CATEGORIES: dict[str, tuple[int, str]] = {
    "person": (1, "person"), "bicycle": (2, "vehicle"), "car": (3, "vehicle"), "motorcycle": (4, "vehicle"),
    "bus": (6, "vehicle"), "truck": (8, "vehicle"), "bench": (15, "outdoor"), "handbag": (31, "accessory"),
    "suitcase": (33, "accessory"), "chair": (62, "furniture"), "potted plant": (64, "furniture"),
    "cell phone": (77, "electronic"),
}

MOVING_MPS = 0.2  # above this an actor counts as moving (nuScenes' own threshold is unpublished; 0.2 m/s ~ creeping)

# Behaviors that never make an actor move on their own: an actor that starts still and has only
# these is parked (nuScenes: 'stationary, usually for longer, with no immediate intent to move').
# Any other behavior (follow_lane, pull_out, cross, ... and any added later) may move it.
STILL_BEHAVIORS = frozenset({"idle", "stalled", "open_door", "drop_cargo", "stop", "hard_brake"})

# CARLA's pedestrian catalogue: walker.pedestrian.0030 and 0032 are police officers (labels-reference
# cites it in the blueprint data's sources); children are marked in the data (`is_child`).
_POLICE_WALKERS = frozenset({"walker.pedestrian.0030", "walker.pedestrian.0032"})


@dataclass(frozen=True, slots=True)
class Classes:
    kitti_type: str
    nuscenes_category: str | None  # None: nuScenes has no such class (the export skips the object)
    coco_category: str | None  # None: COCO has no such class


# KITTI has no bus: KITTI's Truck is the nearest large vehicle class (buses are not a KITTI
# benchmark class either way). KITTI's Cyclist is a person riding a two-wheeler; KITTI has no
# motorcycle class, and CARLA's two-wheelers always carry a rider, so both are Cyclist.
# COCO has no van: vans and minibuses go to car (COCO's car includes vans; pickups are truck).
_BY_CLASS: dict[ActorClass, Classes] = {
    ActorClass.CAR: Classes("Car", "vehicle.car", "car"),
    ActorClass.VAN: Classes("Van", "vehicle.car", "car"),  # nuScenes vehicle.car includes vans and mini-vans
    ActorClass.TRUCK: Classes("Truck", "vehicle.truck", "truck"),  # nuScenes truck includes pick-ups (cybertruck)
    ActorClass.BUS: Classes("Truck", "vehicle.bus.rigid", "bus"),  # CARLA's only bus (fusorosa) is rigid
    ActorClass.MOTORCYCLE: Classes("Cyclist", "vehicle.motorcycle", "motorcycle"),  # nuScenes: incl. scooters
    ActorClass.BICYCLE: Classes("Cyclist", "vehicle.bicycle", "bicycle"),
    ActorClass.PEDESTRIAN: Classes("Pedestrian", "human.pedestrian.adult", "person"),
    ActorClass.PROP: Classes("Misc", None, None),
}

# Props, first match wins. nuScenes: trafficcone; barrier = temporary equipment that redirects
# traffic (it has no sign class, so portable warning signs count as barriers); pushable_pullable =
# bins, carts, containers; any other movable (Dynamic-tagged) prop is debris: a box or plank on
# the road is there as an obstacle in these scenarios. Street furniture and trees: no class.
_PROP_NUSCENES = (
    ("static.prop.*cone*", "movable_object.trafficcone"),
    ("static.prop.streetbarrier", "movable_object.barrier"),
    ("static.prop.chainbarrier*", "movable_object.barrier"),
    ("static.prop.warning*", "movable_object.barrier"),
    ("static.prop.trafficwarning", "movable_object.barrier"),
    ("static.prop.bin", "movable_object.pushable_pullable"),
    ("static.prop.trashcan*", "movable_object.pushable_pullable"),
    ("static.prop.*container", "movable_object.pushable_pullable"),
    ("static.prop.shopping[ct]*", "movable_object.pushable_pullable"),  # shoppingcart, shoppingtrolley
    ("static.prop.barrel", "movable_object.pushable_pullable"),
    ("static.prop.foodcart", "movable_object.pushable_pullable"),
)
_PROP_COCO = (
    ("static.prop.bench0*", "bench"),
    ("static.prop.plantpot*", "potted plant"),
    ("static.prop.briefcase", "suitcase"),
    ("static.prop.travelcase", "suitcase"),
    ("static.prop.purse", "handbag"),
    ("static.prop.plasticchair", "chair"),
    ("static.prop.mobile", "cell phone"),
)
_TAG_DYNAMIC = 21  # CARLA's CityObjectLabel Dynamic: movable things


def _first(blueprint: str, table: tuple[tuple[str, str], ...]) -> str | None:
    return next((value for pattern, value in table if fnmatchcase(blueprint, pattern)), None)


@functools.cache
def classes_of(actor_class: str, blueprint: str) -> Classes:
    """KITTI type, nuScenes category and COCO category of an actor (cached: a few per episode)."""
    base = _BY_CLASS[ActorClass(actor_class)]
    bp = catalog().get(blueprint) if blueprint in catalog() else None
    special = bp.special_type if bp is not None else ""
    if base.nuscenes_category == "human.pedestrian.adult":
        if bp is not None and bp.is_child:
            return Classes(base.kitti_type, "human.pedestrian.child", base.coco_category)
        if blueprint in _POLICE_WALKERS:
            return Classes(base.kitti_type, "human.pedestrian.police_officer", base.coco_category)
    if special == "emergency":
        # nuScenes has ambulances and police vehicles; a fire truck stays a truck (no class of its own).
        if "ambulance" in blueprint:
            return Classes(base.kitti_type, "vehicle.emergency.ambulance", base.coco_category)
        if "police" in blueprint:
            return Classes(base.kitti_type, "vehicle.emergency.police", base.coco_category)
    if actor_class == ActorClass.PROP:
        nuscenes = _first(blueprint, _PROP_NUSCENES)
        if nuscenes is None and bp is not None and bp.semantic_tag == _TAG_DYNAMIC:
            nuscenes = "movable_object.debris"
        return Classes("Misc", nuscenes, _first(blueprint, _PROP_COCO))
    return base


def coco_category_id(name: str) -> int:
    """COCO's official category id of a category name this module produces."""
    return COCO_CATEGORIES[name][0]


def never_moves(actor: ActorPlan) -> bool:
    """True when the plan keeps the actor still for the whole episode: no speed and no moving behavior."""
    return actor.speed_mps == 0.0 and all(b.name in STILL_BEHAVIORS for b in actor.behaviors)


def attribute_of(actor_class: str, speed_mps: float, parked: bool) -> str:
    """The nuScenes attribute (labels-reference 6.2) of an actor moving at `speed_mps` now.

    Vehicles: parked when the plan never moves them (`never_moves`), else moving / stopped by
    speed (stopped: 'stationary, usually for a short time, with a driver inside': a car at a
    light). Pedestrians: moving / standing by speed; CARLA's walkers never sit or lie down.
    Two-wheelers: with_rider always: CARLA's bicycles and motorcycles are spawned with their
    rider (tagged Rider, labels-reference 3.3), moving or not. Props: '' (nuScenes gives
    movable and static objects no attribute).
    """
    cls = ActorClass(actor_class)
    if cls in (ActorClass.MOTORCYCLE, ActorClass.BICYCLE):
        return "cycle.with_rider"
    if cls is ActorClass.PEDESTRIAN:
        return "pedestrian.moving" if speed_mps > MOVING_MPS else "pedestrian.standing"
    if cls is ActorClass.PROP:
        return ""
    if parked:
        return "vehicle.parked"
    return "vehicle.moving" if speed_mps > MOVING_MPS else "vehicle.stopped"
