"""The map as the embedded sensors see it: triangles for cameras, a top-down tag raster for LiDAR.

Built once per episode from the RoadNetwork (`build_static_scene`); actors are not part of it
(they move: `edgecase.sim.boxes.world_boxes` gives them each tick). The ground is flat at
`ground_z_m`: the embedded backend drives on a plane (its kinematics have no z), and the map's
surfaces lie on it a few millimetres apart (road markings above roads above sidewalks above
terrain), so depth tests order them without z-fighting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# CARLA 0.9.16 semantic tags the map uses (carla.CityObjectLabel; labels-reference 3.3)
TAG_NONE, TAG_ROADS, TAG_SIDEWALKS, TAG_TERRAIN, TAG_SKY, TAG_ROADLINES, TAG_GROUND = 0, 1, 2, 10, 11, 24, 25


@dataclass(frozen=True, eq=False)
class StaticScene:
    triangles_m: np.ndarray  # (M, 3, 3) float32 world (CARLA frame), counter-clockwise seen from above
    tag: np.ndarray  # (M,) uint8 CARLA tag of each triangle
    colour: np.ndarray  # (M, 3) uint8 base colour (RGB) before lighting
    raster_tag: np.ndarray  # (H, W) uint8: the ground's tag per cell; row = y, column = x
    raster_origin_m: tuple[float, float]  # world (x, y) of cell (0, 0)'s lower corner
    raster_cell_m: float
    ground_z_m: float = 0.0
    outside_tag: int = TAG_TERRAIN  # the ground's tag beyond the raster

    def ground_tag(self, x_m: np.ndarray, y_m: np.ndarray) -> np.ndarray:
        """The tag of the ground at world points (vectorised lookup in the raster)."""
        col = np.floor((np.asarray(x_m) - self.raster_origin_m[0]) / self.raster_cell_m).astype(np.int64)
        row = np.floor((np.asarray(y_m) - self.raster_origin_m[1]) / self.raster_cell_m).astype(np.int64)
        h, w = self.raster_tag.shape
        inside = (row >= 0) & (row < h) & (col >= 0) & (col < w)
        out = np.full(np.shape(col), self.outside_tag, np.uint8)
        out[inside] = self.raster_tag[row[inside], col[inside]]
        return out
