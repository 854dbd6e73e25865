"""Traffic-light cycles: every light of every signalized junction, a pure function of time.

Fixed-time control in two phases, the plainest plan a city runs: the approaches along one axis
(a light and the one opposite it) are green together, then the crossing axis. Each phase shows
green, yellow, then red, with an all-red interval for everyone between the phases so that a car
entering on the last yellow clears the junction. The timing (LightCycle) comes from the plan:
scenarios set it with `traffic_lights:`; the defaults are GREEN_S, YELLOW_S and ALL_RED_S. Colors use CARLA's names
(carla.TrafficLightState: Red, Yellow, Green), so the CARLA bridge can set them as they are.

Which lights rule a lane is `edgecase.sim.metrics.governing_lights`, the same rule the red-light
oracle applies, so a car that obeys these lights is never flagged as running one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from edgecase.roads import LanePoint, RoadNetwork, Turn
from edgecase.roads.junctions import TRAFFIC_LIGHT
from edgecase.roads.waypoints import wrap_deg
from edgecase.sim.metrics import governing_lights
from edgecase.sim.paths import LanePath, PathBank, lane_path
from edgecase.sim.state import LightColor, LightState

GREEN_S = 10.0
YELLOW_S = 3.0  # ITE's rule of thumb: 3-6 s, longer for faster approaches
ALL_RED_S = 1.0
PHASE_S = GREEN_S + YELLOW_S + ALL_RED_S
CYCLE_S = 2 * PHASE_S
GREEN_FOR_REACH_M = 300.0  # `green_for` looks this far along the actor's route for its lights
COLOR_CODES: dict[LightColor, int] = {"Red": 0, "Yellow": 1, "Green": 2}  # = edgecase.sim.trace.LIGHT_COLORS
RED, YELLOW, GREEN = COLOR_CODES["Red"], COLOR_CODES["Yellow"], COLOR_CODES["Green"]


@dataclass(frozen=True, slots=True)
class LightCycle:
    """A junction's fixed-time plan; scenarios set it with `traffic_lights:` (the plan carries it)."""

    green_s: float = GREEN_S
    yellow_s: float = YELLOW_S
    all_red_s: float = ALL_RED_S
    offset_s: float = 0.0  # how far into the cycle the episode starts

    @property
    def phase_s(self) -> float:
        return self.green_s + self.yellow_s + self.all_red_s

    def code(self, t_s: float, phase: int) -> int:
        """The color code of a light of `phase` (0 or 1) at t_s."""
        into = math.fmod(t_s + self.offset_s - phase * self.phase_s, 2 * self.phase_s)
        into += 2 * self.phase_s if into < 0 else 0.0
        if into < self.green_s:
            return GREEN
        return YELLOW if into < self.green_s + self.yellow_s else RED


@dataclass(frozen=True, slots=True)
class StopLine:
    """Where a path meets a junction that lights rule: the front bumper stops before arc_m."""

    arc_m: float
    lights: tuple[int, ...]  # indices into LightSchedule.ids


@dataclass(frozen=True)
class LightSchedule:
    """Every traffic light of the map with its phase; `states_at(t_s)` is the whole schedule."""

    ids: tuple[int, ...]  # OpenDRIVE signal ids, sorted
    phases: tuple[int, ...]  # 0 or 1 per light: which axis of its junction it belongs to
    cycle: LightCycle = LightCycle()

    @classmethod
    def of(cls, network: RoadNetwork, cycle: LightCycle = LightCycle()) -> LightSchedule:
        ids = sorted({int(s.id) for s in network.xodr.signals if s.type == TRAFFIC_LIGHT and not s.is_reference and _numeric(s.id)})
        headings = _light_headings(network)
        axis: dict[int | None, float] = {}  # the first light seen at each junction sets its phase-0 axis
        phases = []
        for light in ids:
            junction, heading = headings.get(light, (None, None))
            if heading is None:
                phases.append(0)
                continue
            first = axis.setdefault(junction, heading)
            along = abs(wrap_deg(heading - first)) < 45 or abs(wrap_deg(heading - first)) > 135
            phases.append(0 if along else 1)
        return cls(tuple(ids), tuple(phases), cycle)

    def green_for(self, network: RoadNetwork, start: LanePoint | None, turns: Sequence[Turn]) -> LightSchedule:
        """This schedule with its cycle shifted so that offset 0 is the start of the green of the
        lights ruling the first signalized junction ahead of `start`: a scenario says "the ego's
        light turned green offset_s ago" without knowing which of the junction's axes is phase 0."""
        if start is None:
            return self
        path = lane_path(network, start, GREEN_FOR_REACH_M, turns)
        # the path starts BACK_M behind `start`: skip a junction the actor has just left
        lines = [line for line in self.stop_lines(network, path) if line.arc_m >= path.anchor_m]
        if not lines or self.phases[lines[0].lights[0]] == 0:
            return self
        return replace(self, cycle=replace(self.cycle, offset_s=self.cycle.offset_s + self.cycle.phase_s))

    def colors_at(self, t_s: float) -> tuple[int, ...]:
        """Color codes (COLOR_CODES) of every light at t_s."""
        return tuple(self.cycle.code(t_s, phase) for phase in self.phases)

    def states_at(self, t_s: float) -> tuple[LightState, ...]:
        """Every light's state at t_s, by CARLA's names, in `ids` order."""
        names = ("Red", "Yellow", "Green")
        return tuple(LightState(light, names[code]) for light, code in zip(self.ids, self.colors_at(t_s)))  # type: ignore[arg-type]

    def stop_lines(self, network: RoadNetwork, path: LanePath) -> tuple[StopLine, ...]:
        """The path's junction entries that a light rules (by the lane it comes by or the one it takes)."""
        index = {light: n for n, light in enumerate(self.ids)}
        stops = []
        for span in path.spans:
            ruling = governing_lights(network, *span.approach) | governing_lights(network, *span.connector)
            found = tuple(sorted(index[light] for light in ruling if light in index))
            if found:
                stops.append(StopLine(span.entry_m, found))
        return tuple(stops)


