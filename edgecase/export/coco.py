"""Episodes -> one COCO instances file (labels-reference section 5).

    OUT/annotations/instances.json
    OUT/images/<EPISODE>/<CAMERA>/TTTTTT.jpg     the recorded JPEGs, copied byte for byte

One image per (episode, frame, camera); one annotation per object the camera sees at least one
pixel of (`CameraView.modal` not None) whose class has a COCO category:

* `bbox` = the modal box [x, y, w, h] (the tight box of the visible pixels: what a COCO detector
  is trained to find), `area` = visible pixels, `iscrowd` 0;
* `segmentation` = compressed RLE of the pixels whose instance id is the track id
  (sensors/CAM/TTTTTT_instance.png: id = G + 256 B), made by pycocotools' own encoder;
* ids: images and annotations numbered from 1 (an annotation id 0 is never matched by COCOeval);
  categories carry COCO's official ids (person 1, bicycle 2, car 3, motorcycle 4, bus 6, truck 8)
  so models trained on COCO evaluate without remapping; only categories present are listed.

Extra fields (COCO readers ignore them): per annotation `track_id`, `scenario_name`, `role`,
`visibility`, `amodal_bbox`; per image `episode`, `tick`, `t_s`, `camera`, `scenario`, `seed`,
`tags`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from edgecase.errors import InputError
from edgecase.export.reader import Episode, episode_key, read_instance_ids
from edgecase.labels.model import ObjectLabel

#: COCO 2017's official category ids and supercategories for everything a driving scene can hold
COCO_CATEGORIES: dict[str, tuple[int, str]] = {
    "person": (1, "person"), "bicycle": (2, "vehicle"), "car": (3, "vehicle"), "motorcycle": (4, "vehicle"),
    "bus": (6, "vehicle"), "train": (7, "vehicle"), "truck": (8, "vehicle"), "boat": (9, "vehicle"),
    "traffic light": (10, "outdoor"), "fire hydrant": (11, "outdoor"), "stop sign": (13, "outdoor"),
    "parking meter": (14, "outdoor"), "bench": (15, "outdoor"), "bird": (16, "animal"), "cat": (17, "animal"),
    "dog": (18, "animal"), "horse": (19, "animal"), "sheep": (20, "animal"), "cow": (21, "animal"),
    "backpack": (27, "accessory"), "umbrella": (28, "accessory"), "handbag": (31, "accessory"),
    "suitcase": (33, "accessory"), "sports ball": (37, "sports"),
}


def _mask_api():
    """pycocotools' mask module, imported on use: only COCO exports need it."""
    try:
        from pycocotools import mask
    except ImportError:  # pragma: no cover - depends on the environment
        raise InputError("the COCO export needs pycocotools", hint="pip install pycocotools") from None
    return mask


def write_coco(episodes: Sequence[Episode], root: Path, camera: str | None = None, workers: int = 2) -> dict[str, Any]:
    """Write images and instances.json into `root` (an empty staging directory)."""
    mask_api = _mask_api()
    jobs = list(_images(episodes, camera))
    with ThreadPoolExecutor(max(1, workers)) as pool:
        results = list(pool.map(lambda job: _image_entry(job, root, mask_api), jobs))
    images, annotations, skipped = [], [], 0
    for image, anns, n_skipped in results:
        images.append(image)
        for ann in anns:
            annotations.append({"id": len(annotations) + 1, "image_id": image["id"], **ann})
        skipped += n_skipped
    used = sorted({a["category_id"] for a in annotations})
    by_id = {cid: (name, sup) for name, (cid, sup) in COCO_CATEGORIES.items()}
    categories = [{"id": cid, "name": by_id[cid][0], "supercategory": by_id[cid][1]} for cid in used]
    document = {"info": {"description": "edgecase episodes", "version": "1.0"}, "licenses": [],
                "images": images, "annotations": annotations, "categories": categories}
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances.json").write_text(json.dumps(document, separators=(",", ":")) + "\n")
    notes = [f"{skipped} visible objects without a COCO category were left out"] if skipped else []
    return {"frames": sum(len(e.frames) for e in episodes), "items": len(images), "annotations": len(annotations),
            "notes": notes}


