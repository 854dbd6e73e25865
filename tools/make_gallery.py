"""`make gallery`: one annotated still per library scenario at its critical moment -> docs/gallery.md.

For every scenario in scenarios/ this runs seed 0 twice: once without sensors, to find the
critical moment (the tick of the smallest time-to-collision between the ego and an adversary,
else of their smallest distance, from the episode's metrics), then with the front_camera rig,
recording a frame exactly at that tick (frame_every = the tick), so the still shows the camera
image of that moment, not the nearest recorded one. The still (replay's camera + bird's-eye view
+ timeline) is shrunk to a JPEG under 150 KB, so the gallery stays small in the repository.

    python tools/make_gallery.py [--scenarios scenarios] [--out docs]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

import cv2

import edgecase
from edgecase.errors import EdgecaseError
from edgecase.replay.video import write_still
from edgecase.scenario.library import list_library

MAX_BYTES = 150_000
WIDTH_PX = 960


def critical_tick(episode: dict) -> tuple[int, str]:
    """The tick of min TTC (finite) or else min distance, over the ego's pairs with an adversary (or
    the cargo an adversary drops)."""
    plan = episode["plan"]
    adversaries = {a["name"] for a in plan["actors"] if a["role"] == "adversary"}
    adversaries |= {a["name"] for a in plan["actors"] if a.get("carried_by") in adversaries}  # its lost cargo
    pairs = [p for p in episode["metrics"]["pairs"] if "ego" in p["actors"] and set(p["actors"]) & adversaries]
    pairs = pairs or episode["metrics"]["pairs"]
    ttc = [p for p in pairs if p.get("min_ttc_s") is not None and p.get("min_ttc_at_s") is not None]
    if ttc:
        best = min(ttc, key=lambda p: p["min_ttc_s"])
        t_s, what = best["min_ttc_at_s"], f"min TTC {best['min_ttc_s']:.2f} s ({' vs '.join(best['actors'])})"
    elif pairs and pairs[0].get("min_distance_at_s") is not None:
        best = min(pairs, key=lambda p: p["min_distance_m"] if p["min_distance_m"] is not None else math.inf)
        t_s, what = best["min_distance_at_s"], f"min distance {best['min_distance_m']:.2f} m ({' vs '.join(best['actors'])})"
    else:
        return 0, "no adversary pair: the first tick"
    return round(t_s / plan["step_s"]), what


def still(path: Path, out_jpg: Path, work: Path) -> str:
    """Run seed 0, write the still at the critical moment; returns what the moment is."""
    edgecase.run(path, 0, out=work / "bare", sensors=False, force=True)
    tick, what = critical_tick(json.loads((work / "bare" / "episode.json").read_text()))
    edgecase.run(path, 0, out=work / "cam", sensors="front_camera", frame_every=max(tick, 1), force=True)
    png = write_still(work / "cam", tick, work / "still.png")
    image = cv2.imread(str(png))
    image = cv2.resize(image, (WIDTH_PX, round(image.shape[0] * WIDTH_PX / image.shape[1])), interpolation=cv2.INTER_AREA)
    for quality in (85, 75, 65, 55, 45):
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok and len(data) <= MAX_BYTES:
            break
    out_jpg.write_bytes(data.tobytes())
    return f"{what}, tick {tick}"


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--scenarios", type=Path, default=Path("scenarios"))
    args.add_argument("--out", type=Path, default=Path("docs"))
    opts = args.parse_args(argv)
    images = opts.out / "gallery"
    images.mkdir(parents=True, exist_ok=True)
    sections = ["# Scenario gallery\n",
                "Each library scenario, seed 0, at its critical moment (smallest TTC, else smallest distance, "
                "between the ego and the adversary): the front camera with its labels, the bird's-eye view and "
                "the timeline. Regenerate with `make gallery` (tools/make_gallery.py).\n"]
    for entry in list_library(opts.scenarios):
        if entry.error:
            print(f"skip {entry.path}: {entry.error}", file=sys.stderr)
            continue
        with tempfile.TemporaryDirectory() as work:
            try:
                moment = still(entry.path, images / f"{entry.name}.jpg", Path(work))
            except EdgecaseError as err:
                print(f"skip {entry.name}: {err}", file=sys.stderr)
                continue
        print(f"{entry.name}: {moment}")
        sections.append(f"## {entry.name}\n\n{entry.description}\n\nTags: {', '.join(entry.tags)}. "
                        f"Seed 0, {moment}.\n\n![{entry.name}](gallery/{entry.name}.jpg)\n")
    (opts.out / "gallery.md").write_text("\n".join(sections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
