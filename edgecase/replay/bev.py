"""The bird's-eye view: the map around the ego, actors as oriented boxes with trails, traffic-light
states, the ego's camera frustums and LiDAR ranges.

The view follows the ego: ego-centred, heading up, at a fixed BEV_M_PER_PX metres per pixel, the
ego's box centre at EGO_AT (fractions of the panel's width and height: centred, lower part, so
more road ahead shows than behind). CARLA's frame is left-handed (x forward, y right), so with the
ego pointing up its right is the picture's right and nothing is mirrored. For the ego at (ex, ey)
with yaw psi, a world point (x, y) is, in the ego's frame,

    forward f = (x - ex) cos psi + (y - ey) sin psi      right r = -(x - ex) sin psi + (y - ey) cos psi

and lands at panel pixel u = u0 + r / BEV_M_PER_PX, v = v0 - f / BEV_M_PER_PX, with
(u0, v0) = EGO_AT * (width, height), in OpenCV's convention: integer (u, v) is the centre of pixel
column u, row v. `BevTransform` is exactly this (tests compute expected pixels with it).

Speed: the map is drawn once per episode into a raster at the view's own scale covering the ego's
whole path plus the panel's reach (`map_layer`, cached), so each frame costs one rotation of that
raster (cv2.warpAffine, ~1 ms) plus a few dozen vector draws for the actors. The sensor overlay
is constant in panel coordinates (heading up), so it is built once too and added per frame.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from edgecase.replay import style
from edgecase.replay.episode_data import EpisodeData
from edgecase.roads import RoadNetwork
from edgecase.sim import geometry

BEV_M_PER_PX = 0.125  # 8 px per metre: a 0.5 m child is 4 px, a 512 x 600 panel shows 64 m x 75 m
EGO_AT = (0.5, 0.72)  # the ego's box centre, as fractions of the panel's width and height
TRAIL_S = 4.0  # trail length behind each moving actor
FRUSTUM_M = 40.0  # how far camera frustums are drawn
MAP_MARGIN_M = 5.0  # raster beyond the farthest panel corner
GROUND_BGR: style.Colour = (60, 104, 86)  # static_scene's TERRAIN_COLOUR, as BGR
_SHIFT = 4  # cv2 fixed-point bits: sub-pixel vertices (x16)
SURFACE_BGR = (235, 215, 170)  # low-friction patches: an icy pale blue
_ONE = 1 << _SHIFT
_BRAKE_BIT = 8  # carla.VehicleLightState.Brake


@dataclass(frozen=True, slots=True)
class BevTransform:
    """World (CARLA x, y; metres) -> panel pixel (u, v) for the ego at (x_m, y_m, yaw_rad); see the module docstring."""

    x_m: float
    y_m: float
    yaw_rad: float
    u0: float
    v0: float
    m_per_px: float = BEV_M_PER_PX

    @classmethod
    def following(cls, x_m: float, y_m: float, yaw_rad: float, width_px: int, height_px: int,
                  m_per_px: float = BEV_M_PER_PX) -> BevTransform:
        return cls(float(x_m), float(y_m), float(yaw_rad), EGO_AT[0] * width_px, EGO_AT[1] * height_px, m_per_px)

    def matrix(self) -> np.ndarray:
        """2x3 affine A: [u, v] = A @ [x, y, 1]."""
        c, s, k = math.cos(self.yaw_rad), math.sin(self.yaw_rad), 1.0 / self.m_per_px
        rot = k * np.array([[-s, c], [-c, -s]])
        shift = np.array([self.u0, self.v0]) - rot @ np.array([self.x_m, self.y_m])
        return np.hstack([rot, shift[:, None]])

    def pixels(self, xy: np.ndarray) -> np.ndarray:
        """Points (..., 2) in the world -> (..., 2) panel pixels (float)."""
        m = self.matrix()
        return np.asarray(xy, dtype=float) @ m[:, :2].T + m[:, 2]


@dataclass(frozen=True, eq=False)
class MapLayer:
    """The map rasterised once at BEV_M_PER_PX: pixel (c, r) is world (x0 + c m, y0 + r m)."""

    image: np.ndarray  # (H, W, 3) BGR
    origin_m: tuple[float, float]
    lights_xy: np.ndarray  # (K, 2) world positions of light markers (stop line of the approach)
    light_columns: np.ndarray  # (K,) column of each marker in the trace's light_codes
    has_roads: bool  # False: the map could not be loaded; actors are drawn on plain ground

    def to_panel(self, view: BevTransform) -> np.ndarray:
        """2x3 affine raster pixel -> panel pixel: the view's transform after raster -> world."""
        m = view.matrix()
        return np.hstack([m[:, :2] * BEV_M_PER_PX, (m[:, :2] @ np.array(self.origin_m) + m[:, 2])[:, None]])


