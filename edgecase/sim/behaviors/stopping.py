"""Coming to a stop and staying there: hard_brake, stop, stalled, idle, and the implicit stand.

Braking keeps the actor's path, so a car stopping in a bend still steers along its lane.
"""

from __future__ import annotations

from dataclasses import replace

from edgecase.sim.behaviors.base import STAND, STOPPED_MPS, Behavior, Intent, Now
from edgecase.sim.state import LIGHT_HAZARD


class HardBrake(Behavior):
    """Brake at decel_mps2 until stopped (the step ends there), then hold the brake."""

    name = "hard_brake"
    default_decel_mps2 = 8.0

    def begin(self, now: Now) -> None:
        self.intent = Intent(brake_mps2=self.param("decel_mps2", self.default_decel_mps2))

    def decide(self, now: Now) -> Intent:
        return self.intent

    def done(self, now: Now) -> bool:
        return now.speed(self.row) <= STOPPED_MPS


class Stop(HardBrake):
    """A normal stop: the same, at a comfortable rate."""

    name = "stop"
    default_decel_mps2 = 3.0


class Stalled(Behavior):
    """Broken down: roll to a stop and stay, never ending; with `hazard_lights` (the default) both
    blinkers flash (carla.VehicleLightState LeftBlinker | RightBlinker: CARLA has no hazard flag)."""

    name = "stalled"

    def begin(self, now: Now) -> None:
        hazards = self.params.get("hazard_lights", True) is not False
        self.intent = replace(STAND, lights=LIGHT_HAZARD) if hazards else STAND

    def decide(self, now: Now) -> Intent:
        return self.intent


class Idle(Behavior):
    """Stand still (a moving vehicle stops first)."""

    name = "idle"

    def decide(self, now: Now) -> Intent:
        return STAND


class Stand(Idle):
    """Before an actor's first step, or for an actor without steps that does not move."""

    name = "stand"
