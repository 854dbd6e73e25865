"""One 1280 x 720 replay frame: the panels and where they sit.

With a camera (CAMERA_LAYOUT):

    +----------------------------+----------------+
    | camera 768 x 432           | bird's-eye     |   the camera image scaled to fit (aspect kept,
    | (labels drawn on)          | 512 x 600      |   letterboxed; 1280 x 720 scales by 0.6)
    +----------------------------+                |
    | info 768 x 168             |                |
    +----------------------------+----------------+
    | timeline 1280 x 120                         |
    +---------------------------------------------+

Without sensors (BEV_LAYOUT): info 320 x 600 on the left, the bird's-eye view 960 x 600 beside it
(same scale, more road on both sides), the timeline below. Panels are rendered into their own
arrays and copied in, so each renderer draws in its own pixel coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgecase.errors import InputError
from edgecase.replay import style
from edgecase.replay.annotate_frame import CameraFit, draw_labels
from edgecase.replay.bev import BevRenderer
from edgecase.replay.episode_data import EpisodeData
from edgecase.replay.timeline import TimelineRenderer, edge_case_series

WIDTH, HEIGHT = 1280, 720


@dataclass(frozen=True, slots=True)
class Rect:
    x: int
    y: int
    w: int
    h: int

    def put(self, frame: np.ndarray, panel: np.ndarray) -> None:
        frame[self.y:self.y + self.h, self.x:self.x + self.w] = panel


@dataclass(frozen=True, slots=True)
class Layout:
    camera: Rect | None
    info: Rect
    bev: Rect
    timeline: Rect


CAMERA_LAYOUT = Layout(camera=Rect(0, 0, 768, 432), info=Rect(0, 432, 768, 168), bev=Rect(768, 0, 512, 600),
                       timeline=Rect(0, 600, 1280, 120))
BEV_LAYOUT = Layout(camera=None, info=Rect(0, 0, 320, 600), bev=Rect(320, 0, 960, 600), timeline=Rect(0, 600, 1280, 120))


class FrameRenderer:
    """Renders frames of one episode; everything that does not change per frame is built here once
    (map raster, sensor overlay, timeline background, info header)."""

    def __init__(self, episode: EpisodeData, camera: str | None = None, wireframes: bool = False, use_camera: bool = True) -> None:
        self.episode = episode
        self.camera = episode.camera(camera) if (use_camera and (camera is not None or episode.cameras)) else None
        self.layout = CAMERA_LAYOUT if self.camera else BEV_LAYOUT
        self.bev = BevRenderer(episode, self.layout.bev.w, self.layout.bev.h)
        self.series = edge_case_series(episode)
        self.timeline = TimelineRenderer(episode, self.layout.timeline.w, self.layout.timeline.h, self.series)
        self.info_bg = self._info_background()
        self.fit = self.intrinsics = None
        if self.camera:
            info = episode.calib["sensors"][self.camera]
            self.fit = CameraFit.of(int(info["width_px"]), int(info["height_px"]), self.layout.camera.w, self.layout.camera.h)
            self.intrinsics = np.asarray(info["intrinsics"], float) if wireframes else None

    def camera_image(self, tick: int) -> np.ndarray | None:
        """The camera's frame at `tick`, read and scaled to its panel (thread-safe: video prefetches)."""
        if not self.camera:
            return None
        path = self.episode.image_path(self.camera, tick)
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise InputError(f"{path}: missing or unreadable camera image")
        return cv2.resize(image, (self.fit.width, self.fit.height), interpolation=cv2.INTER_LINEAR)

    def render(self, tick: int, image: np.ndarray | None = None) -> np.ndarray:
        """The (720, 1280, 3) BGR frame at `tick`; `image`: camera_image(tick), if already read."""
        frame = np.empty((HEIGHT, WIDTH, 3), np.uint8)
        if self.camera:
            self.layout.camera.put(frame, self._camera_panel(tick, image))
        self.layout.bev.put(frame, self.bev.render(tick))
        self.layout.timeline.put(frame, self.timeline.render(tick))
        self.layout.info.put(frame, self._info(tick))
        return frame

    def _camera_panel(self, tick: int, image: np.ndarray | None) -> np.ndarray:
        rect, fit = self.layout.camera, self.fit
        panel = np.empty((rect.h, rect.w, 3), np.uint8)
        panel[:] = style.PANEL_BG
        panel[fit.dy:fit.dy + fit.height, fit.dx:fit.dx + fit.width] = self.camera_image(tick) if image is None else image
        draw_labels(panel, self.episode.labels(tick), self.camera, fit, self.intrinsics)
        style.label(panel, f"{self.camera}  tick {tick}", fit.dx + 6, fit.dy + 18, style.TEXT, 0.45)
        return panel

    def _info_background(self) -> np.ndarray:
        """Scenario, seed, outcome and the colour legend: the same on every frame."""
        rect, ep = self.layout.info, self.episode
        panel = np.empty((rect.h, rect.w, 3), np.uint8)
        panel[:] = style.PANEL_BG
        passed = ep.meta.get("outcome", {}).get("passed")
        style.text(panel, f"{ep.plan.scenario}  seed {ep.plan.seed}", 10, 22, style.TEXT, 0.6)
        style.text(panel, f"map {ep.plan.map.name}   expect: {'passed' if passed else 'FAILED'}", 10, 44, style.DIM_TEXT, 0.45)
        entries = [("ego", style.EGO), ("edge case", style.HIGHLIGHT)] + list(style.CLASS_COLOURS.items())
        rows: list[list[tuple[str, style.Colour, int]]] = [[]]
        x = 10
        for name, colour in entries:  # fill rows left to right, wrapping in a narrow panel
            width = cv2.getTextSize(name, style.FONT, 0.4, 1)[0][0]
            if x + width + 24 > rect.w:
                rows.append([])
                x = 10
            rows[-1].append((name, colour, x))
            x += width + 26
        for k, row in enumerate(rows):
            y = rect.h - 12 - 18 * (len(rows) - 1 - k)
            for name, colour, x in row:
                cv2.rectangle(panel, (x, y - 9), (x + 10, y + 1), colour, cv2.FILLED)
                style.text(panel, name, x + 14, y, style.DIM_TEXT, 0.4)
        return panel

    def _info(self, tick: int) -> np.ndarray:
        """Time, the ego's speed, distance and TTC to the edge case now, and the latest event: one
        group per line in a wide panel, one fact per line in a narrow one."""
        panel = self.info_bg.copy()
        ep, a = self.episode, self.episode.arrays
        groups = [[f"tick {tick}", f"t = {a['t_s'][tick]:.2f} s", f"ego {a['speed_mps'][tick, ep.ego_index]:.1f} m/s"]]
        if self.series.actors:
            dist, ttc = self.series.distance_m[tick], self.series.ttc_s[tick]
            groups.append([f"{', '.join(self.series.actors)}: distance {_num(dist, 'm')}", f"TTC {_num(ttc, 's')}"])
        last = [e for e in ep.events if e.tick <= tick]
        if last:
            e = last[-1]
            groups.append([f"last event {e.t_s:.2f} s", f"{e.kind} {e.actor} {e.detail}".rstrip()])
        wide = self.layout.info.w >= 500
        lines = ["   ".join(g) for g in groups] if wide else [fact for g in groups for fact in g]
        for k, line in enumerate(lines):
            style.text(panel, line, 10, 72 + 22 * k, style.TEXT, 0.5)
        return panel


def _num(value: float, unit: str) -> str:
    return f"{value:.2f} {unit}" if np.isfinite(value) else "-"
