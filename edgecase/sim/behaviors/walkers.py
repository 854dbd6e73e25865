"""Walkers and cyclists on foot-paths and across the road: cross and walk.

cross follows a straight line at heading_deg (the compiler chose it: at a right angle to the
road, or along a crosswalk's axis from its kerb end for at_crosswalk) at speed_mps. The criticality solver assumed the crosser moves at that speed from its
start time; a body at rest cannot, so a crossing whose start time is known in advance (a time
trigger, which is what the solver sets) begins its ramp-up early, at start - v / (2 a): from
the end of the ramp on it is exactly where a constant-speed walker that set off at the start
would be (during the ramp it is ahead, by at most v^2 / (8 a): 0.77 m, 0.22 s, for a child
running at 3.5 m/s; a crossing that enters the ego's lane within the ramp enters that early).
Its trigger and behavior_start events still fire at the start time itself.

The crossing ends on the far side of the road: the first point off every road lane (driving,
parking, shoulder, biking) after having been on them; where none lies within PROBE_MAX_M, after
1.5 times the width of road crossed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from edgecase.roads import LaneKind, RoadNetwork
from edgecase.sim.behaviors.base import STAND, ActorInfo, Behavior, Intent, Now
from edgecase.sim.paths import straight_path

RAMP_MPS2 = {"walker": 2.0, "vehicle": 1.5}  # standing to a run in ~1 s; a cyclist pushing off
# (the embedded backend's walker and bicycle limits: asking for no more keeps the profile exact)
LEAD_MARGIN_S = 0.1  # >= one step at CARLA's usual 0.05 s
POSITION_LAG_S = 0.5  # how fast a walker makes up a position error against its profile
ROAD = (LaneKind.DRIVING, LaneKind.PARKING, LaneKind.SHOULDER, LaneKind.BIKING)
PROBE_STEP_M = 0.25
PROBE_MAX_M = 80.0


class Cross(Behavior):
    name = "cross"

    @classmethod
    def ramp_lead_s(cls, params: Mapping, actor: ActorInfo) -> float:
        return float(params["speed_mps"]) / (2.0 * RAMP_MPS2.get(actor.kind, 1.5))

    @classmethod
    def lead_s(cls, params: Mapping, actor: ActorInfo) -> float:
        """The ramp's lead, plus a tick's margin: the ramp then starts between two ticks after
        the behavior takes over, and its first step never asks for more than RAMP."""
        return cls.ramp_lead_s(params, actor) + LEAD_MARGIN_S

    def begin(self, now: Now) -> None:
        x, y = now.xy(self.row)
        heading = math.radians(float(self.params["heading_deg"]))
        self.length_m = crossing_length_m(self.scene.network, x, y, heading)
        path = self.scene.bank.add(straight_path(x, y, heading, self.length_m + 20.0))
        self.scene.tracks.switch(self.row, path, x, y)
        self.speed = float(self.params["speed_mps"])
        self.ramp = RAMP_MPS2.get(self.actor.kind, 1.5)
        self.ramp_start = self.start_s - self.ramp_lead_s(self.params, self.actor) if self.early else now.t_s
        self.heading = heading

    def profile(self, t_s: float) -> tuple[float, float]:
        """(arc, speed) of the ideal crosser: a ramp at RAMP from rest, then speed."""
        tau = t_s - self.ramp_start
        ramp_s = self.speed / self.ramp
        if tau <= 0:
            return 0.0, 0.0
        if tau < ramp_s:
            return 0.5 * self.ramp * tau * tau, self.ramp * tau
        return 0.5 * self.speed * ramp_s + self.speed * (tau - ramp_s), self.speed

    def decide(self, now: Now) -> Intent:
        if self.done(now):
            return STAND
        arc_ref, _ = self.profile(now.t_s)
        _, speed_next = self.profile(now.t_s + self.scene.dt_s)
        error_m = arc_ref - float(self.scene.tracks.arc[self.row])
        want_mps = speed_next + error_m / POSITION_LAG_S
        return Intent(accel_mps2=(want_mps - now.speed(self.row)) / self.scene.dt_s, heading_rad=self.heading)

    def done(self, now: Now) -> bool:
        return float(self.scene.tracks.arc[self.row]) >= self.length_m


def crossing_length_m(network: RoadNetwork, x_m: float, y_m: float, heading_rad: float) -> float:
    """Distance along the heading to the far side of the road (probed every PROBE_STEP_M).
    The road ends at the first point off it after a driving lane: a crosser that starts on a
    shoulder (a crosswalk's kerb end can lie there) crosses a gap in the lane geometry between
    the shoulder and the driving lanes instead of stopping at it."""
    c, s = math.cos(heading_rad), math.sin(heading_rad)
    first_on = last_on = None
    driving = False
    for k in range(1, int(PROBE_MAX_M / PROBE_STEP_M) + 1):
        d = k * PROBE_STEP_M
        px, py = x_m + d * c, y_m + d * s
        if on_road(network, px, py):
            first_on = d if first_on is None else first_on
            last_on = d
            if not driving:
                lane = network.nearest(px, py)
                driving = lane is not None and lane.kind is LaneKind.DRIVING
        elif last_on is not None and driving:
            return d
    if last_on is None:
        return PROBE_MAX_M
    return min(PROBE_MAX_M, 1.5 * (last_on - first_on + PROBE_STEP_M))


def on_road(network: RoadNetwork, x_m: float, y_m: float) -> bool:
    """Whether the point lies on a road lane. carla's nearest lane is the one with the nearest
    centre, which on a boundary between a wide and a narrow lane may not hold the point: then
    the neighbour on the point's side is asked."""
    lane = network.nearest(x_m, y_m)
    for _ in range(3):
        if lane is None:
            return False
        yaw = math.radians(lane.yaw_deg)
        right_m = -(x_m - lane.x_m) * math.sin(yaw) + (y_m - lane.y_m) * math.cos(yaw)
        if abs(right_m) <= lane.width_m / 2 + 1e-6:
            return lane.kind in ROAD
        lane = network.neighbor(lane, "right" if right_m > 0 else "left")
    return False


class Walk(Behavior):
    """Walk along the sidewalk (lane) it stands on, the way it faces, at speed_mps; never ends."""

    name = "walk"

    def begin(self, now: Now) -> None:
        scene, row = self.scene, self.row
        x, y = now.xy(row)
        speed = self.param("speed_mps", 1.4)
        lane = self.actor.lane
        reach = scene.remaining_m(now.t_s, speed)
        if lane is None:
            path = scene.bank.add(straight_path(x, y, now.yaw(row), reach))
        else:
            facing = abs(math.remainder(now.yaw(row) - math.radians(lane.yaw_deg), 2 * math.pi))
            path = scene.lane_path(lane, reach, reverse=facing > math.pi / 2)
        scene.tracks.switch(row, path, x, y)
        self.intent = Intent(speed_mps=speed)

    def decide(self, now: Now) -> Intent:
        return self.intent
