"""The Backend protocol: the few methods a simulator fills in. The loop owns time and behavior.

Like Scenic's `Simulation` interface, a backend only creates the world, applies controls, steps
and reports state; the embedded backend and the CARLA bridge implement the same four methods,
so behaviors, triggers, metrics and oracles never know which one runs.
"""

from __future__ import annotations

from typing import Protocol

from edgecase.plan import EpisodePlan
from edgecase.sensors.frames import SensorFrames
from edgecase.sim.state import Controls, WorldState


class Backend(Protocol):
    name: str

    def reset(self, plan: EpisodePlan) -> WorldState:
        """Build the world for `plan` (map, weather, actors in plan order); the state at t = 0."""

    def apply(self, controls: Controls) -> None:
        """Controls for the next step (clipped by the backend to each actor's physical limits)."""

    def tick(self) -> WorldState:
        """Advance by `plan.step_s` and report the new state."""

    def sense(self) -> SensorFrames:
        """The rig's frames at the current state (backends built with a rig; the loop calls it
        only when recording sensors). Frames follow CARLA's layouts (edgecase.sensors.frames)."""

    def close(self) -> None:
        """Remove every actor and restore the simulator; safe to call twice and after errors."""
