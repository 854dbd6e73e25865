"""Behaviors and triggers as the scenario language spells them (names and parameters).

Only their shape lives here; the simulator gives them motion. Parameters are in SI units and
carry defaults that a driver or pedestrian would plausibly show; every default names its source.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Literal, Optional

from pydantic import ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from edgecase.scenario.base import Strict, shorthand_schema, suggest
from edgecase.scenario.values import Value

Side = Literal["left", "right"]
TurnName = Literal["left", "right", "straight"]


class FollowLane(Strict):
    """Drive along the lane with IDM car-following (Treiber et al. 2000 parameters)."""

    speed_mps: Optional[Value] = Field(None, description="target speed; default: the actor's initial speed")
    time_headway_s: Value = Field(1.5, description="IDM desired time gap (Treiber: 1.0-2.0 s)")
    min_gap_m: Value = Field(2.0, description="IDM jam distance")
    max_accel_mps2: Value = Field(1.5, description="IDM maximum acceleration")
    comfort_decel_mps2: Value = Field(2.0, description="IDM comfortable deceleration")
    route: tuple[TurnName, ...] = Field((), description="turns to take at the next junctions, in order")


class LaneChange(Strict):
    direction: Side
    duration_s: Value = Field(4.0, description="lateral manoeuvre time (naturalistic lane changes: 3-6 s)")


class CutIn(Strict):
    """Change into `target`'s lane just ahead of it; the gap comes from `criticality.time_gap_s`."""

    target: str
    duration_s: Value = Field(2.0, description="an aggressive lane change takes 1.5-2.5 s")


class HardBrake(Strict):
    decel_mps2: Value = Field(8.0, description="emergency braking on dry asphalt: 7-9 m/s2")


class Stop(Strict):
    decel_mps2: Value = Field(3.0, description="a normal stop: 2-4 m/s2")


class Stalled(Strict):
    hazard_lights: bool = True


class PullOut(Strict):
    """Leave a parking lane into the adjacent driving lane."""

    direction: Side = "left"
    speed_mps: Value = 4.0
    duration_s: Value = 3.0


class Turn(Strict):
    direction: TurnName
    speed_mps: Optional[Value] = Field(None, description="speed through the junction; default: keep speed")


class RunRedLight(Strict):
    speed_mps: Optional[Value] = None


class WrongWay(Strict):
    speed_mps: Optional[Value] = None


class Cross(Strict):
    """Cross the road at a right angle to the lane the actor stands on."""

    speed_mps: Value = Field(1.4, description="walking 1.2-1.5 m/s, running 2.5-4 m/s (Fruin 1971; LaPlante 2004)")
    direction: Literal["left", "right", "auto"] = Field("auto", description="auto: towards the road's centre")
    running: bool = False
    at_crosswalk: bool = Field(False, description="start at the kerb end of the nearest crosswalk (within 50 m) and cross along it")


class OpenDoor(Strict):
    side: Side = "left"
    duration_s: Value = Field(1.0, description="a door opens fully in about 1 s")


class DropCargo(Strict):
    blueprint: str = "static.prop.box*"
    count: Value = 1


class Walk(Strict):
    speed_mps: Value = 1.4


class Idle(Strict):
    pass


BEHAVIORS: dict[str, type[Strict]] = {
    "follow_lane": FollowLane,
    "lane_change": LaneChange,
    "cut_in": CutIn,
    "hard_brake": HardBrake,
    "stop": Stop,
    "stalled": Stalled,
    "pull_out": PullOut,
    "turn": Turn,
    "run_red_light": RunRedLight,
    "wrong_way": WrongWay,
    "cross": Cross,
    "open_door": OpenDoor,
    "drop_cargo": DropCargo,
    "walk": Walk,
    "idle": Idle,
}


class Region(Strict):
    x_m: Value
    y_m: Value
    radius_m: Value


class Trigger(Strict):
    """When a behavior step starts. Exactly one condition; `delay_s` waits after it holds."""

    after_s: Optional[Value] = Field(None, description="episode time has reached this")
    distance_to: Optional[str] = Field(None, description="with below_m: this actor is closer than below_m")
    below_m: Optional[Value] = None
    ttc_to: Optional[str] = Field(None, description="with below_s: time-to-collision to this actor below below_s")
    below_s: Optional[Value] = None
    in_region: Optional[Region] = Field(None, description="the actor (or `actor`) enters this circle")
    actor: Optional[str] = Field(None, description="whose position in_region watches; default: the actor itself")
    event: Optional[str] = Field(None, description="'actor.behavior.start' or 'actor.behavior.end'")
    delay_s: Value = 0.0

    @model_validator(mode="after")
    def _one_condition(self) -> "Trigger":
        kinds = [k for k in ("after_s", "distance_to", "ttc_to", "in_region", "event") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise PydanticCustomError(
                "trigger", "a trigger needs exactly one of after_s, distance_to, ttc_to, in_region, event (got {n})", {"n": len(kinds)}
            )
        pairs = {"distance_to": "below_m", "ttc_to": "below_s"}
        for key, partner in pairs.items():
            if (getattr(self, key) is None) != (getattr(self, partner) is None):
                raise PydanticCustomError("trigger", "{key} and {partner} go together", {"key": key, "partner": partner})
        if self.actor is not None and self.in_region is None:
            raise PydanticCustomError("trigger", "'actor' is only used with in_region", {})
        if self.event is not None and (self.event.count(".") != 2 or not self.event.endswith((".start", ".end"))):
            raise PydanticCustomError("trigger", "event must read 'actor.behavior.start' or 'actor.behavior.end'", {})
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("after_s", "distance_to", "ttc_to", "in_region", "event") if getattr(self, k) is not None)


class BehaviorStep(Strict):
    """One behavior and, optionally, when it starts (default: when the previous step ends, or at t=0)."""

    model_config = ConfigDict(json_schema_extra=shorthand_schema({"type": "string", "enum": list(BEHAVIORS)}))

    follow_lane: Optional[FollowLane] = None
    lane_change: Optional[LaneChange] = None
    cut_in: Optional[CutIn] = None
    hard_brake: Optional[HardBrake] = None
    stop: Optional[Stop] = None
    stalled: Optional[Stalled] = None
    pull_out: Optional[PullOut] = None
    turn: Optional[Turn] = None
    run_red_light: Optional[RunRedLight] = None
    wrong_way: Optional[WrongWay] = None
    cross: Optional[Cross] = None
    open_door: Optional[OpenDoor] = None
    drop_cargo: Optional[DropCargo] = None
    walk: Optional[Walk] = None
    idle: Optional[Idle] = None
    when: Optional[Trigger] = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        """`hard_brake` alone means `{hard_brake: {}}`; so does `{hard_brake: null}`."""
        if isinstance(data, str):
            data = {data: {}}
        if isinstance(data, dict):
            data = {k: ({} if v is None and k in BEHAVIORS else v) for k, v in data.items()}
            names = [k for k in data if k != "when"]
            for name in names:
                if name not in BEHAVIORS:
                    raise PydanticCustomError(
                        "unknown_key", "unknown behavior '{key}' ({hint})", {"key": name, "hint": suggest(str(name), list(BEHAVIORS))}
                    )
            if len(names) != 1:
                raise PydanticCustomError("behavior", "a behavior step names exactly one behavior (got {n})", {"n": len(names)})
        return data

    @cached_property
    def name(self) -> str:
        return next(name for name in BEHAVIORS if getattr(self, name) is not None)

    @property
    def params(self) -> Strict:
        return getattr(self, self.name)


