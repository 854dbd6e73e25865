"""Replay video, bird's-eye view and stills (edgecase.replay): pixels where the labels and the trace
say, videos that read back, and clear errors for bad input.

Expected pixels are computed here from the documented transforms (docs/replay.md), not through
the renderer's own helpers: the BEV formula is written out again below.
"""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

import edgecase
from edgecase.errors import InputError
from edgecase.replay import bev, compose, style
from edgecase.replay.episode_data import load_episode
from edgecase.replay.video import CODECS, write_still, write_video
from tests.helpers import SCENARIOS

CHILD = SCENARIOS / "occluded_child_dartout.yaml"
SEED = 3

JUNCTION = """
edgecase: 1
name: light_replay
map: builtin:junction4
duration_s: 2
traffic_lights: {green_s: 8, yellow_s: 3, all_red_s: 1, offset_s: 6}
actors:
  ego:
    blueprint: vehicle.tesla.model3
    at: {junction: any, approach: 0, before_m: 25}
    speed_mps: 5
    behavior: follow_lane
"""


@pytest.fixture(scope="module")
def episodes(tmp_path_factory):
    """Three small recordings: the child dart-out with a front camera (a frame every 10 ticks) and
    without sensors, and a short approach to a signalized junction."""
    root = tmp_path_factory.mktemp("replay")
    edgecase.run(CHILD, SEED, out=root / "camera", sensors="front_camera", frame_every=10)
    edgecase.run(CHILD, SEED, out=root / "trace_only", sensors=False)
    edgecase.run(edgecase.loads(JUNCTION, "junction.yaml"), 0, out=root / "junction", sensors=False)
    return root


def _still(episode_dir, tick, tmp_path, **kw) -> np.ndarray:
    out = write_still(episode_dir, tick, tmp_path / f"still_{tick}.png", **kw)
    image = cv2.imread(str(out))
    assert image.shape == (720, 1280, 3)
    return image


def _bev_pixel(arrays, tick: int, xy, rect) -> tuple[int, int]:
    """docs/replay.md: ego-centred, heading up; u = u0 + right / s, v = v0 - forward / s, in the frame."""
    ex, ey, yaw = arrays["x_m"][tick, 0], arrays["y_m"][tick, 0], arrays["yaw_rad"][tick, 0]
    dx, dy = xy[0] - ex, xy[1] - ey
    forward = dx * math.cos(yaw) + dy * math.sin(yaw)
    right = -dx * math.sin(yaw) + dy * math.cos(yaw)
    u0, v0 = bev.EGO_AT[0] * rect.w, bev.EGO_AT[1] * rect.h
    return rect.x + round(u0 + right / bev.BEV_M_PER_PX), rect.y + round(v0 - forward / bev.BEV_M_PER_PX)


def _rear_quarter(arrays, tick: int, i: int) -> tuple[float, float]:
    """A point inside actor i's box, a quarter length behind its centre (clear of the heading line)."""
    yaw, back = arrays["yaw_rad"][tick, i], arrays["length_m"][tick, i] / 4
    return arrays["x_m"][tick, i] - back * math.cos(yaw), arrays["y_m"][tick, i] - back * math.sin(yaw)


# --- episode data ------------------------------------------------------------------------------


def test_load_episode_gives_plan_trace_events_and_frames(episodes):
    ep = load_episode(episodes / "camera")
    assert ep.ticks == 201 and ep.arrays["x_m"].shape == (201, 5) and ep.names[4] == "child"
    assert ep.frame_ticks == tuple(range(0, 201, 10)) and ep.cameras == ("front",)
    assert ep.edge_case_indices == (4,) and ep.plan.actors[4].role == "adversary"
    assert {e.kind for e in ep.events} >= {"trigger", "behavior_start"}
    assert ep.labels(60).tick == 60 and ep.image_path("front", 60).name == "000060.jpg"
    assert not ep.arrays["x_m"].flags.writeable
    with pytest.raises(InputError, match="tick 65 has no sensor frame .*60 or 70"):
        ep.labels(65)
    assert load_episode(episodes / "trace_only").calib is None


