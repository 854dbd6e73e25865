"""The labels of one frame: frozen, JSON round-trip, identical bytes for identical episodes.

Frames and units are CARLA's (labels-reference sections 1-3): world and ego frames are
left-handed (x forward, y right, z up), metres and degrees; 2D boxes are pixel-edge coordinates
(x0, y0, x1, y1) with (0, 0) the top-left corner of the first pixel, so a box covering pixel
columns 10..29 is x0 = 10, x1 = 30 (COCO's convention; KITTI's l, t, r, b read the same way).
The exports convert from here to each dataset's own frames.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict

Vec3 = tuple[float, float, float]
Box2D = tuple[float, float, float, float]  # x0, y0, x1, y1 pixels


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Box3D(Frozen):
    """An oriented box: geometric centre, full sizes and yaw (pitch and roll are 0 here)."""

    centre_m: Vec3
    size_m: Vec3  # length (along the heading), width, height
    # CARLA's sign: + turns x towards y (clockwise from above). In CameraView.box_camera it is KITTI's
    # rotation_y in degrees, ry = atan2(-d_z, d_x) of the heading d in the optical frame (labels-reference
    # 4.2): the same sense, clockwise seen from above; ry = 0 heads along the camera's +x (right).
    yaw_deg: float


class CameraView(Frozen):
    """One object as one camera sees it; present only when some of its box projects into the image."""

    amodal: Box2D  # the projected 3D box, clipped at the near plane, then to the image (KITTI's box)
    modal: Optional[Box2D]  # the tight box of its visible pixels in the instance mask (COCO's); None: hidden
    visible_px: int  # pixels of the instance mask that are this actor
    visibility: float  # visible_px / the area its unoccluded silhouette covers in the image, 0..1
    truncation: float  # share of the silhouette outside the image (or behind the camera), 0..1
    occlusion: int  # KITTI: 0 fully visible, 1 partly, 2 largely occluded, 3 unknown (edgecase/labels/annotate.py)
    box_camera: Box3D  # in the camera's optical frame (x right, y down, z forward); yaw_deg = KITTI's ry


class ObjectLabel(Frozen):
    track_id: int  # stable over the episode: the plan's actor id (= CARLA's actor id on the embedded backend)
    name: str  # the scenario's instance name ('child', 'parked[2]'): the edge case's own actors by name
    role: Literal["ego", "adversary", "background"]
    blueprint: str
    actor_class: str  # car, van, truck, bus, motorcycle, bicycle, pedestrian, prop
    kitti_type: str  # Car, Van, Truck, Pedestrian, Cyclist, Misc
    # e.g. vehicle.car, human.pedestrian.child, movable_object.trafficcone; None: no nuScenes class
    # (street furniture, trees: nuScenes annotates none), the nuScenes export skips the object
    nuscenes_category: Optional[str]
    coco_category: Optional[str]  # e.g. car, person, bicycle; None: no COCO class, the COCO export skips it
    # nuScenes attribute: vehicle.moving|stopped|parked, pedestrian.moving|standing, cycle.with_rider;
    # '' for props (nuScenes gives movable and static objects no attribute)
    attribute: str
    speed_mps: float
    box: Box3D  # world frame
    box_ego: Box3D  # the ego vehicle's frame (origin at its CARLA origin)
    cameras: dict[str, CameraView]
    lidar_points: dict[str, int]  # points of each LiDAR's sweep on this actor


class Capture(Frozen):
    """One sensor's data at this frame: its files in the episode directory and where the sensor was."""

    files: dict[str, str]  # kind -> path relative to the episode directory (rgb, depth, instance | points, semantic)
    sensor_to_world: tuple[tuple[float, float, float, float], ...]  # 4x4, CARLA frame (data.transform)
    channel_counts: tuple[int, ...] = ()  # LiDAR: points per laser, CARLA's header (ring index = position)


class FrameLabels(Frozen):
    format_version: int = 1
    scenario: str
    seed: int
    tags: tuple[str, ...]
    tick: int
    t_s: float
    ego_track_id: int
    ego_pose: tuple[float, float, float, float]  # x_m, y_m, z_m, yaw_deg of the ego's CARLA origin
    objects: tuple[ObjectLabel, ...]  # every active actor but the ego, in plan order
    captures: dict[str, Capture] = {}  # by sensor name; filled by the recorder