def _images(episodes: Sequence[Episode], camera: str | None):
    """(image id, episode index, episode, frame, camera) in episode, tick, rig order."""
    image_id = 1
    for i, episode in enumerate(episodes):
        if camera is not None and camera not in episode.cameras:
            raise InputError(f"{episode.path / 'calib.json'}: no camera '{camera}' "
                             f"(cameras: {', '.join(episode.cameras) or 'none'})")
        for frame in episode.frames:
            for cam in episode.cameras:
                if (camera is None or cam == camera) and cam in frame.captures:
                    yield image_id, i, episode, frame, cam
                    image_id += 1


def _image_entry(job, root: Path, mask_api) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """Copy one image, and build its image record and annotations (ids without the running number)."""
    image_id, index, episode, frame, cam = job
    source = episode.file(frame, cam, "rgb")
    name = f"{episode_key(index, episode)}/{cam}/{frame.tick:06d}{source.suffix.lower()}"
    (root / "images" / name).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, root / "images" / name)
    calib = episode.sensors[cam]
    image = {"id": image_id, "width": calib.width_px, "height": calib.height_px, "file_name": name,
             "episode": episode_key(index, episode), "scenario": episode.scenario, "seed": episode.seed,
             "tick": frame.tick, "t_s": frame.t_s, "camera": cam, "tags": list(frame.tags)}
    wanted = [o for o in frame.objects if o.cameras.get(cam) is not None and o.cameras[cam].modal is not None]
    labelled = [o for o in wanted if o.coco_category in COCO_CATEGORIES]
    anns = []
    if labelled:
        ids = read_instance_ids(episode.file(frame, cam, "instance"))
        if ids.shape != (calib.height_px, calib.width_px):
            raise InputError(f"{episode.file(frame, cam, 'instance')}: {ids.shape[1]}x{ids.shape[0]} px, "
                             f"calib.json says {calib.width_px}x{calib.height_px}")
        anns = [_annotation(obj, cam, ids, mask_api) for obj in labelled]
    return image, anns, len(wanted) - len(labelled)


def _annotation(obj: ObjectLabel, cam: str, ids: np.ndarray, mask_api) -> dict[str, Any]:
    view = obj.cameras[cam]
    x0, y0, x1, y1 = view.modal
    rle = instance_rle(ids, obj.track_id, view.modal, view.visible_px, mask_api)
    return {"category_id": COCO_CATEGORIES[obj.coco_category][0], "bbox": [x0, y0, x1 - x0, y1 - y0],
            "area": float(view.visible_px), "iscrowd": 0, "segmentation": rle, "track_id": obj.track_id,
            "scenario_name": obj.name, "role": obj.role, "visibility": view.visibility,
            "amodal_bbox": [view.amodal[0], view.amodal[1], view.amodal[2] - view.amodal[0],
                            view.amodal[3] - view.amodal[1]]}


def instance_rle(ids: np.ndarray, track_id: int, modal, visible_px: int, mask_api) -> dict[str, Any]:
    """COCO's compressed RLE of the pixels with `track_id`, as JSON (counts decoded to str).

    Why not `mask.encode` of the whole image: comparing and encoding a full 1280x720 mask per
    object costs ~0.7 ms, most of a frame's budget with 20 objects. Only the columns of the modal
    box (plus one on each side) can hold the object, and column-major RLE of the whole image is
    "zeros up to the strip, the strip's runs, zeros after it", so the runs are counted on the
    strip and pycocotools compresses them. If the strip does not hold all `visible_px` pixels
    (labels and mask disagree), the whole image is encoded instead: the mask wins.
    """
    height, width = ids.shape
    x0 = max(int(np.floor(modal[0])) - 1, 0)
    x1 = min(int(np.ceil(modal[2])) + 1, width)
    flat = (ids[:, x0:x1] == track_id).T.ravel()  # column-major, as COCO's RLE
    if x1 <= x0 or int(np.count_nonzero(flat)) != visible_px:
        rle = mask_api.encode(np.asfortranarray(ids == track_id, dtype=np.uint8))
    else:
        bounds = [np.flatnonzero(flat[1:] != flat[:-1]) + 1 + x0 * height]
        if flat[0]:
            bounds.insert(0, [x0 * height])
        if flat[-1] and x1 < width:
            bounds.append([x1 * height])
        edges = np.concatenate([[0], *bounds, [width * height]])
        counts = np.diff(edges).tolist()
        rle = mask_api.frPyObjects({"counts": counts, "size": [height, width]}, height, width)
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}
