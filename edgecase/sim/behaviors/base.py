"""What every behavior shares: the actor it drives, the episode around it, and what it asks for.

A behavior turns a plan step (its name and params, numbers already drawn) into an `Intent` each
tick: which speed, whether to follow with the IDM, whether to brake, how to move sideways.
It never writes controls: `Agents` turns the intents of all actors into Controls in a few numpy
expressions, so a behavior's per-tick cost is a little Python and usually none (intents that do
not change are returned as the same object). Like nuPlan's planners, the public `__call__` wraps
the abstract `decide()`, here to run `begin()` once before the first decision.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from edgecase.plan.criticality import route_turns
from edgecase.plan.model import ActorPlan
from edgecase.roads import LanePoint, RoadNetwork, Turn
from edgecase.sim.idm import IdmParams
from edgecase.sim.lights import LightSchedule
from edgecase.sim.paths import LanePath, PathBank
from edgecase.sim.state import WorldState

Kind = Literal["vehicle", "walker", "prop"]
STOPPED_MPS = 0.01  # below this an actor counts as standing: braking to a stop ends
PATH_MARGIN_M = 30.0


@dataclass(frozen=True, slots=True)
class Blend:
    """A sideways manoeuvre: the reference moves from the actor's path onto `to_path`, by a
    quintic in time from start_s over duration_s; shift_m ~ (arc on to_path) - (arc on the path)."""

    to_path: int
    start_s: float
    duration_s: float
    shift_m: float


@dataclass(frozen=True, slots=True)
class Intent:
    """What one actor asks for now. Longitudinal precedence: accel_mps2, then brake_mps2, then
    the IDM (with idm set) or a speed tracker aiming at speed_mps. Lateral: the actor's path in
    `Tracks` (blended towards another path while `blend` runs); walkers without a path face heading_rad."""

    speed_mps: float = 0.0
    idm: IdmParams | None = None
    brake_mps2: float | None = None  # brake at this rate to a standstill, then hold
    accel_mps2: float | None = None  # an exact command (a walker's start ramp)
    obey_lights: bool = False
    blend: Blend | None = None
    hold_along: bool = False  # keep speed_mps along the path while steering across it (a cut-in)
    heading_rad: float | None = None
    width_m: float | None = None
    box_offset_m: float | None = None  # the box centre's offset to the right (a door open on one side)
    lights: int = 0  # carla.VehicleLightState flags asked for (hazards); brake lights are added by Agents


STAND = Intent(brake_mps2=3.0)


@dataclass(frozen=True)
class ActorInfo:
    """One actor's fixed facts, from the plan and the map."""

    row: int
    plan: ActorPlan
    kind: Kind
    lane: LanePoint | None  # the lane point under its start (None off lanes)
    max_speed_mps: float  # the fastest its plan asks for: its paths are built for this speed
    turns: tuple[Turn, ...]  # its route: every follow_lane route and turn step, in order
    idm: IdmParams  # its driver: the first follow_lane step's parameters

    @classmethod
    def of(cls, row: int, actor: ActorPlan, network: RoadNetwork) -> ActorInfo:
        """From the plan: the class decides the kind, the steps the route, speeds and driver."""
        kind = "walker" if actor.actor_class == "pedestrian" else "prop" if actor.actor_class == "prop" else "vehicle"
        lane: LanePoint | None = None
        if actor.lane is not None:
            lane = network.point(actor.lane.road_id, actor.lane.lane_id, actor.lane.s_m)
        speeds = [actor.speed_mps, 1.0] + [float(s.params["speed_mps"]) for s in actor.behaviors if isinstance(s.params.get("speed_mps"), (int, float))]
        first = next((s for s in actor.behaviors if s.name == "follow_lane"), None)
        idm = IdmParams.from_params(first.params) if first is not None else IdmParams()
        return cls(row, actor, kind, lane, max(speeds), route_turns(actor.behaviors), idm)  # type: ignore[arg-type]

    @property
    def name(self) -> str:
        return self.plan.name


