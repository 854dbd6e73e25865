"""Changes to a vehicle's body: open_door (its box widens) and drop_cargo.

open_door widens the box by DOOR_REACH_M over duration_s. The state's box is centred on the
actor (ActorStates has no lateral offset), so the extra width shows half on each side rather
than all on the door's `side`.

drop_cargo has no cargo to drop yet: the plan does not pre-spawn cargo actors (inactive props
that appear when they fall). The step is recorded (behavior_start and behavior_end at the same
tick) and the vehicle carries on as before; the falling boxes come with the plan's cargo actors.
"""

from __future__ import annotations

from dataclasses import replace

from edgecase.sim.behaviors.base import STAND, Behavior, Intent, Now
from edgecase.sim.triggers import TIME_EPS_S

DOOR_REACH_M = 0.9  # a car door swings about 0.9-1.1 m out from the body


class OpenDoor(Behavior):
    """Open a door over duration_s; the vehicle keeps doing what it did (a parked car stays parked)."""

    name = "open_door"

    def begin(self, now: Now) -> None:
        self.closed_m = self.actor.plan.size.width_m
        self.duration = max(self.param("duration_s", 1.0), 1e-6)
        self.base = self.previous or STAND

    def decide(self, now: Now) -> Intent:
        opened = min(max((now.t_s - self.start_s) / self.duration, 0.0), 1.0)
        return replace(self.base, width_m=self.closed_m + DOOR_REACH_M * opened)

    def done(self, now: Now) -> bool:
        return now.t_s + TIME_EPS_S >= self.start_s + self.duration


class DropCargo(Behavior):
    """Recorded, with no cargo yet (see the module docstring); the vehicle carries on."""

    name = "drop_cargo"

    def decide(self, now: Now) -> Intent:
        return self.previous or STAND

    def done(self, now: Now) -> bool:
        return True
