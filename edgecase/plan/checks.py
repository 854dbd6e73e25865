"""Is the start physically sound? No two actors' boxes overlap (lanes are checked as actors are placed);
actors not in the world at the start (cargo still carried) are not checked."""

from __future__ import annotations

import math

from shapely import Polygon

from edgecase.errors import DoesNotFit
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
    shapes: dict[int, Polygon] = {}

    def shape(i: int) -> Polygon:  # built only for pairs close enough to touch: most pairs never are
        if i not in shapes:
            shapes[i] = footprint(actors[i])
        return shapes[i]

    reach = [math.hypot(a.size.length_m, a.size.width_m) / 2 for a in actors]
    for i, a in enumerate(actors):
        if a.spawn != "start":
            continue  # cargo rides on its carrier's load bed, not in the world, until it drops
        for j in range(i):
            b = actors[j]
            if b.spawn != "start":
                continue
            if math.hypot(a.pose.x_m - b.pose.x_m, a.pose.y_m - b.pose.y_m) >= reach[i] + reach[j]:
                continue
            if shape(i).intersection(shape(j)).area > OVERLAP_M2:
                raise DoesNotFit(
                    f"'{a.name}' ({a.blueprint}) overlaps '{b.name}' ({b.blueprint}) at the start; move one of them",
                    scenario.pos("actors", a.name.split("[")[0], "at"),
                )
