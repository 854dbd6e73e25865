"""The typed scenario (`ScenarioSpec`): what a YAML file means once its keys and types are checked.

Values that vary per episode stay expressions here (`Value`); the compiler samples them.
Cross-references (actor names, $params) are checked by `checks.py` after this validation.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Optional

import carla
from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from edgecase.scenario.base import Strict, shorthand_schema, suggest
from edgecase.scenario.behaviors import BehaviorStep
from edgecase.scenario.values import Condition, Value

FORMAT_VERSION = 1

WEATHER_PRESETS: tuple[str, ...] = tuple(
    sorted(n for n in dir(carla.WeatherParameters) if isinstance(getattr(carla.WeatherParameters, n), carla.WeatherParameters))
)
"""CARLA 0.9.16's weather presets, read from the installed `carla` module so the names can never drift."""

WEATHER_FIELDS: tuple[str, ...] = tuple(
    n for n in dir(carla.WeatherParameters.ClearNoon) if not n.startswith("_") and n not in WEATHER_PRESETS
)

LANE_KINDS = ("driving", "parking", "sidewalk", "shoulder", "biking")
RELATIVE_LANES = (
    "same", "left", "right", "opposite",
    "parking_left", "parking_right", "sidewalk_left", "sidewalk_right",
    "shoulder_left", "shoulder_right", "biking_left", "biking_right",
)  # fmt: skip
ROLES = ("ego", "adversary", "background")
ACTOR_REF = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)(?:\[(\d+)\])?$")
NAME = r"^[A-Za-z][A-Za-z0-9_]*$"


class Placement(Strict):
    """Where an actor starts: on a lane (by kind or id), relative to another actor, at a junction approach, or at x/y."""

    lane: Optional[str] = Field(None, description=f"a lane kind {LANE_KINDS}, or with relative_to one of {RELATIVE_LANES}")
    road: Optional[int] = Field(None, description="OpenDRIVE road id")
    lane_id: Optional[int] = Field(None, description="OpenDRIVE lane id (negative: drives towards increasing s)")
    s_m: Optional[Value] = Field(None, description="OpenDRIVE s along the road")
    relative_to: Optional[str] = Field(None, description="another actor, e.g. ego or parked[1]")
    ahead_m: Optional[Value] = Field(None, description="centre to centre, along the lane, in the reference's direction of travel")
    behind_m: Optional[Value] = None
    between: Optional[tuple[str, str]] = Field(None, description="the middle of the gap between two actors' boxes")
    junction: Optional[Literal["any"] | int] = Field(None, description="place on a junction approach ('any' or a junction id)")
    approach: Optional[Value] = Field(None, description="which approach of the junction (index); default: chosen by the seed")
    before_m: Optional[Value] = Field(None, description="distance before the junction entry along the approach")
    x_m: Optional[Value] = None
    y_m: Optional[Value] = None
    lateral_m: Value = Field(0.0, description="offset from the lane centre, positive to the right of travel")
    yaw_deg: Value = Field(0.0, description="heading relative to the lane's direction (absolute with x_m/y_m)")

    @property
    def mode(self) -> str:
        if self.x_m is not None or self.y_m is not None:
            return "xy"
        if self.between is not None:
            return "between"
        if self.relative_to is not None:
            return "relative"
        if self.junction is not None:
            return "junction"
        return "lane"

    @model_validator(mode="after")
    def _consistent(self) -> "Placement":
        given = {k for k in self.model_fields_set if getattr(self, k) is not None} - {"lateral_m", "yaw_deg"}
        allowed = {
            "xy": {"x_m", "y_m"},
            "between": {"between", "lane"},
            "relative": {"relative_to", "lane", "ahead_m", "behind_m"},
            "junction": {"junction", "approach", "before_m"},
            "lane": {"lane", "road", "lane_id", "s_m"},
        }[self.mode]
        extra = sorted(given - allowed)
        if extra:
            raise PydanticCustomError("placement", "'{key}' cannot be used in a {mode} placement", {"key": extra[0], "mode": self.mode})
        if self.mode == "xy" and (self.x_m is None or self.y_m is None):
            raise PydanticCustomError("placement", "x_m and y_m go together", {})
        if self.ahead_m is not None and self.behind_m is not None:
            raise PydanticCustomError("placement", "give ahead_m or behind_m, not both", {})
        relative = self.mode in ("relative", "between")
        if self.lane is not None:
            choices = RELATIVE_LANES if relative else LANE_KINDS
            if self.lane not in choices:
                raise PydanticCustomError("placement", "unknown lane '{lane}' ({hint})", {"lane": self.lane, "hint": suggest(self.lane, choices)})
        if self.mode == "lane" and self.lane is None and (self.road is None or self.lane_id is None):
            raise PydanticCustomError("placement", "say where: lane (a kind), road + lane_id, relative_to, between, junction or x_m/y_m", {})
        if self.mode == "lane" and self.s_m is None:
            raise PydanticCustomError("placement", "a lane placement needs s_m", {})
        return self


