"""Labels: what each frame shows, as pure functions of actor states, calibration and sensor data.

`annotate(plan, state, frames)` gives a `FrameLabels` (edgecase/labels/model.py): 3D boxes in the
world, ego and camera frames, 2D amodal and modal boxes with visibility, truncation and KITTI
occlusion per camera, LiDAR point counts, and KITTI / nuScenes / COCO classes. Exports read
these; nothing here writes files.
"""

from edgecase.labels.annotate import Annotator, annotate, occlusion_level
from edgecase.labels.classes import COCO_CATEGORIES, Classes, attribute_of, classes_of, coco_category_id
from edgecase.labels.model import Box3D, CameraView, FrameLabels, ObjectLabel

__all__ = ["COCO_CATEGORIES", "Annotator", "Box3D", "CameraView", "Classes", "FrameLabels", "ObjectLabel",
           "annotate", "attribute_of", "classes_of", "coco_category_id", "occlusion_level"]
