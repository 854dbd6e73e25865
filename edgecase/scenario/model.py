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
from edgecase.scenario.behaviors import BehaviorStep, TurnName
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
    "shoulder_left", "shoulder_right", "biking_left", "biking_right", "kerb_left", "kerb_right",
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
    junction: Optional[Literal["any"] | int | str] = Field(
        None, description="place at a junction: 'any' (the compiler finds one that fits), its id, or an actor's name (the junction that actor drives into next)"
    )
    approach: Optional[Literal["same", "left", "right", "opposite"] | Value] = Field(
        None, description="which approach: its index, or with junction: ACTOR, where it comes from seen from that actor's approach; default: chosen by the seed"
    )
    turn: Optional[TurnName] = Field(None, description="the approach must allow this turn (with after_m: the turn taken to the exit)")
    signalized: Optional[bool] = Field(None, description="with junction: any, only junctions with (true) or without (false) traffic lights")
    before_m: Optional[Value] = Field(None, description="distance before the junction entry along the approach")
    after_m: Optional[Value] = Field(None, description="instead of before_m: on the lane the approach's turn (default straight) leaves by, this far past the junction")
    before_bend_m: Optional[Value] = Field(None, description="lane form, instead of s_m: this far before the first bend (R < 100 m, >= 45 degrees) along the lane")
    past_bend_m: Optional[Value] = Field(None, description="relative form, instead of ahead_m: this far past the end of the next bend ahead of the reference")
    ends_within_m: Optional[Value] = Field(None, description="relative form, a filter: the lane beside the reference ends within this far ahead (an acceleration lane)")
    straight_ahead_m: Optional[Value] = Field(None, description="lane form, a filter: the lane runs on this far ahead without a bend")
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
            "relative": {"relative_to", "lane", "ahead_m", "behind_m", "past_bend_m", "ends_within_m"},
            "junction": {"junction", "approach", "before_m", "after_m", "turn", "signalized", "lane"},
            "lane": {"lane", "road", "lane_id", "s_m", "before_bend_m", "straight_ahead_m"},
        }[self.mode]
        extra = sorted(given - allowed)
        if extra:
            raise PydanticCustomError("placement", "'{key}' cannot be used in a {mode} placement", {"key": extra[0], "mode": self.mode})
        if self.mode == "xy" and (self.x_m is None or self.y_m is None):
            raise PydanticCustomError("placement", "x_m and y_m go together", {})
        if self.ahead_m is not None and self.behind_m is not None:
            raise PydanticCustomError("placement", "give ahead_m or behind_m, not both", {})
        if self.before_m is not None and self.after_m is not None:
            raise PydanticCustomError("placement", "give before_m or after_m, not both", {})
        if self.signalized is not None and self.junction != "any":
            raise PydanticCustomError("placement", "signalized chooses among junctions: use it with junction: any", {})
        if isinstance(self.approach, str) and not (isinstance(self.junction, str) and self.junction != "any"):
            raise PydanticCustomError(
                "placement", "approach: {side} is seen from an actor: use it with junction: ACTOR (e.g. junction: ego)", {"side": self.approach}
            )
        if isinstance(self.junction, str) and self.junction != "any" and not re.fullmatch(NAME, self.junction):
            raise PydanticCustomError("placement", "junction: '{j}' is not 'any', a junction id or an actor's name", {"j": self.junction})
        relative = self.mode in ("relative", "between", "junction")
        if self.lane is not None:
            choices = RELATIVE_LANES if relative else LANE_KINDS
            if self.lane not in choices:
                raise PydanticCustomError("placement", "unknown lane '{lane}' ({hint})", {"lane": self.lane, "hint": suggest(self.lane, choices)})
        if self.mode == "lane" and self.lane is None and (self.road is None or self.lane_id is None):
            raise PydanticCustomError("placement", "say where: lane (a kind), road + lane_id, relative_to, between, junction or x_m/y_m", {})
        if self.mode == "lane" and (self.s_m is None) == (self.before_bend_m is None):
            raise PydanticCustomError("placement", "a lane placement needs s_m or before_bend_m (one of them)", {})
        if self.past_bend_m is not None and (self.ahead_m is not None or self.behind_m is not None):
            raise PydanticCustomError("placement", "give past_bend_m or ahead_m/behind_m, not both", {})
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
    green_for: Optional[str] = Field(
        None, description="an actor: offset_s counts from the start of the green of the lights at its next junction (any map, any approach)"
    )