def _one_or_list(schema: dict[str, Any]) -> None:
    """The JSON Schema of `behavior`: one step (or its name), or a list of them, as `_one_or_many` reads it."""
    step = schema.pop("items")
    schema.pop("type", None)
    schema["anyOf"] = [step, {"type": "array", "items": step}]


class Actor(Strict):
    blueprint: str = Field(description="a CARLA 0.9.16 blueprint id; wildcards (vehicle.*) pick one by the seed")
    classes: Optional[tuple[Literal["car", "van", "truck", "bus", "motorcycle", "bicycle", "pedestrian", "prop"], ...]] = Field(
        None, description="with a wildcard blueprint, only these actor classes"
    )
    role: Optional[Literal["ego", "adversary", "background"]] = Field(None, description="default: ego for the actor named ego, else background")
    count: Value = Field(1, description="a row of this many actors, named name[0], name[1], ...")
    gap_m: Value = Field(1.0, description="bumper-to-bumper gap between the actors of a row")
    at: Placement
    speed_mps: Value = Field(0.0, description="initial speed")
    behavior: tuple[BehaviorStep, ...] = Field((), description="a behavior, or a list of steps with `when:` triggers", json_schema_extra=_one_or_list)
    sensors: Optional[str] = Field(None, description="a sensor rig from sensors/ (ego only)")

    @field_validator("behavior", mode="before")
    @classmethod
    def _one_or_many(cls, raw: Any) -> Any:
        return raw if isinstance(raw, list) else [raw]

    @field_validator("blueprint")
    @classmethod
    def _blueprint_shape(cls, raw: str) -> str:
        if not re.fullmatch(r"[a-z0-9_.*?\[\]-]+", raw):
            raise PydanticCustomError("blueprint", "'{raw}' is not a blueprint id or pattern (e.g. vehicle.tesla.model3, walker.*)", {"raw": raw})
        return raw


class Weather(Strict):
    model_config = ConfigDict(json_schema_extra=shorthand_schema({"type": "string", "enum": list(WEATHER_PRESETS)}))

    preset: str = Field("ClearNoon", description="a CARLA preset, e.g. WetCloudySunset")
    cloudiness: Optional[Value] = None
    precipitation: Optional[Value] = None
    precipitation_deposits: Optional[Value] = None
    wind_intensity: Optional[Value] = None
    sun_azimuth_angle: Optional[Value] = None
    sun_altitude_angle: Optional[Value] = None
    fog_density: Optional[Value] = None
    fog_distance: Optional[Value] = None
    wetness: Optional[Value] = None

    @model_validator(mode="before")
    @classmethod
    def _preset_shorthand(cls, data: Any) -> Any:
        return {"preset": data} if isinstance(data, str) else data

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, raw: str) -> str:
        if raw not in WEATHER_PRESETS:
            raise PydanticCustomError("weather", "unknown weather preset '{raw}' ({hint})", {"raw": raw, "hint": suggest(raw, WEATHER_PRESETS)})
        return raw


