"""Lost cargo: the boxes a carrier's drop_cargo steps drop, as actors of the plan.

Each drop_cargo step with `count` k adds k actors after all the scenario's actors (so the others
keep their ids and rows), named '<carrier>_cargo[i]' (i counts over the carrier's steps), role
background, the step's drawn prop blueprint and its size. They are spawned 'dropped' (not in the
world at the start) and `carried_by` the carrier: their pose is on top of the carrier at its rear,
side by side across it (the boxes of a later step one row further forward), at its height, speed
and heading. Backends keep them there until the step drops them (docs/episode-format.md).
"""

from __future__ import annotations

import math

from edgecase.plan.blueprints import catalog
from edgecase.plan.model import ActorPlan, Pose, Size

SIDE_GAP_M = 0.1  # between boxes side by side


def cargo_actors(actors: tuple[ActorPlan, ...] | list[ActorPlan]) -> tuple[ActorPlan, ...]:
    out: list[ActorPlan] = []
    for carrier in actors:
        steps = [s for s in carrier.behaviors if s.name == "drop_cargo"]
        yaw = math.radians(carrier.pose.yaw_deg)
        forward, right = (math.cos(yaw), math.sin(yaw)), (-math.sin(yaw), math.cos(yaw))
        back_m = carrier.size.length_m / 2  # where the next row of boxes ends, behind the carrier's centre
        index = 0
        for step in steps:
            count = int(step.params.get("count") or 0)
            if count <= 0:
                continue
            bp = catalog().get(str(step.params["blueprint"]))
            centre_back_m = max(back_m - bp.length_m / 2, 0.0)
            for k in range(count):
                right_m = (k - (count - 1) / 2) * (bp.width_m + SIDE_GAP_M)
                x = carrier.pose.x_m - centre_back_m * forward[0] + right_m * right[0]
                y = carrier.pose.y_m - centre_back_m * forward[1] + right_m * right[1]
                out.append(ActorPlan(
                    id=len(actors) + len(out) + 1, name=f"{carrier.name}_cargo[{index}]", role="background", blueprint=bp.id,
                    actor_class=bp.actor_class.value, semantic_tag=int(bp.semantic_tag),
                    size=Size(length_m=bp.length_m, width_m=bp.width_m, height_m=bp.height_m), wheelbase_m=None,
                    pose=Pose(x_m=x, y_m=y, z_m=carrier.pose.z_m + carrier.size.height_m, yaw_deg=carrier.pose.yaw_deg),
                    lane=None, speed_mps=carrier.speed_mps, behaviors=(), spawn="dropped", carried_by=carrier.name,
                ))  # fmt: skip
                index += 1
            back_m = centre_back_m - bp.length_m / 2
    return tuple(out)
