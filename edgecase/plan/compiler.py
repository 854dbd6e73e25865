"""compile_plan(scenario, seed) -> EpisodePlan: every choice the scenario leaves open, decided.

Order of work (and of random draws): params, duration, weather, then each actor in placement
order (count, blueprint, placement, speed, behaviors), then the criticality target, then the
checks that the start is physically sound (no overlapping boxes, everyone on their lane).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import carla

from edgecase.errors import DoesNotFit, InputError, SourcePos
from edgecase.plan.blueprints import Blueprint, catalog
from edgecase.plan.cargo import cargo_actors
from edgecase.plan.checks import check_start
from edgecase.plan.criticality import Route, cut_in_offset_m, route_turns, solve_crossing, solve_meeting
from edgecase.plan.model import (
    ActorPlan, BehaviorPlan, CriticalityPlan, EpisodePlan, LaneAnchor, MapRef, Pose, Size, TrafficLightsPlan, TriggerPlan,
    WeatherPlan,
)  # fmt: skip
from edgecase.plan.at_crosswalk import crosswalk_spot
from edgecase.plan.placement import open_choices, place, where_of
from edgecase.plan.spots import Spot, Where, lane_spot
from edgecase.plan.sampling import Sampler, Scalar
from edgecase.plan.surfaces import compile_surfaces
from edgecase.roads import LaneKind, RoadNetwork
from edgecase.roads.waypoints import wrap_deg
from edgecase.scenario import Scenario
from edgecase.scenario.behaviors import Cross
from edgecase.scenario.checks import ego_name
from edgecase.scenario.expr import Expr, parse_expr
from edgecase.scenario.model import WEATHER_FIELDS, Actor
from edgecase.sensors import Rig, load_rig

MAX_PLACES = 400  # open places tried before a scenario is declared not to fit the map
SEEDED_START = parse_expr("uniform(0, 1)")  # where the search among junction approaches starts
MAX_ROW = 200  # actors in one row: more is a typo, and would make the episode crawl
DEFAULT_CUT_IN_START_S = 2.0
# Plausible ranges by unit suffix: a value outside is a typo or a unit slip (km/h written as m/s).
RANGES = {"_mps": (0.0, 100.0), "_mps2": (0.0, 30.0), "_s": (0.0, 3600.0), "_m": (0.0, 10_000.0)}
# CARLA's WeatherParameters: the rest are percentages (0-100); fog_distance is metres (0 to infinity).
WEATHER_RANGES = {"sun_altitude_angle": (-90.0, 90.0), "sun_azimuth_angle": (0.0, 360.0), "fog_distance": (0.0, 10_000.0)}


def compile_plan(scenario: Scenario, seed: int, overrides: Mapping[str, Scalar] | None = None) -> EpisodePlan:
    spec = scenario.spec
    sampler = Sampler(scenario, seed, overrides)
    network = RoadNetwork.load(spec.map, base_dir=scenario.base_dir, pos=scenario.pos("map"))
    duration = sampler.number(spec.duration_s, ("duration_s",), lo=spec.step_s, hi=3600.0)
    weather = _weather(scenario, sampler)
    lights = _traffic_lights(scenario, sampler)
    builder, criticality, actors = _build_actors(scenario, sampler, network)
    if spec.traffic_lights.green_for:
        lights = lights.model_copy(update={"green_for": builder.instance(spec.traffic_lights.green_for, scenario.pos("traffic_lights", "green_for"))})
    surfaces = compile_surfaces(scenario, sampler, network, builder.spots, builder.instance)  # drawn after every actor
    return EpisodePlan(
        scenario=spec.name,
        scenario_sha256=scenario.sha256,
        tags=tuple(spec.tags),
        seed=seed,
        map=MapRef(source=spec.map, name=network.name, sha256=network.sha256),
        duration_s=round(duration / spec.step_s) * spec.step_s,  # whole steps: the loop never runs a partial one
        step_s=spec.step_s,
        weather=weather,
        traffic_lights=lights,
        params=dict(sampler.params),
        actors=actors,
        criticality=criticality or builder.cut_in,
        expect=tuple(str(e) for e in spec.expect),
        surfaces=surfaces,
    )


def _build_actors(scenario: Scenario, sampler: Sampler, network: RoadNetwork) -> tuple[_ActorBuilder, CriticalityPlan | None, tuple[ActorPlan, ...]]:
    """Place every actor, trying the anchor's open places in turn until the scenario fits.

    A scenario that does not name its road (`lane: driving`, `junction: any`) runs on any map
    with the features it needs: the first place where every placement, the criticality target
    and the start check succeed is used. Values drawn by the seed are memoised, so each try sees
    the same params; only the place changes."""
    first_error: DoesNotFit | None = None
    attempt = 0
    while True:
        builder = _ActorBuilder(scenario, sampler, network, attempt)
        try:
            for name in scenario.placement_order:
                builder.add(name)
            criticality = builder.solve_criticality()
            actors = builder.plans()
            check_start(actors, scenario)
            return builder, criticality, actors
        except DoesNotFit as err:
            first_error = first_error or err
            attempt += 1
            if attempt >= min(builder.places, MAX_PLACES):
                break
    if builder.places <= 1:
        raise first_error
    raise DoesNotFit(
        f"no place on map '{network.name}' fits this scenario ({attempt} places tried for '{builder.anchor}'); at the first: {first_error.message}",
        first_error.pos,
        hint=first_error.hint,
    )


@lru_cache(maxsize=64)
def _preset(name: str) -> dict[str, float]:
    preset = getattr(carla.WeatherParameters, name)
    return {field: float(getattr(preset, field)) for field in WEATHER_FIELDS}


def _weather(scenario: Scenario, sampler: Sampler) -> WeatherPlan:
    w = scenario.spec.weather
    params = dict(_preset(w.preset))
    for field in type(w).model_fields:
        value = getattr(w, field)
        if field != "preset" and value is not None:
            lo, hi = WEATHER_RANGES.get(field, (0.0, 100.0))
            params[field] = sampler.number(value, ("weather", field), lo=lo, hi=hi)
    return WeatherPlan(preset=w.preset, params=params)


def _traffic_lights(scenario: Scenario, sampler: Sampler) -> TrafficLightsPlan:
    spec = scenario.spec.traffic_lights
    ranges = {"green_s": (1.0, 600.0), "yellow_s": (0.0, 60.0), "all_red_s": (0.0, 60.0), "offset_s": (0.0, 3600.0)}
    return TrafficLightsPlan(**{
        field: sampler.number(getattr(spec, field), ("traffic_lights", field), lo=lo, hi=hi) for field, (lo, hi) in ranges.items()
    })  # fmt: skip


class _ActorBuilder:
    """Places actors one by one; later placements refer to earlier spots by instance name."""

    def __init__(self, scenario: Scenario, sampler: Sampler, network: RoadNetwork, attempt: int = 0):
        self.scenario, self.sampler, self.network = scenario, sampler, network
        self.attempt = attempt  # which of the anchor's open places this build tries
        self.places = 1  # how many the anchor has (known once it is placed)
        self.anchor: str | None = None
        self.spec = scenario.spec
        crit = self.spec.criticality
        self.cutter = crit.cut_in[0].split("[")[0] if crit and crit.cut_in else None
        self.crosser = crit.conflict[1].split("[")[0] if crit and crit.conflict else None
        self.meeter = crit.paths_cross[1].split("[")[0] if crit and crit.paths_cross else None
        self.counts: dict[str, int] = {}
        self.spots: dict[str, Spot] = {}
        self.blueprints: dict[str, Blueprint] = {}
        self.speeds: dict[str, float] = {}
        self.instance_of: dict[str, str] = {}  # instance -> actor name
        self.behaviors: dict[str, list[BehaviorPlan]] = {}
        self.cut_in: CriticalityPlan | None = None
        self.wheres: dict[str, Where] = {}
        self.meeting: CriticalityPlan | None = None  # paths_cross, solved as soon as both actors are placed

    def _choose_place(self, inst: str, where: Where) -> Where:
        """The first placed actor whose place is open is the anchor: this build puts it at its
        `attempt`-th open place, counted from one the seed draws for `junction: any`."""
        self.anchor = inst
        options = open_choices(self.network, where)
        if not options:
            return where  # place() explains what the map lacks
        self.places = len(options)
        first = self.sampler.any(SEEDED_START, ("anchor",)) if where.mode == "junction" else 0.0
        return options[(int(first * len(options)) + self.attempt) % len(options)]

    def pos(self, *path: str | int) -> SourcePos:
        return self.scenario.pos(*path)

    def instance(self, ref: str, pos: SourcePos) -> str:
        """'parked[1]' or 'parked' -> the instance name used in the plan."""
        name, _, index = ref.partition("[")
        i = int(index.rstrip("]") or 0)
        count = self.counts.get(name)
        if count is None:
            count = self.sampler.integer(self.spec.actors[name].count, ("actors", name, "count"), lo=1, hi=MAX_ROW)
            self.counts[name] = count  # a trigger may name an actor placed later; its count is drawn now
        if i >= count:
            raise InputError(f"'{ref}' does not exist in this episode: '{name}' has {count} actor(s)", pos)
        return name if count == 1 else f"{name}[{i}]"

    def add(self, name: str) -> None:
        actor = self.spec.actors[name]
        if name not in self.counts:
            self.counts[name] = self.sampler.integer(actor.count, ("actors", name, "count"), lo=1, hi=MAX_ROW)
        count = self.counts[name]
        if actor.sensors is not None:
            _rig(actor.sensors, self.scenario.base_dir, self.pos("actors", name, "sensors"))
        if count > 1 and name in (self.cutter, self.crosser, self.meeter):
            raise InputError(f"'{name}' takes part in the criticality target, so it is a single actor (count: 1)", self.pos("actors", name, "count"))
        previous: str | None = None
        for i in range(count):
            inst = name if count == 1 else f"{name}[{i}]"
            self.instance_of[inst] = name
            self.blueprints[inst] = self._blueprint(actor, name)
            self.speeds[inst] = self.sampler.number(actor.speed_mps, ("actors", name, "speed_mps"), lo=0.0, hi=100.0, key=inst)
            where = self._where(actor, name, previous, inst)
            if self.anchor is None and where.mode in ("lane", "junction"):
                where = self._choose_place(inst, where)
            self.wheres[inst] = where
            length = self.blueprints[inst].length_m
            self.spots[inst] = place(self.network, where, self.spots, self.sampler.pick, length, self.pos("actors", name, "at"),
                                     width_m=self.blueprints[inst].width_m)  # fmt: skip
            previous = inst
        for i in range(count):
            inst = name if count == 1 else f"{name}[{i}]"
            steps = self.behaviors[inst] = [self._step(name, inst, k, step) for k, step in enumerate(actor.behavior)]
            if steps and steps[0].name == "cross" and "yaw_deg" not in actor.at.model_fields_set:
                # Someone about to cross the road stands facing it (labels and renders show which way).
                self.spots[inst] = replace(self.spots[inst], yaw_deg=steps[0].params["heading_deg"])
        if self.meeter is not None:  # later placements (relative_to either actor) see the solved starts
            self.meeting = self._solve_paths_cross()

    def _blueprint(self, actor: Actor, name: str) -> Blueprint:
        return self._choose_blueprint(actor.blueprint, actor.classes, ("actors", name, "blueprint"))

    def _choose_blueprint(self, pattern: str, classes: tuple[str, ...] | None, path: tuple) -> Blueprint:
        """The blueprint an id names, or one drawn by the seed from those a wildcard matches."""
        try:
            if not any(c in pattern for c in "*?["):
                return catalog().get(pattern)
            options = _matches(pattern, classes)
        except InputError as err:
            raise InputError(err.message, self.pos(*path), err.hint) from None
        return options[self.sampler.pick(len(options))]

    def _where(self, actor: Actor, name: str, previous: str | None, inst: str) -> Where:
        path = ("actors", name, "at")
        if previous is None:
            along = (lambda: self._solve_cut_in(actor, name)) if name == self.cutter else None
            return where_of(actor.at, path, self.sampler, self.instance, self.pos(*path), along)
        # The rest of a row: one after another along the same lane, with the row's offsets.
        gap = self.sampler.number(actor.gap_m, ("actors", name, "gap_m"), lo=0.0, hi=1000.0, key=inst)
        along_m = self.blueprints[previous].length_m / 2 + gap + self.blueprints[inst].length_m / 2
        row = self.wheres[previous]
        return Where("relative", "same", relative_to=previous, along_m=along_m, lateral_m=row.lateral_m, yaw_deg=row.yaw_deg)

    def _solve_cut_in(self, actor: Actor, name: str) -> float:
        crit, at = self.spec.criticality, actor.at
        pos = self.pos("criticality", "cut_in")
        if at.mode != "relative" or at.ahead_m is not None or at.behind_m is not None:
            raise InputError(
                f"criticality.cut_in places '{name}': give it relative_to: {crit.cut_in[1]} and a lane beside it, without ahead_m/behind_m",
                self.pos("actors", name, "at"),
            )
        ego = self.instance(crit.cut_in[1], pos)
        if self.instance(at.relative_to, pos) != ego:
            raise InputError(f"criticality.cut_in: place '{name}' relative_to '{crit.cut_in[1]}'", self.pos("actors", name, "at"))
        index, step = next((k, s) for k, s in enumerate(actor.behavior) if s.name == "cut_in")
        spath = ("actors", name, "behavior", index)
        if step.when is not None and step.when.after_s is None:
            raise InputError("criticality.cut_in: the cut_in step starts at a time (when: {after_s: ...})", self.pos(*spath, "when"))
        start = DEFAULT_CUT_IN_START_S if step.when is None else self.sampler.number(step.when.after_s, spath + ("when", "after_s"), lo=0.0, hi=1e5, key=name)
        duration = self.sampler.number(step.cut_in.duration_s, spath + ("cut_in", "duration_s"), lo=0.0, hi=3600.0, key=name)
        gap = self.sampler.number(crit.time_gap_s, ("criticality", "time_gap_s"), lo=0.0, hi=60.0)
        speeds = self.speeds[ego], self.speeds[name]
        lengths = self.blueprints[ego].length_m, self.blueprints[name].length_m
        offset = cut_in_offset_m(gap, speeds[0], speeds[1], start, duration, lengths[0], lengths[1], pos)
        solved = {"start_s": start, "duration_s": duration, "offset_m": offset, "ego_speed_mps": speeds[0], "cutter_speed_mps": speeds[1]}
        self.cut_in = CriticalityPlan(kind="cut_in", actors=(name, ego), target_s=gap, solved=solved)
        return offset

    def _step(self, name: str, inst: str, index: int, step) -> BehaviorPlan:
        path = ("actors", name, "behavior", index)
        params: dict = {}
        for key in type(step.params).model_fields:
            params[key] = self._param(key, getattr(step.params, key), path + (step.name, key), inst)
        if step.name == "cross":
            params["heading_deg"] = self._cross_heading(inst, step.params, index)
        if step.name == "follow_lane" and params["speed_mps"] is None:
            params["speed_mps"] = self.speeds[inst]  # documented default: the actor's initial speed
        if step.name == "drop_cargo":  # a wildcard is chosen here, like an actor's, so the plan holds every choice
            params["blueprint"] = self._choose_blueprint(params["blueprint"], None, path + (step.name, "blueprint")).id
        trigger = None if step.when is None else self._trigger(step.when, path + ("when",), inst)
        if name == self.cutter and step.name == "cut_in" and self.cut_in is not None:
            trigger = TriggerPlan(kind="after_s", after_s=self.cut_in.solved["start_s"])
        return BehaviorPlan(name=step.name, params=params, trigger=trigger)

    def _param(self, key: str, value, path: tuple, inst: str):
        if key == "target" and isinstance(value, str):
            return self.instance(value, self.pos(*path))
        if isinstance(value, (tuple, list)):
            return tuple(value)
        if isinstance(value, Expr) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            lo, hi = next((r for suffix, r in RANGES.items() if key.endswith(suffix)), (-1e6, 1e6))
            if key == "count":
                return self.sampler.integer(value, path, lo=0, hi=MAX_ROW, key=inst)
            return self.sampler.number(value, path, lo=lo, hi=hi, key=inst)
        return value

    def _trigger(self, when, path: tuple, inst: str) -> TriggerPlan:
        def num(value, *suffix: str, lo: float = 0.0, hi: float = 1e5) -> float | None:
            return None if value is None else self.sampler.number(value, path + suffix, lo=lo, hi=hi, key=inst)

        pos = self.pos(*path)
        actor = when.distance_to or when.ttc_to or when.actor or (inst if when.in_region is not None else None)
        event = None
        if when.event:
            ref, behavior, edge = when.event.split(".")
            event = f"{self.instance(ref, pos)}.{behavior}.{edge}"
        region = when.in_region
        return TriggerPlan(
            kind=when.kind,
            after_s=num(when.after_s, "after_s"),
            actor=actor if actor == inst else None if actor is None else self.instance(actor, pos),
            below=num(when.below_m if when.below_m is not None else when.below_s, "below_m" if when.below_m is not None else "below_s"),
            x_m=None if region is None else num(region.x_m, "in_region", "x_m", lo=-1e5),
            y_m=None if region is None else num(region.y_m, "in_region", "y_m", lo=-1e5),
            radius_m=None if region is None else num(region.radius_m, "in_region", "radius_m", hi=1e4),
            event=event,
            delay_s=num(when.delay_s, "delay_s"),
        )

    def _cross_heading(self, inst: str, cross: Cross, index: int) -> float:
        """Crossing is at a right angle to the road: towards the nearest driving lane, or to a side of travel.
        At a crosswalk, the actor moves to the crosswalk's kerb end and crosses along its axis."""
        if cross.at_crosswalk:
            at = self.pos("actors", self.instance_of[inst], "at")
            if index != 0:
                raise InputError(f"'{inst}': at_crosswalk needs 'cross' as the first behavior (the crosser starts at the crosswalk)",
                                 self.pos("actors", self.instance_of[inst], "behavior", index))  # fmt: skip
            self.spots[inst], heading, _ = crosswalk_spot(self.network, self.spots[inst], cross.direction, at, f"'{inst}'")
            return heading
        spot = self.spots[inst]
        lane_yaw = spot.point.yaw_deg if spot.point else spot.yaw_deg
        if cross.direction != "auto":
            return wrap_deg(lane_yaw + (-90.0 if cross.direction == "left" else 90.0))
        road = self.network.nearest(spot.x_m, spot.y_m, LaneKind.DRIVING)
        if road is None:
            raise InputError(f"'{inst}' has no driving lane near it to cross", self.pos("actors", self.instance_of[inst], "at"))
        yaw = math.radians(road.yaw_deg)
        right = (-math.sin(yaw), math.cos(yaw))
        side = (spot.x_m - road.x_m) * right[0] + (spot.y_m - road.y_m) * right[1]
        return wrap_deg(road.yaw_deg + (-90.0 if side > 0 else 90.0))  # from the right side, walk to the left

    def solve_criticality(self) -> CriticalityPlan | None:
        crit = self.spec.criticality
        if crit and crit.paths_cross:
            return self.meeting
        if crit and crit.conflict:
            return self._solve_conflict()
        return None

    def _solve_paths_cross(self) -> CriticalityPlan | None:
        """Move both actors along their routes so that the first reaches the crossing point at
        arrive_s and the second lead_s earlier, each at its initial speed."""
        crit, pos = self.spec.criticality, self.pos("criticality", "paths_cross")
        names = tuple(self.instance(r, pos) for r in crit.paths_cross)
        if self.meeting is not None or not all(n in self.spots for n in names):
            return self.meeting
        arrive = self.sampler.number(crit.arrive_s, ("criticality", "arrive_s"), lo=0.0, hi=600.0)
        lead = self.sampler.number(crit.lead_s, ("criticality", "lead_s"), lo=-600.0, hi=600.0)
        routes = []
        for name in names:
            spot = self.spots[name]
            if spot.point is None or self.speeds[name] <= 0:
                raise InputError(f"criticality.paths_cross: '{name}' must start on a lane, moving (speed_mps > 0)", pos)
            routes.append(Route(spot.point, route_turns(self.behaviors.get(name, ()))))
        meeting = solve_meeting(self.network, routes, (self.speeds[names[0]], self.speeds[names[1]]), (arrive, arrive - lead), pos)
        for name, point in zip(names, meeting.starts):
            self.spots[name] = lane_spot(self.network, point, self.wheres[name], self.spots[name].length_m)
        solved = {"crossing_x_m": meeting.x_m, "crossing_y_m": meeting.y_m, "first_to_crossing_m": meeting.distances_m[0],
                  "second_to_crossing_m": meeting.distances_m[1], "arrive_s": arrive, "lead_s": lead}  # fmt: skip
        return CriticalityPlan(kind="paths_cross", actors=names, target_s=lead, solved=solved)

    def _solve_conflict(self) -> CriticalityPlan:
        crit = self.spec.criticality
        pos = self.pos("criticality", "conflict")
        ego, crosser = (self.instance(r, pos) for r in crit.conflict)
        steps = self.behaviors[crosser]
        if steps[0].name != "cross":
            raise InputError(f"criticality.conflict: '{crosser}' must start with its 'cross' behavior", pos)
        index = 0
        if self.spec.actors[self.instance_of[crosser]].behavior[index].when is not None:
            raise InputError(
                "criticality.conflict sets when the crossing starts; remove its `when:`",
                self.pos("actors", self.instance_of[crosser], "behavior", index, "when"),
            )
        ttc = self.sampler.number(crit.ttc_s, ("criticality", "ttc_s"), lo=0.0, hi=60.0)
        e, c = self.spots[ego], self.spots[crosser]
        if e.point is None:
            raise InputError("criticality.conflict: the ego must start on a lane", pos)
        cross = steps[0].params
        solved = solve_crossing(
            self.network, Route(e.point, route_turns(self.behaviors[ego])), self.blueprints[ego].length_m, self.speeds[ego],
            (c.x_m, c.y_m), cross["heading_deg"], cross["speed_mps"], ttc, self.pos("criticality", "ttc_s"),
        )  # fmt: skip
        steps[0] = replace_trigger(steps[0], TriggerPlan(kind="after_s", after_s=solved.start_s))
        return CriticalityPlan(
            kind="conflict", actors=(ego, crosser), target_s=ttc,
            solved={
                "start_s": solved.start_s, "conflict_x_m": solved.conflict_x_m, "conflict_y_m": solved.conflict_y_m,
                "ego_to_conflict_m": solved.ego_to_conflict_m, "entry_distance_m": solved.entry_distance_m,
            },
        )  # fmt: skip

    def plans(self) -> tuple[ActorPlan, ...]:
        ego = ego_name(self.spec)
        crit_actors = {self.cutter, self.crosser, self.meeter}
        out = []
        for number, (inst, spot) in enumerate(self.spots.items(), start=1):
            name = self.instance_of[inst]
            actor, bp = self.spec.actors[name], self.blueprints[inst]
            role = actor.role or ("ego" if name == ego else "adversary" if name in crit_actors else "background")
            z = spot.z_m + (bp.height_m / 2 if bp.actor_class.value == "pedestrian" else 0.0)
            p = spot.point
            out.append(
                ActorPlan(
                    id=number, name=inst, role=role, blueprint=bp.id, actor_class=bp.actor_class.value,
                    semantic_tag=int(bp.semantic_tag), size=Size(length_m=bp.length_m, width_m=bp.width_m, height_m=bp.height_m),
                    wheelbase_m=bp.wheelbase_m, pose=Pose(x_m=spot.x_m, y_m=spot.y_m, z_m=z, yaw_deg=spot.yaw_deg),
                    lane=None if p is None else LaneAnchor(road_id=p.road_id, lane_id=p.lane_id, s_m=p.s_m, kind=p.kind.value if p.kind else None, width_m=p.width_m),
                    speed_mps=self.speeds[inst], behaviors=tuple(self.behaviors[inst]), sensors=actor.sensors,
                )
            )  # fmt: skip
        return tuple(out) + cargo_actors(out)  # a drop_cargo step's boxes, after every scenario actor


@lru_cache(maxsize=64)
def _rig(ref: str, scenario_dir: Path, pos: SourcePos) -> Rig:
    """The sensor rig a scenario names: a bare name from sensors/, or a path next to the scenario.
    Cached, since warm compiles name the same rig thousands of times."""
    is_path = "/" in ref or ref.endswith((".yaml", ".yml"))
    return load_rig(scenario_dir / ref if is_path else ref, pos=pos)


def replace_trigger(step: BehaviorPlan, trigger: TriggerPlan) -> BehaviorPlan:
    return step.model_copy(update={"trigger": trigger})


@lru_cache(maxsize=256)
def _matches(pattern: str, classes: tuple[str, ...] | None) -> tuple[Blueprint, ...]:
    """Blueprints for a wildcard, cached: warm compiles draw from the same list thousands of times."""
    return catalog().match(pattern, classes)