def reach_m(width_px: int, height_px: int) -> float:
    """How far from the ego the panel's farthest corner is: the map must cover that all around."""
    du = max(EGO_AT[0], 1 - EGO_AT[0]) * width_px
    dv = max(EGO_AT[1], 1 - EGO_AT[1]) * height_px
    return math.hypot(du, dv) * BEV_M_PER_PX + MAP_MARGIN_M


def map_layer(episode: EpisodeData, width_px: int, height_px: int) -> MapLayer:
    """The episode's map raster for a panel of that size (cached: drawn once per episode)."""
    ego = episode.ego_index
    x, y = episode.arrays["x_m"][:, ego], episode.arrays["y_m"][:, ego]
    reach = reach_m(width_px, height_px)
    box = (float(x.min()) - reach, float(y.min()) - reach, float(x.max()) + reach, float(y.max()) + reach)
    network = episode.road_network()
    light_ids = tuple(episode.trace.light_ids)
    return _map_layer(network, tuple(round(v, 3) for v in box), light_ids)


@functools.lru_cache(maxsize=4)
def _map_layer(network: RoadNetwork | None, box: tuple[float, float, float, float], light_ids: tuple[int, ...]) -> MapLayer:
    x0, y0, x1, y1 = box
    cols, rows = math.ceil((x1 - x0) / BEV_M_PER_PX) + 1, math.ceil((y1 - y0) / BEV_M_PER_PX) + 1
    image = np.empty((rows, cols, 3), np.uint8)
    image[:] = GROUND_BGR
    if network is None:
        return MapLayer(image, (x0, y0), np.zeros((0, 2)), np.zeros(0, np.intp), False)
    triangles, colours = _map_triangles(network)
    inside = ((triangles[:, :, 0].max(1) >= x0) & (triangles[:, :, 0].min(1) <= x1)
              & (triangles[:, :, 1].max(1) >= y0) & (triangles[:, :, 1].min(1) <= y1))
    pts = np.rint((triangles[inside] - (x0, y0)) / BEV_M_PER_PX * _ONE).astype(np.int32)
    for tri, colour in zip(pts, colours[inside].tolist()):
        cv2.fillConvexPoly(image, tri, colour, cv2.LINE_8, _SHIFT)
    positions = _light_positions(network)
    keep = [k for k, (light, _, _) in enumerate(positions) if light in light_ids]
    xy = np.array([positions[k][1:] for k in keep], float).reshape(-1, 2)
    columns = np.array([light_ids.index(positions[k][0]) for k in keep], np.intp)
    return MapLayer(image, (x0, y0), xy, columns, True)


@functools.lru_cache(maxsize=4)
def _map_triangles(network: RoadNetwork) -> tuple[np.ndarray, np.ndarray]:
    """The embedded cameras' map triangles (x, y) and BGR colours, lowest layer first, without the
    terrain quad (the raster's background is the terrain colour)."""
    from edgecase.backends.embedded.scene import TAG_TERRAIN
    from edgecase.backends.embedded.static_scene import build_static_scene

    scene = build_static_scene(network)
    keep = scene.tag != TAG_TERRAIN
    return scene.triangles_m[keep, :, :2].astype(float), scene.colour[keep][:, ::-1].astype(np.uint8)


@functools.lru_cache(maxsize=4)
def _light_positions(network: RoadNetwork) -> tuple[tuple[int, float, float], ...]:
    """(light id, x, y) per signalized approach lane: where the light's colour matters, its stop
    line. A light rules the approach lane itself (roadgen) or a connector it leads into (CARLA's
    towns), as in edgecase.sim.lights."""
    from edgecase.sim.lights import signalized_approaches

    return tuple((lights[0], approach.x_m, approach.y_m) for _, approach, lights in signalized_approaches(network))


# --- per frame ---------------------------------------------------------------------------------


