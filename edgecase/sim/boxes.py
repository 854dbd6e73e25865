"""Every actor's 3D box in the world at one tick: what the renderer draws and the annotator labels.

One function, so the pixels and the labels cannot disagree about where an actor is. Boxes are
CARLA's: centre in the world frame (x fwd, y right, z up), half extents (CARLA's `extent`:
length/2, width/2, height/2) and yaw; pitch and roll are 0 on the embedded backend's flat
ground. Heights come from the plan's spawn pose: vehicles and props stand on their origin,
a walker's origin is its box centre (CARLA's convention, labels-reference 1.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgecase.plan import EpisodePlan
from edgecase.sensors.transforms import BOX_SIGNS, carla_matrix
from edgecase.sim.state import ActorStates


@dataclass(frozen=True, eq=False)
class Boxes:
    """Row i is plan.actors[i]."""

    centre_m: np.ndarray  # (N, 3) world
    extent_m: np.ndarray  # (N, 3) half length, half width, half height
    yaw_rad: np.ndarray  # (N,) CARLA world yaw (clockwise from above)
    actor_id: np.ndarray  # (N,) uint32: the plan's id, the id instance masks and LiDAR carry
    tag: np.ndarray  # (N,) uint8 CARLA semantic tag
    active: np.ndarray  # (N,) bool: in the world now

    def __len__(self) -> int:
        return len(self.actor_id)

    def vertices(self) -> np.ndarray:
        """(N, 8, 3) world corners in CARLA's BoundingBox vertex order."""
        local = BOX_SIGNS[None] * self.extent_m[:, None, :]
        cos, sin = np.cos(self.yaw_rad)[:, None], np.sin(self.yaw_rad)[:, None]
        x = local[..., 0] * cos - local[..., 1] * sin
        y = local[..., 0] * sin + local[..., 1] * cos
        return np.stack([x, y, local[..., 2]], axis=-1) + self.centre_m[:, None, :]


def ground_z(plan: EpisodePlan) -> np.ndarray:
    """(N,) the height of each actor's box bottom."""
    return np.array([a.pose.z_m - (a.size.height_m / 2 if a.actor_class == "pedestrian" else 0.0)
                     for a in plan.actors])


def world_boxes(plan: EpisodePlan, actors: ActorStates, bottom_z_m: np.ndarray | None = None) -> Boxes:
    """The boxes of `actors` (a tick of `plan`); pass `ground_z(plan)` as bottom_z_m to skip recomputing it."""
    bottom = ground_z(plan) if bottom_z_m is None else bottom_z_m
    sin, cos = np.sin(actors.yaw_rad), np.cos(actors.yaw_rad)
    centre = np.stack([actors.x_m - actors.box_offset_m * sin, actors.y_m + actors.box_offset_m * cos,
                       bottom + actors.height_m / 2], axis=1)
    extent = np.stack([actors.length_m, actors.width_m, actors.height_m], axis=1) / 2
    ids = np.array([a.id for a in plan.actors], np.uint32)
    tags = np.array([a.semantic_tag for a in plan.actors], np.uint8)
    return Boxes(centre, extent, np.asarray(actors.yaw_rad, float), ids, tags, np.asarray(actors.active, bool))


def actor_pose(plan: EpisodePlan, actors: ActorStates, index: int) -> np.ndarray:
    """4x4 actor -> world (CARLA's actor transform: the origin, not the box centre)."""
    a = plan.actors[index]
    return carla_matrix(float(actors.x_m[index]), float(actors.y_m[index]), a.pose.z_m,
                        yaw_deg=float(np.degrees(actors.yaw_rad[index])))