class StopTable:
    """Stop lines of every path as (paths, lines) arrays, extended as paths are added."""

    def __init__(self, schedule: LightSchedule, network: RoadNetwork, bank: PathBank):
        self.schedule, self.network, self.bank = schedule, network, bank
        self.lines: list[tuple] = []
        self.arc = np.zeros((0, 1))
        self.light = np.zeros((0, 1), dtype=np.intp)

    def _update(self) -> None:
        paths = self.bank.paths
        if len(self.lines) == len(paths):
            return
        for path in paths[len(self.lines):]:
            self.lines.append(tuple((s.arc_m, light) for s in self.schedule.stop_lines(self.network, path) for light in s.lights))
        width = max(1, max(len(lines) for lines in self.lines))
        self.arc = np.full((len(paths), width), np.inf)
        self.light = np.full((len(paths), width), -1, dtype=np.intp)
        for p, lines in enumerate(self.lines):
            for k, (arc, light) in enumerate(lines):
                self.arc[p, k], self.light[p, k] = arc, light

    def gaps(self, path, front_m, speed_mps, decel_mps2, obey, colors: tuple[int, ...]) -> np.ndarray:
        """Gap from each follower's front bumper to the first stop line it must stop at: red
        (not yet passed), or yellow where it can still stop at its comfortable deceleration."""
        self._update()
        if not colors or not obey.any():
            return np.full(len(path), np.inf)
        code = np.append(np.array(colors), GREEN)[self.light[path]]  # light -1: the appended Green
        gap = self.arc[path] - front_m[:, None]
        can_stop = gap > (speed_mps**2 / (2.0 * decel_mps2))[:, None]
        stop = ((code == RED) & (gap >= 0.0)) | ((code == YELLOW) & can_stop)
        return np.where(stop & obey[:, None], gap, np.inf).min(axis=1)


def _numeric(signal_id: str) -> bool:
    return signal_id.lstrip("-").isdigit()


def signalized_approaches(network: RoadNetwork):
    """(junction, approach, its light ids) for every approach of a signalized junction that a light
    rules: one on the approach lane itself (roadgen's maps) or on a connecting lane it leads into
    (CARLA's towns)."""
    for junction in network.junctions():
        if not junction.signalized:
            continue
        for approach in junction.approaches:
            lanes = [(approach.road_id, approach.lane_id)]
            for link in network.xodr.junctions.get(junction.id, ()):
                if link.incoming_road == approach.road_id:
                    lanes += [(link.connecting_road, to) for start, to in link.lane_links if start == approach.lane_id]
            lights = sorted(set().union(*(governing_lights(network, road, lane) for road, lane in lanes)))
            if lights:
                yield junction, approach, lights


def _light_headings(network: RoadNetwork) -> dict[int, tuple[int, float]]:
    """light id -> (junction id, heading of the approach it rules)."""
    found: dict[int, tuple[int, float]] = {}
    for junction, approach, lights in signalized_approaches(network):
        for light in lights:
            found.setdefault(light, (junction.id, approach.yaw_deg))
    return found
