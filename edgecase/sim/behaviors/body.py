"""Changes to a vehicle's body: open_door (its box grows on the door's side) and drop_cargo.

open_door widens the box by DOOR_REACH_M over duration_s on its `side` only: the width grows by
the door's reach and the box centre moves half of it towards that side (`box_offset_m`, positive
to the right), so the body's other side stays where it was.

drop_cargo drops the carrier's next `count` cargo actors (the plan's '<carrier>_cargo[i]', spawned
'dropped' and carried until now; edgecase.plan.cargo) by activating them at the tick the step starts: the
backend places them behind the carrier's rear bumper with its speed and heading, and they slide to
a stop (backends/embedded/kinematics). The step ends at once and the vehicle carries on as before.
"""

from __future__ import annotations

from dataclasses import replace

from edgecase.sim.behaviors.base import STAND, Behavior, Intent, Now
from edgecase.sim.triggers import TIME_EPS_S

DOOR_REACH_M = 0.9  # a car door swings about 0.9-1.1 m out from the body


class OpenDoor(Behavior):
    """Open a door on `side` over duration_s; the vehicle keeps doing what it did (a parked car stays parked)."""

    name = "open_door"

    def begin(self, now: Now) -> None:
        self.closed_m = self.actor.plan.size.width_m
        self.duration = max(self.param("duration_s", 1.0), 1e-6)
        self.base = self.previous or STAND
        self.towards = 1.0 if self.params.get("side") == "right" else -1.0  # CARLA's frame: +y is right

    def decide(self, now: Now) -> Intent:
        opened = min(max((now.t_s - self.start_s) / self.duration, 0.0), 1.0)
        reach = DOOR_REACH_M * opened
        return replace(self.base, width_m=self.closed_m + reach, box_offset_m=self.towards * reach / 2)

    def done(self, now: Now) -> bool:
        return now.t_s + TIME_EPS_S >= self.start_s + self.duration


class DropCargo(Behavior):
    """Drop the carrier's next `count` boxes (see the module docstring); the vehicle carries on."""

    name = "drop_cargo"

    def begin(self, now: Now) -> None:
        scene = self.scene
        waiting = [info.row for info in scene.actors if info.plan.carried_by == self.actor.name and not scene.active[info.row]]
        drop = waiting[: int(self.param("count", 1))]
        if drop:
            active = scene.active.copy()
            active[drop] = True
            scene.active = active  # a new array: the previous one is held read-only by the last Controls
        self.dropped = tuple(drop)

    def decide(self, now: Now) -> Intent:
        return self.previous or STAND

    def done(self, now: Now) -> bool:
        return True