class BevRenderer:
    """Draws the bird's-eye view of one episode into panels of one size; holds what is drawn once."""

    def __init__(self, episode: EpisodeData, width_px: int, height_px: int) -> None:
        self.episode, self.size = episode, (width_px, height_px)
        self.layer = map_layer(episode, width_px, height_px)
        self.sensor_tint, self.sensor_lines = _sensor_overlay(episode, width_px, height_px)
        self.sensor_note = _sensor_note(episode)
        self.trail_ticks = max(1, round(TRAIL_S / episode.step_s))
        plan = episode.plan
        self.colours = [style.actor_colour(a.actor_class, a.role) for a in plan.actors]
        edge = set(episode.edge_case_indices)
        # draw order: background first, then the ego, then the edge-case actors on top
        self.order = sorted(range(len(plan.actors)), key=lambda i: (i in edge, plan.actors[i].role == "ego"))
        self.edge = edge

    def view(self, tick: int) -> BevTransform:
        a, ego = self.episode.arrays, self.episode.ego_index
        return BevTransform.following(a["x_m"][tick, ego], a["y_m"][tick, ego], a["yaw_rad"][tick, ego], *self.size)

    def render(self, tick: int) -> np.ndarray:
        """The (height, width, 3) BGR panel at `tick`."""
        view = self.view(tick)
        panel = cv2.warpAffine(self.layer.image, self.layer.to_panel(view), self.size, flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=GROUND_BGR)
        cv2.add(panel, self.sensor_tint, dst=panel)
        cv2.polylines(panel, self.sensor_lines, False, (200, 190, 90), 1, cv2.LINE_AA, _SHIFT)
        self._surfaces(panel, view)
        self._lights(panel, view, tick)
        self._trails(panel, view, tick)
        self._actors(panel, view, tick)
        self._scale_bar(panel, view)
        if self.sensor_note:
            style.text(panel, self.sensor_note, 8, 18, style.TEXT, 0.4)
        if not self.layer.has_roads:
            style.text(panel, "map not found: actors only", 8, 36, style.TEXT, 0.45)
        return panel

    def _surfaces(self, panel: np.ndarray, view: BevTransform) -> None:
        """Low-friction patches (plan.surfaces): translucent pale blue, the lower the mu the stronger."""
        for patch in self.episode.plan.surfaces:
            box = geometry.corners(patch.x_m, patch.y_m, math.radians(patch.yaw_deg), patch.length_m, patch.width_m)
            fixed = np.rint(view.pixels(box) * _ONE).astype(np.int32)
            overlay = panel.copy()
            cv2.fillConvexPoly(overlay, fixed, SURFACE_BGR, cv2.LINE_AA, _SHIFT)
            alpha = float(np.clip(0.75 - 0.5 * patch.friction, 0.2, 0.7))
            cv2.addWeighted(overlay, alpha, panel, 1.0 - alpha, 0.0, dst=panel)

    def _lights(self, panel: np.ndarray, view: BevTransform, tick: int) -> None:
        if not len(self.layer.lights_xy):
            return
        codes = self.episode.arrays["light_codes"][tick, self.layer.light_columns]
        names = self.episode.meta["trace"].get("light_colors", ["Red", "Yellow", "Green"])
        for (u, v), code in zip(view.pixels(self.layer.lights_xy), codes.tolist()):
            centre = (int(round(u * _ONE)), int(round(v * _ONE)))
            cv2.circle(panel, centre, 5 * _ONE, (20, 20, 20), -1, cv2.LINE_AA, _SHIFT)
            cv2.circle(panel, centre, 4 * _ONE, style.LIGHT_COLOURS.get(names[code], style.OTHER), -1, cv2.LINE_AA, _SHIFT)

    def _trails(self, panel: np.ndarray, view: BevTransform, tick: int) -> None:
        a = self.episode.arrays
        start = max(0, tick - self.trail_ticks)
        xy = np.stack([a["x_m"][start:tick + 1], a["y_m"][start:tick + 1]], axis=-1)  # (K, N, 2)
        active = a["active"][start:tick + 1].astype(bool)
        px = np.rint(view.pixels(xy) * _ONE).astype(np.int32)
        for i in self.order:
            run = active[:, i]
            if not run[-1]:
                continue
            first = len(run) - int(np.argmin(run[::-1])) if not run.all() else 0  # the active tail
            if np.hypot(*(xy[-1, i] - xy[first, i])) < 0.3:
                continue
            thick = 2 if i in self.edge else 1
            cv2.polylines(panel, [np.ascontiguousarray(px[first:, i])], False, self.colours[i], thick, cv2.LINE_AA, _SHIFT)

    def _actors(self, panel: np.ndarray, view: BevTransform, tick: int) -> None:
        a, plan = self.episode.arrays, self.episode.plan
        box = geometry.corners(a["x_m"][tick], a["y_m"][tick], a["yaw_rad"][tick], a["length_m"][tick],
                               a["width_m"][tick], a["box_offset_m"][tick])
        px = view.pixels(box)  # (N, 4, 2)
        fixed = np.rint(px * _ONE).astype(np.int32)
        active = a["active"][tick].astype(bool)
        braking = (a["light_state"][tick].astype(np.int64) & _BRAKE_BIT) != 0
        for i in self.order:
            if active[i]:
                self._actor(panel, px[i], fixed[i], i, bool(braking[i]))
                if i in self.edge:  # its name above it, clear of its trail
                    u, v = px[i, :, 0].min(), px[i, :, 1].min()
                    style.label(panel, plan.actors[i].name, u - 4, v - 8, style.HIGHLIGHT)

    def _actor(self, panel: np.ndarray, px: np.ndarray, fixed: np.ndarray, i: int, braking: bool) -> None:
        """One oriented box: filled in its colour, a dark outline (thick highlight for the edge
        case), a line to the front edge for its heading, a red rear edge while braking."""
        colour = self.colours[i]
        if i in self.edge:
            cv2.polylines(panel, [fixed], True, style.HIGHLIGHT, 3, cv2.LINE_AA, _SHIFT)
        cv2.fillConvexPoly(panel, fixed, colour, cv2.LINE_AA, _SHIFT)
        if np.ptp(px, axis=0).max() < 6:  # under 6 px (a pedestrian): a disc keeps it visible, its trail shows its heading
            cv2.circle(panel, _pt(px.mean(axis=0)), 3 * _ONE, colour, -1, cv2.LINE_AA, _SHIFT)
            return
        if i not in self.edge:
            cv2.polylines(panel, [fixed], True, (25, 25, 25), 1, cv2.LINE_AA, _SHIFT)
        cv2.line(panel, _pt(px.mean(axis=0)), _pt(px[:2].mean(axis=0)), (25, 25, 25), 1, cv2.LINE_AA, _SHIFT)
        if braking:
            cv2.line(panel, _pt(px[2]), _pt(px[3]), style.BRAKE, 2, cv2.LINE_AA, _SHIFT)

    def _scale_bar(self, panel: np.ndarray, view: BevTransform) -> None:
        """10 m bar and an arrow towards world +x, bottom left: the map turns with the ego."""
        h = panel.shape[0]
        length = int(round(10.0 / BEV_M_PER_PX))
        cv2.line(panel, (10, h - 12), (10 + length, h - 12), style.TEXT, 2)
        style.text(panel, "10 m", 14 + length, h - 8, style.TEXT, 0.4)
        c, s = math.cos(view.yaw_rad), math.sin(view.yaw_rad)
        tip = (30 - 14 * s, h - 45 - 14 * c)  # world +x in the panel: u grows with -sin, v with -cos
        cv2.arrowedLine(panel, _pt(np.array([30.0, h - 45.0])), _pt(np.array(tip)), style.TEXT, 1, cv2.LINE_AA, _SHIFT, 0.3)
        style.text(panel, "+x", 44, h - 40, style.TEXT, 0.4)


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(p[0] * _ONE)), int(round(p[1] * _ONE))


