"""Replay: frames/s of the annotated video (edgecase.replay), on recorded episodes.

Sections (each a function of the recorded `Episodes`, listed in SECTIONS; JSON key = its name):
- `video` (the issue's target in brackets):
  - `render_camera`: one 1280x720 frame (camera panel with 2D boxes + bird's-eye view + timeline
    + info) drawn from an already decoded camera image, frames/s [>= 60];
  - `render_camera_wireframes`: the same with the projected 3D box wireframes;
  - `render_bev_only`: the 1280x720 frame of an episode without sensors;
  - `write_camera`, `write_bev_only`: `write_video` end to end (read the episode, decode JPEGs,
    draw, encode the MP4), frames/s of the whole call, and the codec OpenCV used;
  - `setup_s`: building a FrameRenderer (map raster, timeline series), paid once per video.
The episodes: scenarios/occluded_child_dartout.yaml seed 7, 10 s at 20 Hz, recorded with the
front_camera rig at 10 Hz (frame_every 2: 101 frames), and again without sensors.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import median_s, parse_args, write  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "scenarios" / "occluded_child_dartout.yaml"
SEED = 7
TARGET_FPS = 60


@dataclass(frozen=True)
class Episodes:
    """The recorded episodes every section measures on."""

    root: Path
    camera: Path  # front_camera, a frame every 2 ticks (10 Hz)
    trace_only: Path  # the same episode without sensors


def record_episodes(root: Path) -> Episodes:
    import edgecase

    episodes = Episodes(root, root / "camera", root / "trace_only")
    edgecase.run(SCENARIO, SEED, out=episodes.camera, sensors="front_camera_lidar", frame_every=2)
    edgecase.run(SCENARIO, SEED, out=episodes.trace_only, sensors=False)
    return episodes


def _render_fps(episode_dir: Path, wireframes: bool = False) -> dict[str, Any]:
    """Frames/s of FrameRenderer.render over every frame, images decoded beforehand (best of 3)."""
    from edgecase.replay.compose import FrameRenderer
    from edgecase.replay.episode_data import load_episode
    from edgecase.replay.video import video_ticks

    episode = load_episode(episode_dir)
    renderer = FrameRenderer(episode, wireframes=wireframes)
    ticks = video_ticks(episode, None, renderer.camera)
    images = [renderer.camera_image(t) for t in ticks]
    renderer.render(ticks[0], images[0])

    def run() -> None:
        for tick, image in zip(ticks, images):
            renderer.render(tick, image)

    seconds = min(median_s(run, 1) for _ in range(3))
    return {"frames_per_s": round(len(ticks) / seconds, 1), "frames": len(ticks)}


def _write_fps(episode_dir: Path, out: Path) -> dict[str, Any]:
    """Frames/s of write_video end to end (median of 3 calls; caches warm after the first)."""
    from edgecase.replay.video import write_video

    times, summary = [], None
    for _ in range(3):
        started = time.perf_counter()
        summary = write_video(episode_dir, out)
        times.append(time.perf_counter() - started)
    return {"frames_per_s": round(summary.frames / statistics.median(times), 1), "frames": summary.frames,
            "first_call_s": round(times[0], 3), "codec": summary.codec, "fps": summary.fps, "size": list(summary.size)}


def _setup_s(episode_dir: Path) -> float:
    from edgecase.replay.bev import _map_layer
    from edgecase.replay.compose import FrameRenderer
    from edgecase.replay.episode_data import load_episode

    episode = load_episode(episode_dir)
    _map_layer.cache_clear()  # the map raster is cached per process: measure it being drawn
    started = time.perf_counter()
    FrameRenderer(episode)
    return round(time.perf_counter() - started, 3)


def video_section(episodes: Episodes) -> dict[str, Any]:
    results: dict[str, Any] = {
        "render_camera": _render_fps(episodes.camera),
        "render_camera_wireframes": _render_fps(episodes.camera, wireframes=True),
        "render_bev_only": _render_fps(episodes.trace_only),
        "write_camera": _write_fps(episodes.camera, episodes.root / "camera.mp4"),
        "write_bev_only": _write_fps(episodes.trace_only, episodes.root / "bev.mp4"),
        "setup_s": _setup_s(episodes.camera),
    }
    rate = results["render_camera"]["frames_per_s"]
    results["target_frames_per_s"] = f">= {TARGET_FPS} (render_camera)"
    results["meets_target"] = rate >= TARGET_FPS
    return results


MCAP_TARGET_FPS = 200


def mcap_section(episodes: Episodes) -> dict[str, Any]:
    """MCAP export frames/s (camera + LiDAR episode; target >= 200), via mcap_export.bench_mcap."""
    from edgecase.replay.mcap_export import bench_mcap

    results = bench_mcap(episodes.camera)
    results["target_frames_per_s"] = f">= {MCAP_TARGET_FPS}"
    results["meets_target"] = results["frames_per_s"] >= MCAP_TARGET_FPS
    return results


# Each section: JSON key -> function of the recorded episodes.
SECTIONS: dict[str, Callable[[Episodes], dict[str, Any]]] = {"video": video_section, "mcap": mcap_section}


def main() -> None:
    out = parse_args("replay")
    with tempfile.TemporaryDirectory() as tmp:
        episodes = record_episodes(Path(tmp))
        results = {name: section(episodes) for name, section in SECTIONS.items()}
    write(out, "replay", results)


if __name__ == "__main__":
    main()
