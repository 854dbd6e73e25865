"""The timeline strip: TTC and distance between the ego and the edge-case actors over the whole
episode, markers for events (triggers, behaviors, collisions), and a cursor at the current tick.

The series are the episode metrics' own functions (`edgecase.sim.metrics.ttc_s`, `distance_m`:
exact box-to-box distance, constant-velocity TTC by swept separating axes, horizon 10 s) applied
to the recorded trace, so the strip agrees with `episode.json`'s metrics. With several edge-case
actors the strip shows, per tick, the smallest value over them (the most critical one).

Everything but the cursor is drawn once (`TimelineRenderer.__init__`); a frame costs one copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgecase.replay import style
from edgecase.replay.episode_data import EpisodeData
from edgecase.sim import metrics

TTC_COLOUR: style.Colour = (60, 120, 255)
DISTANCE_COLOUR: style.Colour = (230, 200, 60)
EVENT_STYLE: dict[str, tuple[str, style.Colour]] = {  # kind -> (letter, colour)
    "trigger": ("T", (0, 220, 255)),
    "behavior_start": ("B", (90, 220, 90)),
    "behavior_end": ("E", (150, 150, 150)),
    "collision": ("C", (0, 0, 255)),
}
OTHER_EVENT = ("!", (0, 150, 255))  # red_light, lane_departure, ...
_MARGIN_L, _MARGIN_R, _TOP, _BOTTOM = 46, 46, 30, 18  # the plot's margins in pixels


@dataclass(frozen=True, eq=False)
class EdgeCaseSeries:
    """(T,) series between the ego and the edge-case actors: the minimum over them per tick (inf
    where none is active, or no collision course within the TTC horizon)."""

    actors: tuple[str, ...]
    ttc_s: np.ndarray
    distance_m: np.ndarray


def edge_case_series(episode: EpisodeData) -> EdgeCaseSeries:
    ego, count = episode.ego_index, episode.ticks
    ttc, distance = np.full(count, np.inf), np.full(count, np.inf)
    for j in episode.edge_case_indices:
        ttc = np.minimum(ttc, metrics.ttc_s(episode.trace, ego, j))
        distance = np.minimum(distance, metrics.distance_m(episode.trace, ego, j))
    return EdgeCaseSeries(tuple(episode.names[j] for j in episode.edge_case_indices), ttc, distance)


class TimelineRenderer:
    """The strip for one episode at one size: background once, cursor per frame."""

    def __init__(self, episode: EpisodeData, width_px: int, height_px: int, series: EdgeCaseSeries | None = None) -> None:
        self.size = (width_px, height_px)
        self.ticks = episode.ticks
        self.series = series or edge_case_series(episode)
        finite = self.series.distance_m[np.isfinite(self.series.distance_m)]
        self.distance_max_m = float(min(100.0, max(10.0, np.ceil(finite.max() / 10.0) * 10.0))) if len(finite) else 50.0
        self.background = self._background(episode)

    def x(self, tick: float | np.ndarray) -> np.ndarray:
        """Pixel column of a tick (float)."""
        span = self.size[0] - _MARGIN_L - _MARGIN_R
        return _MARGIN_L + np.asarray(tick, float) / max(1, self.ticks - 1) * span

    def _y(self, value: np.ndarray, top: float) -> np.ndarray:
        plot_h = self.size[1] - _TOP - _BOTTOM
        return _TOP + plot_h * (1.0 - np.clip(value, 0.0, top) / top)

    def render(self, tick: int) -> np.ndarray:
        panel = self.background.copy()
        x = int(round(float(self.x(tick))))
        cv2.line(panel, (x, _TOP - 4), (x, self.size[1] - _BOTTOM + 2), style.TEXT, 1)
        return panel

    def _background(self, episode: EpisodeData) -> np.ndarray:
        w, h = self.size
        panel = np.empty((h, w, 3), np.uint8)
        panel[:] = style.PANEL_BG
        self._axes(panel, episode)
        self._curve(panel, self.series.distance_m, self.distance_max_m, DISTANCE_COLOUR)
        self._curve(panel, self.series.ttc_s, metrics.TTC_HORIZON_S, TTC_COLOUR)
        self._events(panel, episode)
        self._legend(panel)
        return panel

    def _axes(self, panel: np.ndarray, episode: EpisodeData) -> None:
        w, h = self.size
        left, right, bottom = _MARGIN_L, w - _MARGIN_R, h - _BOTTOM
        cv2.rectangle(panel, (left, _TOP), (right, bottom), (70, 70, 70), 1)
        for frac in (0.5,):
            y = int(round(_TOP + (bottom - _TOP) * frac))
            cv2.line(panel, (left, y), (right, y), (55, 55, 55), 1)
        style.text(panel, f"{metrics.TTC_HORIZON_S:g}s", 4, _TOP + 10, TTC_COLOUR, 0.4)
        style.text(panel, "0", 30, bottom, TTC_COLOUR, 0.4)
        style.text(panel, f"{self.distance_max_m:g}m", right + 4, _TOP + 10, DISTANCE_COLOUR, 0.4)
        style.text(panel, "0", right + 4, bottom, DISTANCE_COLOUR, 0.4)
        duration = (self.ticks - 1) * episode.step_s
        step = next(s for s in (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1e9) if duration / s <= 12)
        for t in np.arange(0.0, duration + 1e-9, step):
            x = int(round(float(self.x(t / episode.step_s))))
            cv2.line(panel, (x, bottom), (x, bottom + 3), style.DIM_TEXT, 1)
            style.text(panel, f"{t:g}s", x - 8, h - 3, style.DIM_TEXT, 0.38)

    def _curve(self, panel: np.ndarray, values: np.ndarray, top: float, colour: style.Colour) -> None:
        """A polyline per run of finite values (inf: no TTC / no actor, drawn as a gap)."""
        finite = np.isfinite(values)
        pts = np.stack([self.x(np.arange(len(values))), self._y(np.where(finite, values, 0.0), top)], axis=1)
        pts = np.rint(pts * 16).astype(np.int32)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], finite.astype(np.int8), [0]])))
        runs = [np.ascontiguousarray(pts[a:b]) for a, b in zip(edges[::2], edges[1::2])]
        if runs:
            cv2.polylines(panel, runs, False, colour, 2, cv2.LINE_AA, 4)

    def _events(self, panel: np.ndarray, episode: EpisodeData) -> None:
        """A vertical line per event, its letter above the plot; letters of one tick side by side."""
        bottom = self.size[1] - _BOTTOM
        letters_at: dict[int, int] = {}
        for event in episode.events:
            letter, colour = EVENT_STYLE.get(event.kind, OTHER_EVENT)
            x = int(round(float(self.x(event.tick))))
            cv2.line(panel, (x, _TOP), (x, bottom), colour, 2 if event.kind == "collision" else 1)
            k = letters_at.get(event.tick, 0)
            letters_at[event.tick] = k + 1
            style.text(panel, letter, x - 4 + 10 * k, _TOP - 4, colour, 0.4)

    def _legend(self, panel: np.ndarray) -> None:
        if not self.series.actors:
            style.text(panel, "no edge-case actor (role adversary): no TTC / distance", _MARGIN_L, 13, style.DIM_TEXT, 0.4)
        else:
            who = f"ego vs {', '.join(self.series.actors)}:"
            style.text(panel, who, _MARGIN_L, 13, style.TEXT, 0.4)
            x = _MARGIN_L + 10 + cv2.getTextSize(who, style.FONT, 0.4, 1)[0][0]
            style.text(panel, "TTC (s)", x, 13, TTC_COLOUR, 0.4)
            style.text(panel, "distance (m)", x + 70, 13, DISTANCE_COLOUR, 0.4)
        x = self.size[0] - _MARGIN_R - 360
        for kind, (letter, colour) in EVENT_STYLE.items():
            name = f"{letter} {kind.replace('behavior_', 'behavior ')}"
            style.text(panel, name, x, 13, colour, 0.4)
            x += 12 + cv2.getTextSize(name, style.FONT, 0.4, 1)[0][0]