def _sensor_overlay(episode: EpisodeData, width_px: int, height_px: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """The ego's camera frustums (a faint tint and their edges) and LiDAR range circles, in panel
    pixels. Heading up, they never move in the panel, so they are drawn once per episode."""
    tint = np.zeros((height_px, width_px, 3), np.uint8)
    lines: list[np.ndarray] = []
    u0, v0 = EGO_AT[0] * width_px, EGO_AT[1] * height_px
    sensors = (episode.calib or {}).get("sensors", {})
    for name in episode.cameras:
        wedge = _frustum(sensors[name])
        pts = np.rint(np.stack([u0 + wedge[:, 1] / BEV_M_PER_PX, v0 - wedge[:, 0] / BEV_M_PER_PX], axis=1) * _ONE).astype(np.int32)
        cv2.fillPoly(tint, [pts], (16, 15, 6), cv2.LINE_AA, _SHIFT)
        lines.append(pts)
    for name in episode.lidars:
        info = sensors[name]
        x, y = np.asarray(info["sensor_to_vehicle"], float)[:2, 3]
        angle = np.linspace(0, 2 * math.pi, 97)
        r = float(info.get("range_m", 0.0))
        circle = np.stack([u0 + (y + r * np.sin(angle)) / BEV_M_PER_PX, v0 - (x + r * np.cos(angle)) / BEV_M_PER_PX], axis=1)
        lines.append(np.rint(circle * _ONE).astype(np.int32))
    return tint, lines


def _sensor_note(episode: EpisodeData) -> str:
    """'front 90 deg, lidar_top 100 m': what the frustums and circles are (a LiDAR's circle may lie
    beyond the panel)."""
    sensors = (episode.calib or {}).get("sensors", {})
    parts = [f"{n} {float(sensors[n].get('fov_deg', 0)):g} deg" for n in episode.cameras]
    parts += [f"{n} {float(sensors[n].get('range_m', 0)):g} m" for n in episode.lidars]
    return ", ".join(parts)


def _frustum(info: dict) -> np.ndarray:
    """A camera's horizontal field of view as a wedge (n, 2) of (forward, right) metres in the
    ego's frame: its position, then an arc FRUSTUM_M away between the two edge rays."""
    pose = np.asarray(info["sensor_to_vehicle"], float)
    yaw = math.atan2(pose[1, 0], pose[0, 0])
    half = math.radians(float(info.get("fov_deg", 90.0))) / 2
    angle = yaw + np.linspace(-half, half, 25)
    arc = pose[:2, 3] + FRUSTUM_M * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return np.vstack([pose[:2, 3], arc, pose[:2, 3]])
