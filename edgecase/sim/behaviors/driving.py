"""Driving along a lane: follow_lane, turn, run_red_light, wrong_way, and the implicit cruise.

All of them keep the actor on a lane path (built once, shared by actors of one lane) and hand
the longitudinal decision to the IDM: a leader in the lane, or a stop line under a red light
for those that obey lights, is what they brake for.
"""

from __future__ import annotations

import math

from edgecase.roads import Turn
from edgecase.roads.travel import turn_of
from edgecase.sim.behaviors.base import Behavior, Intent, Now, Scene
from edgecase.sim.idm import IdmParams
from edgecase.sim.paths import straight_path


def ensure_lane_path(scene: Scene, row: int, now: Now) -> None:
    """Keep the actor's lane path; if it has none (or only a synthetic one), build one from the
    lane under it, or, off the map, a straight line along its heading."""
    current = scene.tracks.current(row)
    if current is not None and current.lanes and not current.reverse:
        return
    actor = scene.actors[row]
    lane = scene.lane_under(row) if current is not None and current.lanes else actor.lane
    x, y = now.xy(row)
    reach = scene.remaining_m(now.t_s, max(now.speed(row), actor.max_speed_mps))
    if lane is None:
        path = scene.bank.add(straight_path(x, y, now.yaw(row), reach, actor.plan.size.width_m + 1.0))
    else:
        path = scene.lane_path(lane, reach, actor.turns)
    scene.tracks.switch(row, path, x, y)


def driver(scene: Scene, row: int) -> IdmParams:
    """The IDM parameters the actor drives with: its last follow_lane's, else its first's."""
    return scene.tracks.idm[row] or scene.actors[row].idm


class FollowLane(Behavior):
    """Keep the lane at speed_mps, following a leader with the IDM and stopping for red lights."""

    name = "follow_lane"

    def begin(self, now: Now) -> None:
        ensure_lane_path(self.scene, self.row, now)
        speed = self.speed_or_current(now)
        idm = IdmParams.from_params(self.params)
        self.scene.tracks.cruise_mps[self.row] = speed
        self.scene.tracks.idm[self.row] = idm
        self.intent = Intent(speed_mps=speed, idm=idm, obey_lights=True)

    def decide(self, now: Now) -> Intent:
        return self.intent


class Cruise(Behavior):
    """No step yet (or none at all): a moving vehicle keeps its lane at its initial speed."""

    name = "cruise"

    def begin(self, now: Now) -> None:
        ensure_lane_path(self.scene, self.row, now)
        speed = self.actor.plan.speed_mps
        self.scene.tracks.cruise_mps[self.row] = speed
        self.intent = Intent(speed_mps=speed, idm=driver(self.scene, self.row), obey_lights=True)

    def decide(self, now: Now) -> Intent:
        return self.intent


class _ThroughJunction(Behavior):
    """Drive the lane through the next junction; done once the actor's centre has left it."""

    obey_lights = True

    def begin(self, now: Now) -> None:
        ensure_lane_path(self.scene, self.row, now)
        self.intent = Intent(speed_mps=self.speed_or_current(now), idm=driver(self.scene, self.row), obey_lights=self.obey_lights)
        path = self.scene.tracks.current(self.row)
        span = path.next_span(float(self.scene.tracks.arc[self.row]))
        self.exit_m = span.exit_m if span is not None else math.inf
        self.path = int(self.scene.tracks.path[self.row])

    def decide(self, now: Now) -> Intent:
        return self.intent

    def done(self, now: Now) -> bool:
        tracks = self.scene.tracks
        return tracks.path[self.row] != self.path or tracks.arc[self.row] > self.exit_m


class TurnAtJunction(_ThroughJunction):
    """Take `direction` at the next junction, at speed_mps (default: the speed it has)."""

    name = "turn"

    def begin(self, now: Now) -> None:
        ensure_lane_path(self.scene, self.row, now)
        want = Turn(self.params["direction"])
        path = self.scene.tracks.current(self.row)
        arc = float(self.scene.tracks.arc[self.row])
        span = path.next_span(arc)
        if span is not None and path.lanes and _turn(path, span) != want:
            lane = self.scene.lane_under(self.row)  # the route planned at the start went another way
            if lane is not None:
                x, y = now.xy(self.row)
                self.scene.tracks.switch(self.row, self.scene.lane_path(lane, self.scene.remaining_m(now.t_s, now.speed(self.row)), (want,)), x, y)
        super().begin(now)


def _turn(path, span) -> Turn:
    _, _, yaw_in = path.at(span.entry_m - 1.0)
    _, _, yaw_out = path.at(span.exit_m + 1.0)
    return turn_of(math.degrees(yaw_out - yaw_in))


class RunRedLight(_ThroughJunction):
    """Drive through the next junction whatever its light shows (still braking for a leader)."""

    name = "run_red_light"
    obey_lights = False


class WrongWay(Behavior):
    """Drive the lane it stands on against its direction of travel, at speed_mps (default: its
    speed), braking only for what is in its way; lights do not apply to it."""

    name = "wrong_way"

    def begin(self, now: Now) -> None:
        scene, row = self.scene, self.row
        current = scene.tracks.current(row)
        lane = scene.lane_under(row) if current is not None and current.lanes else self.actor.lane
        speed = self.speed_or_current(now)
        if lane is not None:
            x, y = now.xy(row)
            scene.tracks.switch(row, scene.lane_path(lane, scene.remaining_m(now.t_s, speed), (), reverse=True), x, y)
        self.intent = Intent(speed_mps=speed, idm=driver(scene, row))

    def decide(self, now: Now) -> Intent:
        return self.intent