class Tracks:
    """Where each actor drives: its path index (-1: none) and its arc on it, kept up to date each
    tick by Newton steps from the last arc; behaviors switch paths here (lane changes, crossings)."""

    def __init__(self, n: int, bank: PathBank):
        self.bank = bank
        self.path = np.full(n, -1, dtype=np.intp)
        self.arc = np.zeros(n)
        self.cruise_mps = np.zeros(n)  # the speed a driver returns to after a manoeuvre
        self.idm: list[IdmParams | None] = [None] * n
        self._here: tuple[np.ndarray, ...] | None = None
        self.version = 0  # counts path switches, so derived masks know when to refresh

    def switch(self, row: int, path: int, x_m: float, y_m: float) -> None:
        self.path[row] = path
        self.arc[row] = self.bank[path].project(x_m, y_m) if path >= 0 else 0.0
        self._here = None
        self.version += 1

    def follow(self, x_m: np.ndarray, y_m: np.ndarray, speed_mps: np.ndarray, dt_s: float) -> None:
        """Advance every arc to the actors' new positions: one Newton step from the last arc plus
        the distance driven, a guess already within millimetres (exact on straight lanes)."""
        on = self.path >= 0
        everyone = on.all()
        path = self.path if everyone else np.where(on, self.path, 0)
        arc, (x, y, c, s, index), step = self.bank.project(path, x_m, y_m, self.arc + speed_mps * dt_s, steps=1)
        self.arc = arc if everyone else np.where(on, arc, 0.0)
        self._here = (x + step * c, y + step * s, c, s, index)  # moved along the tangent to the new arc

    def here(self) -> tuple[np.ndarray, ...]:
        """(x, y, cos yaw, sin yaw, packed index) of every actor's own path point (row 0's path for
        actors without one); from the last `follow`, or looked up again after a switch."""
        if self._here is None:
            self._here = self.bank.at(np.where(self.path >= 0, self.path, 0), self.arc)
        return self._here

    def current(self, row: int) -> LanePath | None:
        return self.bank[int(self.path[row])] if self.path[row] >= 0 else None


@dataclass
class Scene:
    """The episode as behaviors see it: plan, map, paths, lights, and each actor's facts and track."""

    network: RoadNetwork
    bank: PathBank
    lights: LightSchedule
    dt_s: float
    duration_s: float
    actors: tuple[ActorInfo, ...]
    rows: Mapping[str, int]
    tracks: Tracks
    # bool (N,): who is in the world; behaviors replace the array (never write into it: the last
    # Controls hold it read-only), as drop_cargo does to drop its carrier's boxes.
    active: np.ndarray | None = None

    def lane_path(self, start: LanePoint, ahead_m: float, turns: tuple[Turn, ...] = (), reverse: bool = False) -> int:
        return self.bank.lane(self.network, start, ahead_m, turns, reverse)[0]

    def lane_under(self, row: int) -> LanePoint | None:
        """The lane point at the actor's place on its lane path (its start lane if it has none)."""
        path = self.tracks.current(row)
        lane = path.lane_at(float(self.tracks.arc[row])) if path is not None else None
        if lane is None:
            return self.actors[row].lane
        return self.network.point(*lane)

    def remaining_m(self, t_s: float, speed_mps: float) -> float:
        """A path length that lasts the rest of the episode at this speed."""
        return max(speed_mps, 1.0) * max(self.duration_s - t_s, 0.0) + PATH_MARGIN_M


@dataclass(frozen=True, slots=True)
class Now:
    """One tick as behaviors read it."""

    tick: int
    t_s: float
    state: WorldState

    def speed(self, row: int) -> float:
        return float(self.state.actors.speed_mps[row])

    def xy(self, row: int) -> tuple[float, float]:
        a = self.state.actors
        return float(a.x_m[row]), float(a.y_m[row])

    def yaw(self, row: int) -> float:
        return float(self.state.actors.yaw_rad[row])


class Behavior(ABC):
    """One step of an actor's sequence. Subclasses set `name` and implement `decide`; they may
    override `begin` (set-up at the first decision), `done` (the manoeuvre is complete) and
    `finish` (leave the actor in a sound state when the step ends or is cut short)."""

    name: ClassVar[str]

    def __init__(self, params: Mapping, actor: ActorInfo, scene: Scene, start_s: float, previous: Intent | None):
        self.params = params
        self.actor = actor
        self.scene = scene
        self.start_s = start_s  # the nominal start (a time trigger's exact time), between ticks
        self.previous = previous  # the intent the actor had before: what a brief step carries on with
        self.early = False  # set when it drives the actor before its start (lead_s)
        self._begun = False

    @classmethod
    def lead_s(cls, params: Mapping, actor: ActorInfo) -> float:
        """How long before its start a time-triggered step must begin moving to be on its profile at the start."""
        return 0.0

    @property
    def row(self) -> int:
        return self.actor.row

    def __call__(self, now: Now) -> Intent:
        self.ensure_begun(now)
        return self.decide(now)

    def ensure_begun(self, now: Now) -> None:
        if not self._begun:
            self._begun = True
            self.begin(now)

    def begin(self, now: Now) -> None:
        """Once, before the first decision."""

    @abstractmethod
    def decide(self, now: Now) -> Intent:
        """The intent for this tick."""

    def done(self, now: Now) -> bool:
        """Whether the manoeuvre is complete; lane keeping and walking never are."""
        return False

    def finish(self, now: Now, completed: bool) -> None:
        """The step ends (completed) or a triggered step cuts it short."""

    def param(self, key: str, default: float) -> float:
        value = self.params.get(key)
        return default if value is None else float(value)

    def speed_or_current(self, now: Now) -> float:
        """A `speed_mps` param, or, when left out, the speed the actor has now."""
        value = self.params.get("speed_mps")
        return now.speed(self.row) if value is None else float(value)