def test_a_directory_that_is_not_an_episode_is_a_clear_input_error(episodes, tmp_path):
    with pytest.raises(InputError, match="not an episode directory"):
        load_episode(tmp_path)
    with pytest.raises(InputError, match="no such directory"):
        write_video(tmp_path / "nowhere", tmp_path / "v.mp4")
    (tmp_path / "episode.json").write_text(json.dumps({"format_version": 1, "plan": {}}))
    (tmp_path / "trace.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a readable episode"):
        load_episode(tmp_path)


def test_unknown_camera_and_bad_arguments_are_input_errors(episodes, tmp_path):
    with pytest.raises(InputError, match=r"no camera 'rear' \(cameras: front\)"):
        write_video(episodes / "camera", tmp_path / "v.mp4", camera="rear")
    with pytest.raises(InputError, match="no camera frames"):
        write_video(episodes / "trace_only", tmp_path / "v.mp4", camera="front")
    with pytest.raises(InputError, match="expected a .mp4"):
        write_video(episodes / "camera", tmp_path / "v.avi")
    with pytest.raises(InputError, match="expected A:B"):
        write_video(episodes / "camera", tmp_path / "v.mp4", frames="ten:20")
    with pytest.raises(InputError, match="no frames in 300:"):
        write_video(episodes / "camera", tmp_path / "v.mp4", frames="300:")
    with pytest.raises(InputError, match="outside the episode"):
        write_still(episodes / "trace_only", 500, tmp_path / "s.png")
    with pytest.raises(InputError, match=r"tick 65 has no sensor frame \(nearest: 60 or 70\)"):
        write_still(episodes / "camera", 65, tmp_path / "s.png")
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".*"))


# --- pixels ------------------------------------------------------------------------------------


def _child_frame(ep) -> tuple[int, tuple[float, float, float, float]]:
    """The first frame where the child's box is at least 8 x 8 px in the camera panel."""
    for tick in ep.frame_ticks:
        child = next((o for o in ep.labels(tick).objects if o.name == "child"), None)
        if child and "front" in child.cameras:
            x0, y0, x1, y1 = child.cameras["front"].amodal
            if (x1 - x0) * 0.6 >= 8 and (y1 - y0) * 0.6 >= 8 and x1 < 1270:
                return tick, (x0, y0, x1, y1)
    raise AssertionError("the child is never seen large enough")


def test_still_draws_the_edge_case_box_in_the_highlight_where_its_label_says(episodes, tmp_path):
    ep = load_episode(episodes / "camera")
    tick, (x0, y0, x1, y1) = _child_frame(ep)
    image = _still(episodes / "camera", tick, tmp_path)
    rect, scale = compose.CAMERA_LAYOUT.camera, 0.6  # 1280 x 720 into 768 x 432; label x -> x * 0.6 - 0.5
    u0, u1 = rect.x + x0 * scale - 0.5, rect.x + x1 * scale - 0.5
    v0, v1 = rect.y + y0 * scale - 0.5, rect.y + y1 * scale - 0.5
    edges = [(u0, v) for v in np.linspace(v0 + 2, v1 - 2, 6)] + [(u1, v) for v in np.linspace(v0 + 2, v1 - 2, 6)]
    edges += [(u, v1) for u in np.linspace(u0 + 2, u1 - 2, 5)]
    for u, v in edges:
        assert tuple(image[round(v), round(u)]) == style.HIGHLIGHT, (u, v)
    centre = image[round((v0 + v1) / 2), round((u0 + u1) / 2)]
    assert tuple(centre) != style.HIGHLIGHT  # an outline, not a filled box
    # another actor's box is in its class colour, not the highlight
    car = next(o for o in ep.labels(tick).objects if o.actor_class == "car" and "front" in o.cameras)
    cx0, cy0, _, cy1 = car.cameras["front"].amodal
    u, v = rect.x + cx0 * scale - 0.5, rect.y + (cy0 + cy1) / 2 * scale - 0.5
    assert tuple(image[round(v), round(u)]) == style.CLASS_COLOURS["car"]


