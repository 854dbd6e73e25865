"""Is the start physically sound? No two actors' boxes overlap (lanes are checked as actors are placed)."""

from __future__ import annotations

import math

from shapely import Polygon

from edgecase.errors import InputError
from edgecase.plan.model import ActorPlan
from edgecase.scenario import Scenario

OVERLAP_M2 = 0.01  # touching boxes are fine (a row of parked cars with gap 0); overlapping ones are not


def footprint(actor: ActorPlan) -> Polygon:
    """The actor's box seen from above, in CARLA's world frame."""
    yaw = math.radians(actor.pose.yaw_deg)
    fx, fy = math.cos(yaw), math.sin(yaw)
    rx, ry = -fy, fx
    hl, hw = actor.size.length_m / 2, actor.size.width_m / 2
    x, y = actor.pose.x_m, actor.pose.y_m
    corners = [(x + a * hl * fx + b * hw * rx, y + a * hl * fy + b * hw * ry) for a, b in ((1, 1), (1, -1), (-1, -1), (-1, 1))]
    return Polygon(corners)


def check_start(actors: tuple[ActorPlan, ...], scenario: Scenario) -> None:
    shapes = [footprint(a) for a in actors]
    for i, a in enumerate(actors):
        for j in range(i):
            if shapes[i].intersection(shapes[j]).area > OVERLAP_M2:
                b = actors[j]
                raise InputError(
                    f"'{a.name}' ({a.blueprint}) overlaps '{b.name}' ({b.blueprint}) at the start; move one of them",
                    scenario.pos("actors", a.name.split("[")[0], "at"),
                )
