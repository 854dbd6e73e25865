"""Behaviors: each plan step's name mapped to the small class that gives it motion.

One module per family: driving (follow_lane, turn, run_red_light, wrong_way), lateral
(lane_change, cut_in, pull_out), stopping (hard_brake, stop, stalled, idle), walkers (cross,
walk), body (open_door, drop_cargo). `sequence` runs an actor's steps with their triggers.
"""

from __future__ import annotations

from edgecase.sim.behaviors.base import ActorInfo, Behavior, Intent, Now, Scene, Tracks
from edgecase.sim.behaviors.body import DropCargo, OpenDoor
from edgecase.sim.behaviors.driving import Cruise, FollowLane, RunRedLight, TurnAtJunction, WrongWay
from edgecase.sim.behaviors.lateral import CutIn, LaneChange, PullOut
from edgecase.sim.behaviors.sequence import Sequence
from edgecase.sim.behaviors.stopping import HardBrake, Idle, Stalled, Stand, Stop
from edgecase.sim.behaviors.walkers import Cross, Walk

REGISTRY: dict[str, type[Behavior]] = {
    cls.name: cls
    for cls in (
        FollowLane, LaneChange, CutIn, HardBrake, Stop, Stalled, PullOut, TurnAtJunction,
        RunRedLight, WrongWay, Cross, OpenDoor, DropCargo, Walk, Idle,
    )
}  # fmt: skip

__all__ = ["REGISTRY", "ActorInfo", "Behavior", "Cruise", "Intent", "Now", "Scene", "Sequence", "Stand", "Tracks"]
