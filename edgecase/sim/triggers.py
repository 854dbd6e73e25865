"""Trigger conditions: when a behavior step may start, read from the current WorldState.

Each is the scenario language's definition, evaluated at one tick (docs/scenario-language.md):
after_s (episode time), distance_to (box centres closer than below_m), ttc_to (constant-velocity
time until the boxes overlap, below below_s: the exact swept test the metrics use), in_region
(a centre inside a circle) and event (another step started or ended, at this tick or before).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Set

import numpy as np

from edgecase.plan.model import TriggerPlan
from edgecase.sim import geometry
from edgecase.sim.state import ActorStates, WorldState

TIME_EPS_S = 1e-9  # t_s is tick * step_s: 2.5 may read 2.4999999999999996


def holds(trigger: TriggerPlan, row: int, state: WorldState, rows: Mapping[str, int], seen: Set[str]) -> bool:
    """Whether `trigger` of actor `row` holds now; `seen` holds 'actor.behavior.start|end' so far."""
    kind = trigger.kind
    if kind == "after_s":
        return state.t_s + TIME_EPS_S >= trigger.after_s
    if kind == "event":
        return trigger.event in seen
    a = state.actors
    if kind == "in_region":
        who = rows[trigger.actor] if trigger.actor is not None else row
        return bool(a.active[who]) and math.hypot(a.x_m[who] - trigger.x_m, a.y_m[who] - trigger.y_m) < trigger.radius_m
    other = rows[trigger.actor]
    if not (a.active[row] and a.active[other]):
        return False
    if kind == "distance_to":
        return math.hypot(a.x_m[row] - a.x_m[other], a.y_m[row] - a.y_m[other]) < trigger.below
    if kind == "ttc_to":
        return ttc_s(a, row, other, trigger.below) < trigger.below
    raise ValueError(f"unknown trigger kind {kind!r}")


def ttc_s(actors: ActorStates, i: int, j: int, horizon_s: float) -> float:
    """Constant-velocity time until the boxes of i and j overlap (inf beyond horizon_s)."""
    box = geometry.corners(actors.x_m[[i, j]], actors.y_m[[i, j]], actors.yaw_rad[[i, j]], actors.length_m[[i, j]], actors.width_m[[i, j]],
                           actors.box_offset_m[[i, j]])
    v = actors.speed_mps[[i, j], None] * np.stack([np.cos(actors.yaw_rad[[i, j]]), np.sin(actors.yaw_rad[[i, j]])], axis=-1)
    return float(geometry.time_to_overlap_s(box[0], box[1], v[1] - v[0], horizon_s))


def nominal_start_s(trigger: TriggerPlan | None, fired_t_s: float) -> float:
    """When a step is meant to start: a time trigger's own time plus its delay (between ticks, as
    the criticality solver computed it), else the tick the condition held plus the delay."""
    if trigger is None:
        return fired_t_s
    base = trigger.after_s if trigger.kind == "after_s" else fired_t_s
    return base + trigger.delay_s