class Criticality(Strict):
    """A target the compiler solves into start positions and trigger times."""

    conflict: Optional[tuple[str, str]] = Field(None, description="[ego, crosser]: the crosser's path meets the ego's lane")
    ttc_s: Optional[Value] = Field(None, description="with conflict: the ego's time to the crossing path when the crosser enters its lane")
    cut_in: Optional[tuple[str, str]] = Field(None, description="[cutter, ego]: the cutter changes into the ego's lane")
    time_gap_s: Optional[Value] = Field(None, description="with cut_in: bumper-to-bumper gap over the ego's speed when the cut-in ends")
    paths_cross: Optional[tuple[str, str]] = Field(
        None, description="[ego, other]: two vehicles whose routes cross (or merge) in a junction; the compiler finds the crossing point"
    )
    arrive_s: Optional[Value] = Field(None, description="with paths_cross: when the first actor's centre reaches the crossing point")
    lead_s: Optional[Value] = Field(None, description="with paths_cross: the second reaches it this much earlier (negative: later)")

    @model_validator(mode="after")
    def _one_target(self) -> "Criticality":
        crossing = self.conflict is not None or self.ttc_s is not None
        cutting = self.cut_in is not None or self.time_gap_s is not None
        meeting = self.paths_cross is not None or self.arrive_s is not None or self.lead_s is not None
        if crossing + cutting + meeting != 1:
            raise PydanticCustomError("criticality", "give one of: conflict + ttc_s, cut_in + time_gap_s, paths_cross + arrive_s + lead_s", {})
        if meeting and (self.paths_cross is None or self.arrive_s is None or self.lead_s is None):
            raise PydanticCustomError("criticality", "paths_cross, arrive_s and lead_s go together", {})
        if crossing and (self.conflict is None or self.ttc_s is None):
            raise PydanticCustomError("criticality", "conflict and ttc_s go together", {})
        if cutting and (self.cut_in is None or self.time_gap_s is None):
            raise PydanticCustomError("criticality", "cut_in and time_gap_s go together", {})
        return self


FRICTION_RANGE = (0.05, 1.2)  # tyre-road mu: polished ice ~0.05-0.1 up to dry asphalt with sticky tyres ~1.1-1.2


class Surface(Strict):
    """A patch of road with its own tyre-road friction (ice, wet leaves, oil), placed like an actor."""

    at: Placement = Field(description="the patch's centre, placed as an actor is (lane, relative_to, between, junction or x/y)")
    length_m: Value = Field(20.0, description="along the lane")
    width_m: Optional[Value] = Field(None, description="across the lane; default: the lane's width")
    friction: Value = Field(description=f"tyre-road friction coefficient mu, {FRICTION_RANGE[0]}..{FRICTION_RANGE[1]} (dry asphalt ~0.9, wet ~0.5, ice ~0.1)")

    @field_validator("friction")
    @classmethod
    def _plausible_mu(cls, raw: Any) -> Any:
        if isinstance(raw, (int, float)) and not FRICTION_RANGE[0] <= raw <= FRICTION_RANGE[1]:
            raise PydanticCustomError("friction", "friction {raw} is outside {lo}..{hi} (a tyre-road mu: ice ~0.1, dry asphalt ~0.9)",
                                      {"raw": raw, "lo": FRICTION_RANGE[0], "hi": FRICTION_RANGE[1]})
        return raw


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
    surfaces: dict[str, Surface] = Field(default_factory=dict, description="patches of road with their own friction (ice, wet leaves, oil)")
    criticality: Optional[Criticality] = None
    expect: tuple[Condition, ...] = Field((), description="oracles that define the edge case; evaluated on the trace")
    sweep: Optional[Sweep] = None

    @field_validator("edgecase")
    @classmethod
    def _version(cls, raw: int) -> int:
        if raw != FORMAT_VERSION:
            raise PydanticCustomError("version", "this file is format {raw}; this edgecase reads format {v}", {"raw": raw, "v": FORMAT_VERSION})
        return raw

    @field_validator("params", "actors", "surfaces")
    @classmethod
    def _names(cls, raw: dict[str, Any]) -> dict[str, Any]:
        for key in raw:
            if not re.fullmatch(NAME, key):
                raise PydanticCustomError("name", "'{key}' is not a valid name (letters, digits, _; starting with a letter)", {"key": key})
        return raw
