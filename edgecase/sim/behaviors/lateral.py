"""Sideways manoeuvres: lane_change, cut_in, pull_out.

Each blends the actor's reference from its lane onto another lane's path over duration_s (a
quintic in time, control.quintic) and, when the time is up, makes that lane the actor's own.
Until then the actor still belongs to its old lane: followers there keep it as their leader, and
drivers in the new lane react only once it has arrived. That is what the cut-in target means:
the criticality solver assumed the ego holds its speed until the cut-in ends.
"""

from __future__ import annotations

from dataclasses import replace

from edgecase.roads import LaneKind, LanePoint, RoadNetwork
from edgecase.sim.behaviors.base import Behavior, Blend, Intent, Now
from edgecase.sim.behaviors.driving import driver, ensure_lane_path
from edgecase.sim.control import quintic
from edgecase.sim.triggers import TIME_EPS_S


class _Blend(Behavior):
    """The shared mechanics: start a blend onto `to_path`, end it on time, switch lanes at the end."""

    default_duration_s = 4.0

    def duration_s(self) -> float:
        return self.param("duration_s", self.default_duration_s)

    def start_blend(self, now: Now, to_path: int, intent: Intent) -> None:
        tracks = self.scene.tracks
        x, y = now.xy(self.row)
        shift = self.scene.bank[to_path].project(x, y) - float(tracks.arc[self.row])
        self.to_path = to_path
        self.intent = replace(intent, blend=Blend(to_path, self.start_s, self.duration_s(), shift))

    def decide(self, now: Now) -> Intent:
        return self.intent

    def done(self, now: Now) -> bool:
        return self.intent.blend is None or now.t_s + TIME_EPS_S >= self.start_s + self.duration_s()

    def finish(self, now: Now, completed: bool) -> None:
        """The new lane becomes the actor's own, unless cut short before half way."""
        blend = self.intent.blend
        if blend is None:
            return
        progress = float(quintic((now.t_s - blend.start_s) / blend.duration_s))
        if completed or progress >= 0.5:
            self.scene.tracks.switch(self.row, self.to_path, *now.xy(self.row))
        self.intent = self.after()

    def after(self) -> Intent:
        """What the actor does once in its new lane (until a next step starts)."""
        tracks = self.scene.tracks
        return Intent(speed_mps=float(tracks.cruise_mps[self.row]), idm=driver(self.scene, self.row), obey_lights=True)


def driving_neighbor(network: RoadNetwork, here: LanePoint, side: str) -> LanePoint | None:
    """The driving lane beside `here` on `side` that runs the same way, or None."""
    lane = network.neighbor(here, side)  # type: ignore[arg-type]
    if lane is None or lane.kind is not LaneKind.DRIVING or (lane.lane_id > 0) != (here.lane_id > 0):
        return None
    return lane


class LaneChange(_Blend):
    """Move into the next lane on `direction` over duration_s, car-following in the old lane meanwhile.
    Where there is no such lane the step ends at once and the actor stays in its lane."""

    name = "lane_change"

    def begin(self, now: Now) -> None:
        ensure_lane_path(self.scene, self.row, now)
        self.intent = self.after()
        here = self.scene.lane_under(self.row)
        target = driving_neighbor(self.scene.network, here, self.params["direction"]) if here is not None else None
        if target is not None:
            reach = self.scene.remaining_m(now.t_s, max(now.speed(self.row), self.actor.max_speed_mps))
            self.start_blend(now, self.scene.lane_path(target, reach), self.intent)


class CutIn(_Blend):
    """Change into `target`'s lane just ahead of it, holding the speed it has at the start along
    the lane (no braking for anyone, no lights), so the gap the solver planned is the gap it gets."""

    name = "cut_in"
    default_duration_s = 2.0

    def begin(self, now: Now) -> None:
        ensure_lane_path(self.scene, self.row, now)
        self.intent = self.after()
        target = self.scene.rows[self.params["target"]]
        to_path = int(self.scene.tracks.path[target])
        if to_path >= 0:
            self.start_blend(now, to_path, Intent(speed_mps=now.speed(self.row), hold_along=True))


class PullOut(_Blend):
    """Leave a parking lane into the first driving lane on `direction`, speeding up to speed_mps;
    then drive that lane at speed_mps."""

    name = "pull_out"
    default_duration_s = 3.0

    def begin(self, now: Now) -> None:
        scene = self.scene
        speed = self.param("speed_mps", 4.0)
        scene.tracks.cruise_mps[self.row] = speed
        ensure_lane_path(scene, self.row, now)
        self.intent = self.after()
        here = scene.lane_under(self.row)
        lanes = scene.network.side_lanes(here, self.params.get("direction") or "left") if here is not None else []
        target = next((lane for lane in lanes if lane.kind is LaneKind.DRIVING), None)
        if target is not None:
            reach = scene.remaining_m(now.t_s, max(speed, self.actor.max_speed_mps))
            self.start_blend(now, scene.lane_path(target, reach), Intent(speed_mps=speed))
