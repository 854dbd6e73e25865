"""EpisodePlan: one episode, fully decided. Frozen, JSON round-trips, identified by a content hash.

Everything random was drawn by the compiler from the seed, so a backend that runs this plan
needs no random numbers of its own: the same plan gives the same episode on any machine.
Poses are CARLA's world frame (left-handed, x forward, y right, z up; metres, degrees).
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, model_serializer

PLAN_FORMAT_VERSION = 1

Scalar = Union[bool, int, float, str]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Pose(Frozen):
    """The actor's CARLA transform: vehicles and props stand on their origin, walkers' origin is their box centre."""

    x_m: float
    y_m: float
    z_m: float
    yaw_deg: float


class LaneAnchor(Frozen):
    """Where on the road network the actor starts (its centre projected on the lane)."""

    road_id: int
    lane_id: int
    s_m: float
    kind: Optional[str]  # driving, parking, sidewalk, shoulder, biking; None for other lane types
    width_m: float


class Size(Frozen):
    """Full box sizes; CARLA's `bounding_box.extent` holds the halves."""

    length_m: float
    width_m: float
    height_m: float


class TriggerPlan(Frozen):
    kind: Literal["after_s", "distance_to", "ttc_to", "in_region", "event"]
    after_s: Optional[float] = None
    actor: Optional[str] = None  # distance_to / ttc_to / the actor watched by in_region
    below: Optional[float] = None  # metres for distance_to, seconds for ttc_to
    x_m: Optional[float] = None
    y_m: Optional[float] = None
    radius_m: Optional[float] = None
    event: Optional[str] = None  # 'actor.behavior.start|end', actor names resolved to instances
    delay_s: float = 0.0


class BehaviorPlan(Frozen):
    name: str
    params: dict[str, Union[Scalar, tuple[str, ...], None]]
    trigger: Optional[TriggerPlan] = None  # None: when the previous step ends (the first: at t=0)


class ActorPlan(Frozen):
    id: int  # 1-based spawn order; the track id labels carry
    name: str  # instance name: 'ego', 'parked[1]'
    role: Literal["ego", "adversary", "background"]
    blueprint: str
    actor_class: str
    semantic_tag: int
    size: Size
    wheelbase_m: Optional[float]
    pose: Pose
    lane: Optional[LaneAnchor]
    speed_mps: float
    behaviors: tuple[BehaviorPlan, ...]
    sensors: Optional[str] = None
    # 'dropped': lost cargo, not in the world at the start; it rides on `carried_by` (its pose is
    # on that carrier's load bed) until the carrier's drop_cargo step drops it. Defaults keep
    # plans written before these fields valid.
    spawn: Literal["start", "dropped"] = "start"
    carried_by: Optional[str] = None  # the carrier's instance name, for spawn 'dropped'


class CriticalityPlan(Frozen):
    """The solved target, with the quantities the solver chose, for reports and tests."""

    kind: Literal["conflict", "cut_in", "paths_cross"]
    actors: tuple[str, str]
    target_s: float  # ttc_s for conflict, time_gap_s for cut_in
    solved: dict[str, float]


class WeatherPlan(Frozen):
    preset: str
    params: dict[str, float]  # every carla.WeatherParameters field, preset values with overrides


class TrafficLightsPlan(Frozen):
    """The light cycle every signalized junction runs (see edgecase.sim.lights)."""

    green_s: float = 10.0
    yellow_s: float = 3.0
    all_red_s: float = 1.0
    offset_s: float = 0.0
    green_for: Optional[str] = None  # an actor instance: offset_s counts from its lights' green; left out of the JSON when None

    @model_serializer(mode="wrap")
    def _drop_no_green_for(self, handler):  # plans without it keep their JSON and hashes
        data = handler(self)
        if self.green_for is None and isinstance(data, dict):
            data.pop("green_for", None)
        return data


class SurfacePlan(Frozen):
    """A patch of road with its own tyre-road friction: an oriented rectangle on the ground."""

    name: str
    x_m: float  # the patch's centre
    y_m: float
    z_m: float
    yaw_deg: float  # its length runs along this heading (the lane's direction)
    length_m: float
    width_m: float
    friction: float  # tyre-road mu (dry asphalt ~0.9)


class MapRef(Frozen):
    source: str  # as written: builtin:NAME, a path, carla:TownXX
    name: str
    sha256: str  # of the OpenDRIVE text, so a changed map file changes the plan


class EpisodePlan(Frozen):
    format_version: int = PLAN_FORMAT_VERSION
    scenario: str
    scenario_sha256: str
    tags: tuple[str, ...] = ()  # the scenario's tags; labels carry them so training data can select the edge case
    seed: int
    map: MapRef
    duration_s: float
    step_s: float
    weather: WeatherPlan
    traffic_lights: TrafficLightsPlan = TrafficLightsPlan()
    params: dict[str, Scalar]
    actors: tuple[ActorPlan, ...]
    criticality: Optional[CriticalityPlan] = None
    expect: tuple[str, ...] = ()
    surfaces: tuple[SurfacePlan, ...] = ()  # low-friction patches; left out of the JSON when empty (plans and hashes stay as before)

    @model_serializer(mode="wrap")
    def _drop_no_surfaces(self, handler):
        data = handler(self)
        if not self.surfaces and isinstance(data, dict):
            data.pop("surfaces", None)
        return data

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)

    def content_hash(self) -> str:
        """sha256 of the canonical JSON (which includes the format version)."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def __hash__(self) -> int:
        return int(self.content_hash()[:16], 16)

    def actor(self, name: str) -> ActorPlan:
        return next(a for a in self.actors if a.name == name)

    @property
    def ego(self) -> ActorPlan:
        return next(a for a in self.actors if a.role == "ego")

    @property
    def steps(self) -> int:
        return round(self.duration_s / self.step_s)