class TrafficLights(Strict):
    """Fixed-time control of every signalized junction: two phases, opposite approaches together."""

    green_s: Value = Field(10.0, description="green per phase")
    yellow_s: Value = Field(3.0, description="yellow per phase (ITE rule of thumb: 3-6 s)")
    all_red_s: Value = Field(1.0, description="red for everyone between the phases")
    offset_s: Value = Field(0.0, description="how far into the cycle the episode starts, e.g. uniform(0, 28)")


class Criticality(Strict):
    """A target the compiler solves into start positions and trigger times."""

    conflict: Optional[tuple[str, str]] = Field(None, description="[ego, crosser]: the crosser's path meets the ego's lane")
    ttc_s: Optional[Value] = Field(None, description="with conflict: the ego's time to the crossing path when the crosser enters its lane")
    cut_in: Optional[tuple[str, str]] = Field(None, description="[cutter, ego]: the cutter changes into the ego's lane")
    time_gap_s: Optional[Value] = Field(None, description="with cut_in: bumper-to-bumper gap over the ego's speed when the cut-in ends")

    @model_validator(mode="after")
    def _one_target(self) -> "Criticality":
        crossing = self.conflict is not None or self.ttc_s is not None
        cutting = self.cut_in is not None or self.time_gap_s is not None
        if crossing == cutting:
            raise PydanticCustomError("criticality", "give either conflict + ttc_s or cut_in + time_gap_s", {})
        if crossing and (self.conflict is None or self.ttc_s is None):
            raise PydanticCustomError("criticality", "conflict and ttc_s go together", {})
        if cutting and (self.cut_in is None or self.time_gap_s is None):
            raise PydanticCustomError("criticality", "cut_in and time_gap_s go together", {})
        return self


class Seeds(Strict):
    start: int = Field(0, ge=0)
    count: int = Field(100, ge=1, le=10_000_000)


class Sweep(Strict):
    seeds: Seeds = Field(Seeds(), json_schema_extra=shorthand_schema({"type": "integer", "minimum": 1, "maximum": 10_000_000}))
    grid: dict[str, Annotated[tuple[float | int | str, ...], Field(min_length=1)]] = Field(
        default_factory=dict, description="every combination of these param values (an empty list would make no runs)"
    )

    @model_validator(mode="before")
    @classmethod
    def _seed_count_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("seeds"), int) and not isinstance(data.get("seeds"), bool):
            return {**data, "seeds": {"count": data["seeds"]}}
        return data


class ScenarioSpec(Strict):
    edgecase: int = Field(description="format version of the file")
    name: str = Field(pattern=NAME, max_length=100)
    description: str = ""
    tags: tuple[str, ...] = ()
    extends: Optional[str] = Field(None, description="a base scenario file; this file's keys override its keys")
    map: str = Field(description="builtin:NAME, a path to an .xodr file, or carla:TownXX (a CARLA town; its .xodr from $EDGECASE_CARLA_MAPS for planning)")
    duration_s: Value = 20.0
    step_s: float = Field(0.05, gt=0, le=1.0, description="simulation step (CARLA synchronous mode's fixed_delta_seconds)")
    weather: Weather = Weather()
    traffic_lights: TrafficLights = TrafficLights()
    params: dict[str, Value] = Field(default_factory=dict, description="sampled once per episode; use as $name")
    actors: dict[str, Actor]
    criticality: Optional[Criticality] = None
    expect: tuple[Condition, ...] = Field((), description="oracles that define the edge case; evaluated on the trace")
    sweep: Optional[Sweep] = None

    @field_validator("edgecase")
    @classmethod
    def _version(cls, raw: int) -> int:
        if raw != FORMAT_VERSION:
            raise PydanticCustomError("version", "this file is format {raw}; this edgecase reads format {v}", {"raw": raw, "v": FORMAT_VERSION})
        return raw

    @field_validator("params", "actors")
    @classmethod
    def _names(cls, raw: dict[str, Any]) -> dict[str, Any]:
        for key in raw:
            if not re.fullmatch(NAME, key):
                raise PydanticCustomError("name", "'{key}' is not a valid name (letters, digits, _; starting with a letter)", {"key": key})
        return raw