def test_bev_places_actors_where_the_trace_says_without_mirroring(episodes, tmp_path):
    ep = load_episode(episodes / "trace_only")
    tick = 150  # the child is on the road, crossing
    image, a, rect = _still(episodes / "trace_only", tick, tmp_path), ep.arrays, compose.BEV_LAYOUT.bev
    u, v = _bev_pixel(a, tick, (a["x_m"][tick, 4], a["y_m"][tick, 4]), rect)
    assert tuple(image[v, u]) == style.HIGHLIGHT
    u, v = _bev_pixel(a, tick, _rear_quarter(a, tick, 0), rect)
    assert tuple(image[v, u]) == style.EGO
    # parked[0] is on the ego's right (y larger, yaw 0): right of the ego in the picture too
    u, v = _bev_pixel(a, tick, _rear_quarter(a, tick, 1), rect)
    assert tuple(image[v, u]) == style.CLASS_COLOURS["car"] and u > rect.x + bev.EGO_AT[0] * rect.w + 10
    # the map turns with the same transform: the right-hand sidewalk (lane -3, y = 7 m) 10 m ahead
    u, v = _bev_pixel(a, tick, (a["x_m"][tick, 0] + 10.0, 7.0), rect)
    assert tuple(image[v, u]) == (140, 147, 150)  # static_scene's sidewalk colour (150, 147, 140) as BGR


def test_bev_shows_traffic_lights_in_their_recorded_colours(episodes, tmp_path):
    ep = load_episode(episodes / "junction")
    layer = bev.map_layer(ep, compose.BEV_LAYOUT.bev.w, compose.BEV_LAYOUT.bev.h)
    assert len(layer.lights_xy) >= 4
    tick = ep.ticks - 1
    image, rect = _still(episodes / "junction", tick, tmp_path), compose.BEV_LAYOUT.bev
    names = ep.meta["trace"]["light_colors"]
    colours = set()
    for xy, column in zip(layer.lights_xy, layer.light_columns):
        u, v = _bev_pixel(ep.arrays, tick, xy, rect)
        if rect.x <= u < rect.x + rect.w and rect.y <= v < rect.y + rect.h:
            expected = style.LIGHT_COLOURS[names[ep.arrays["light_codes"][tick, column]]]
            assert tuple(image[v, u]) == expected
            colours.add(expected)
    assert len(colours) == 2  # offset 6 s: one axis still green or yellow, the other red


def test_wireframes_add_lines_inside_the_camera_panel_only(episodes, tmp_path):
    tick = _child_frame(load_episode(episodes / "camera"))[0]
    plain = _still(episodes / "camera", tick, tmp_path)
    wired = write_still(episodes / "camera", tick, tmp_path / "wired.png", wireframes=True)
    wired = cv2.imread(str(wired))
    rect = compose.CAMERA_LAYOUT.camera
    changed = np.any(plain != wired, axis=2)
    assert changed[rect.y:rect.y + rect.h, rect.x:rect.x + rect.w].sum() > 200
    changed[rect.y:rect.y + rect.h, rect.x:rect.x + rect.w] = False
    assert not changed.any()


# --- videos ------------------------------------------------------------------------------------


def _read_back(path) -> tuple[int, int, int]:
    """(frames decoded, width, height) as a player sees them."""
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened()
    size = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count, *size


def test_camera_video_reads_back_with_every_frame(episodes, tmp_path):
    summary = write_video(episodes / "camera", tmp_path / "out" / "child.mp4", wireframes=True)
    assert summary.codec in CODECS and summary.camera == "front"
    assert summary.frames == 21 and summary.fps == pytest.approx(2.0) and summary.size == (1280, 720)
    assert _read_back(summary.path) == (21, 1280, 720)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["child.mp4"]  # no temporary left


def test_episode_without_sensors_gives_a_birds_eye_video(episodes, tmp_path):
    summary = write_video(episodes / "trace_only", tmp_path / "bev.mp4")
    assert summary.camera is None and summary.fps == pytest.approx(10.0)
    assert summary.frames == 101 and summary.ticks == (0, 200)  # every 2nd tick of 0.05 s: 10 Hz
    assert _read_back(summary.path) == (101, 1280, 720)


def test_frames_limit_the_video_to_a_tick_range(episodes, tmp_path):
    summary = write_video(episodes / "camera", tmp_path / "part.mp4", frames="40:100")
    assert summary.frames == 6 and summary.ticks == (40, 90)
    assert _read_back(summary.path)[0] == 6
    summary = write_video(episodes / "trace_only", tmp_path / "tail.mp4", frames=(180, None))
    assert summary.frames == 11 and summary.ticks == (180, 200)
