"""The embedded CPU camera: static scene, both engines, CARLA's pinhole and labels, lighting, determinism.

Expected pixels and depths are computed by hand from K (labels-reference 2.1/2.2), not by the code under
test: u = f x / z + cx with pixel centres at +0.5, planar depth = the optical z.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from edgecase.backends.embedded.camera import CameraRenderer, EngineUnavailable
from edgecase.backends.embedded.lighting import Lighting
from edgecase.backends.embedded.scene import TAG_ROADLINES, TAG_ROADS, TAG_SIDEWALKS, TAG_SKY, TAG_TERRAIN
from edgecase.backends.embedded.static_scene import build_static_scene
from edgecase.roads import LaneKind, RoadNetwork, builtin_map_names
from edgecase.sensors.rig import Camera, Mount
from edgecase.sensors.transforms import carla_matrix
from edgecase.sim.boxes import Boxes
from tests.helpers import shared_map

CAR, PEDESTRIAN = 14, 12
NOON = Lighting.from_weather({"sun_altitude_angle": 60.0, "cloudiness": 10.0, "fog_density": 0.0})


def _gl_missing() -> str | None:
    from edgecase.backends.embedded.camera_gl import gl_context

    try:
        gl_context()
    except EngineUnavailable as e:
        return str(e)
    return None


ENGINES = ["painter", "moderngl"]


@pytest.fixture(scope="module")
def static():
    return build_static_scene(RoadNetwork.load("builtin:urban_straight"))


def _camera(width: int = 640, height: int = 360, fov: float = 90.0, **kw) -> Camera:
    return Camera(type="camera.rgb", mount=Mount(), width_px=width, height_px=height, fov_deg=fov, **kw)


def _renderer(static, engine: str, **cameras: Camera) -> CameraRenderer:
    if engine == "moderngl" and (reason := _gl_missing()):
        pytest.skip(f"no EGL/OpenGL here, so only the painter is tested: {reason}")
    return CameraRenderer(static, cameras or {"front": _camera()}, engine=engine)


def _boxes(rows: list[tuple[float, float, float, float, float, float, float, int]], active=None) -> Boxes:
    """rows of (x, y, bottom z, length, width, height, yaw deg, tag); ids 1, 2, ..."""
    a = np.array([r[:7] for r in rows], float).reshape(-1, 7)
    centre = np.stack([a[:, 0], a[:, 1], a[:, 2] + a[:, 5] / 2], axis=1)
    n = len(rows)
    return Boxes(centre_m=centre, extent_m=a[:, 3:6] / 2, yaw_rad=np.radians(a[:, 6]),
                 actor_id=np.arange(1, n + 1, dtype=np.uint32), tag=np.array([r[7] for r in rows], np.uint8),
                 active=np.ones(n, bool) if active is None else np.asarray(active, bool))


# Camera 1.5 m up on lane -1 of urban_straight (road 0 runs along +x; lane -1 is at y = 1.75, yaw 0).
CAM_X, CAM_Y, CAM_Z = 100.0, 1.75, 1.5
POSE = carla_matrix(CAM_X, CAM_Y, CAM_Z)


def _project(camera: Camera, world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """By hand, for the yaw-0 POSE: optical (x, y, z) = (world y - cam y, cam z - world z, world x - cam x)."""
    opt = np.stack([world[:, 1] - CAM_Y, CAM_Z - world[:, 2], world[:, 0] - CAM_X], axis=1)
    k = camera.intrinsics()
    return opt[:, 0] / opt[:, 2] * k[0, 0] + k[0, 2], opt[:, 1] / opt[:, 2] * k[1, 1] + k[1, 2]


# --- the static scene ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", builtin_map_names())
def test_static_scene_of_every_builtin_map(name: str) -> None:
    network = RoadNetwork.load(f"builtin:{name}")
    start = time.perf_counter()
    scene = build_static_scene(network)
    assert time.perf_counter() - start < 3.0  # ~30-70 ms; generous for a loaded CI machine
    tris = scene.triangles_m
    assert tris.dtype == np.float32 and tris.shape[1:] == (3, 3) and 10 < len(tris) < 5000
    e1, e2 = tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0]
    assert (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0] > 0).all()  # wound up (+z)
    assert scene.ground_z_m == 0.0 and np.abs(tris[..., 2] - scene.ground_z_m).max() < 0.01
    z = tris[..., 2].mean(axis=1)
    assert z[scene.tag == TAG_ROADLINES].min() > z[scene.tag == TAG_ROADS].max()  # markings above roads
    assert z[scene.tag == TAG_ROADS].min() > z[scene.tag == TAG_TERRAIN].max()
    terrain = tris[scene.tag == TAG_TERRAIN]
    roads = tris[scene.tag == TAG_ROADS]
    assert (terrain[..., :2].min(axis=(0, 1)) <= roads[..., :2].min(axis=(0, 1)) - 199).all()
    assert (terrain[..., :2].max(axis=(0, 1)) >= roads[..., :2].max(axis=(0, 1)) + 199).all()
    crosswalks = [(c.x_m, c.y_m) for c in network.crosswalks()]
    for kind, tag in ((LaneKind.DRIVING, TAG_ROADS), (LaneKind.SIDEWALK, TAG_SIDEWALKS)):
        for ref in network.lanes(kind)[:4]:
            for frac in (0.3, 0.7):
                p = network.point(ref.road_id, ref.lane_id, ref.length_m * frac)
                if min((math.hypot(p.x_m - x, p.y_m - y) for x, y in crosswalks), default=99) > 8:
                    assert scene.ground_tag(np.array([p.x_m]), np.array([p.y_m]))[0] == tag, (ref, frac)
    far = scene.raster_origin_m[0] - 50.0
    assert scene.ground_tag(np.array([far]), np.array([0.0]))[0] == TAG_TERRAIN


def test_static_scene_marks_lanes_the_way_roads_do(static) -> None:
    # urban_straight: lane -1 (y 0..3.5) and lane 1 (y -3.5..0): a yellow dashed centre line at y = 0,
    # solid white edge lines at y = +-3.5 (driving | parking), nothing on the parking | sidewalk border.
    lines = static.triangles_m[static.tag == TAG_ROADLINES]
    colours = static.colour[static.tag == TAG_ROADLINES]
    y = lines[..., 1].mean(axis=1)
    centre = np.abs(y) < 0.2
    assert centre.any() and (colours[centre][:, 2] < 100).all()  # yellow: little blue
    edge = (np.abs(np.abs(y) - 3.5) < 0.2) & (np.abs(lines[..., 0].mean(axis=1) - 200) > 10)
    assert edge.any() and (colours[edge] > 200).all()  # white
    xs = lines[centre][..., 0]
    assert xs.max(axis=1).min() < 10 and len(np.unique(np.round(xs.min(axis=1)))) > 20  # dashed
    assert not (np.abs(np.abs(y) - 6.0) < 0.2).any()  # parking | sidewalk: unpainted


def test_static_scene_of_town10hd() -> None:
    network = RoadNetwork.load(str(shared_map("Town10HD")))
    scene = build_static_scene(network)
    assert 1000 < len(scene.tag) < 20000
    assert {TAG_ROADS, TAG_SIDEWALKS, TAG_ROADLINES, TAG_TERRAIN} <= set(np.unique(scene.tag).tolist())
    lane = network.lanes(LaneKind.DRIVING)[0]
    p = network.point(lane.road_id, lane.lane_id, lane.length_m / 2)
    assert scene.ground_tag(np.array([p.x_m]), np.array([p.y_m]))[0] in (TAG_ROADS, TAG_ROADLINES)


# --- geometry and labels, both engines -----------------------------------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
def test_box_covers_the_pixels_k_predicts(static, engine: str) -> None:
    camera = _camera()
    with _renderer(static, engine, front=camera) as renderer:
        boxes = _boxes([(CAM_X + 15.0, CAM_Y + 0.8, 0.0, 4.0, 2.0, 1.6, 0.0, CAR)])
        frame = renderer.render("front", POSE, boxes, NOON)
    assert frame.rgb.shape == (360, 640, 3) and frame.rgb.dtype == np.uint8
    assert frame.depth_m.dtype == np.float32 and frame.semantic.dtype == np.uint8 and frame.instance.dtype == np.uint16
    corners = boxes.vertices()[0]
    u, v = _project(camera, corners)
    # pixel column c holds centres c + 0.5: the columns whose centres fall inside [u.min, u.max]
    expected = (math.ceil(u.min() - 0.5), math.floor(u.max() - 0.5),
                math.ceil(v.min() - 0.5), math.floor(v.max() - 0.5))
    rows, cols = np.nonzero(frame.instance == 1)
    got = (cols.min(), cols.max(), rows.min(), rows.max())
    assert np.abs(np.subtract(got, expected)).max() <= 1, (got, expected)
    assert set(np.unique(frame.instance).tolist()) == {0, 1}
    # the face towards the camera (-x) at x = 13 m ahead: planar depth 13 m wherever it shows
    face = np.array([[CAM_X + 13.0, CAM_Y + 0.8, 0.8]])
    fu, fv = _project(camera, face)
    assert frame.depth_m[int(fv[0]), int(fu[0])] == pytest.approx(13.0, abs=0.01)
    assert frame.semantic[int(fv[0]), int(fu[0])] == CAR
    # the ground under the optical axis' column: the ray through row r's centre (v = r + 0.5) meets
    # z = 0 at planar depth f h / (v - cy)
    k = camera.intrinsics()
    for row in (250, 300, 359):
        expected_m = k[1, 1] * CAM_Z / (row + 0.5 - k[1, 2])
        assert frame.depth_m[row, 320] == pytest.approx(expected_m, abs=0.01)


@pytest.mark.parametrize("engine", ENGINES)
def test_semantic_tags_sky_road_actor(static, engine: str) -> None:
    with _renderer(static, engine) as renderer:
        boxes = _boxes([(CAM_X + 20.0, CAM_Y, 0.0, 4.5, 2.0, 1.5, 0.0, CAR),
                        (CAM_X + 12.0, CAM_Y + 3.0, 0.0, 0.5, 0.5, 1.8, 30.0, PEDESTRIAN)])
        frame = renderer.render("front", POSE, boxes, NOON)
    h, w = frame.semantic.shape
    assert (frame.semantic[:h // 3] == TAG_SKY).all() and np.isinf(frame.depth_m[:h // 3]).all()
    assert (frame.instance[:h // 3] == 0).all()
    assert frame.semantic[h - 1, w // 2] == TAG_ROADS  # the lane under the camera
    for actor_id, tag in ((1, CAR), (2, PEDESTRIAN)):
        mask = frame.instance == actor_id
        assert mask.sum() > 50
        assert (frame.semantic[mask] == tag).mean() > 0.99
    assert np.isfinite(frame.depth_m[h // 2 + 10:]).all()  # ground to ~50 m below the horizon
    road = frame.semantic == TAG_ROADS
    assert (frame.instance[road] == 0).all()


@pytest.mark.parametrize("engine", ENGINES)
def test_inactive_boxes_are_not_drawn(static, engine: str) -> None:
    with _renderer(static, engine) as renderer:
        rows = [(CAM_X + 10.0, CAM_Y, 0.0, 4.0, 2.0, 1.5, 0.0, CAR),
                (CAM_X + 20.0, CAM_Y + 3, 0.0, 4.0, 2.0, 1.5, 0.0, CAR)]
        frame = renderer.render("front", POSE, _boxes(rows, active=[False, True]), NOON)
    assert set(np.unique(frame.instance).tolist()) == {0, 2}


@pytest.mark.parametrize("engine", ENGINES)
def test_camera_inside_a_box_sees_out(static, engine: str) -> None:
    # a cabin camera inside the ego's own box: back faces are culled, as in CARLA's one-sided meshes
    with _renderer(static, engine) as renderer:
        boxes = _boxes([(CAM_X, CAM_Y, 0.0, 4.6, 2.0, 1.8, 0.0, CAR),  # the ego, camera inside
                        (CAM_X + 15.0, CAM_Y, 0.0, 4.0, 2.0, 1.5, 0.0, CAR)])
        frame = renderer.render("front", POSE, boxes, NOON)
    assert (frame.instance == 1).sum() == 0 and (frame.instance == 2).sum() > 100


def test_engines_agree_on_instances(static) -> None:
    if reason := _gl_missing():
        pytest.skip(f"no EGL/OpenGL here, nothing to compare the painter with: {reason}")
    camera = _camera(1280, 720)
    rows = [(CAM_X + 8 + 6 * i, CAM_Y + (-3.5, 0.0, 3.5, 6.0)[i % 4], 0.0, 4.6, 2.0, 1.5, 7.0 * (i % 3 - 1), CAR)
            for i in range(12)]
    rows += [(CAM_X + 9 + 5 * i, CAM_Y + 8.5, 0.0, 0.6, 0.6, 1.8, 0.0, PEDESTRIAN) for i in range(4)]
    rows += [(CAM_X + 30, CAM_Y - 9.0, 0.0, 12.0, 2.6, 3.8, 0.0, 16)]  # a bus, its roof above the horizon
    rows += [(CAM_X - 20, CAM_Y, 0.0, 4.6, 2.0, 1.5, 0.0, CAR)]  # behind the camera
    boxes = _boxes(rows)
    for pose in (carla_matrix(CAM_X, CAM_Y, 1.7, yaw_deg=8.0),
                 carla_matrix(CAM_X, CAM_Y, 1.7, roll_deg=-8.0, pitch_deg=6.0, yaw_deg=-4.0)):
        frames = []
        for engine in ("moderngl", "painter"):
            with CameraRenderer(static, {"front": camera}, engine=engine) as renderer:
                frames.append(renderer.render("front", pose, boxes, NOON))
        gl, painter = frames
        assert len(np.unique(gl.instance)) == len(np.unique(painter.instance)) >= 10
        assert (gl.instance == painter.instance).mean() >= 0.99
        assert (gl.semantic == painter.semantic).mean() >= 0.98
        both = np.isfinite(gl.depth_m) & (gl.instance == painter.instance) & (gl.semantic == painter.semantic)
        assert np.median(np.abs(gl.depth_m[both] - painter.depth_m[both]) / gl.depth_m[both]) < 1e-4
        assert np.abs(gl.rgb.astype(int) - painter.rgb).mean() < 3


# --- lighting ---------------------------------------------------------------------------------------------

def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(float) @ [0.299, 0.587, 0.114]


@pytest.mark.parametrize("engine", ENGINES)
def test_night_is_much_darker_than_noon(static, engine: str) -> None:
    boxes = _boxes([(CAM_X + 12.0, CAM_Y, 0.0, 4.0, 2.0, 1.5, 0.0, CAR)])
    with _renderer(static, engine) as renderer:
        noon = renderer.render("front", POSE, boxes, Lighting.from_weather({"sun_altitude_angle": 70.0}))
        night = renderer.render("front", POSE, boxes, Lighting.from_weather({"sun_altitude_angle": -30.0}))
    assert Lighting.from_weather({"sun_altitude_angle": -30.0}).night
    assert _luma(night.rgb).mean() < 0.2 * _luma(noon.rgb).mean()
    assert _luma(night.rgb[night.semantic == TAG_SKY]).mean() < 10  # a near-black sky
    assert (night.semantic == noon.semantic).all() and (night.instance == noon.instance).all()


@pytest.mark.parametrize("engine", ENGINES)
def test_fog_reduces_contrast_far_away(static, engine: str) -> None:
    rows = [(CAM_X + 60.0 + 15 * i, CAM_Y + (-2.0, 2.0)[i % 2], 0.0, 4.0, 2.0, 1.5, 0.0, CAR) for i in range(4)]
    boxes = _boxes(rows)
    clear = Lighting.from_weather({"fog_density": 0.0, "sun_altitude_angle": 60.0})
    foggy = Lighting.from_weather({"fog_density": 80.0, "fog_distance": 5.0, "sun_altitude_angle": 60.0})
    with _renderer(static, engine) as renderer:
        a = renderer.render("front", POSE, boxes, clear)
        b = renderer.render("front", POSE, boxes, foggy)
    far = (a.depth_m > 85) & (a.depth_m < 115)  # two boxes and the road around them, at much the same fog
    near = a.depth_m < 5
    assert _luma(b.rgb[far]).std() < 0.3 * _luma(a.rgb[far]).std()
    assert np.abs(_luma(b.rgb[near]) - _luma(a.rgb[near])).mean() < np.abs(_luma(b.rgb[far]) - _luma(a.rgb[far])).mean()
    np.testing.assert_array_equal(a.depth_m, b.depth_m)


# --- determinism, noise, engine choice --------------------------------------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
def test_rendering_twice_is_byte_identical(static, engine: str) -> None:
    camera = _camera(noise_stddev=3.0, blur_px=0.8)
    rows = [(CAM_X + 10.0 + 7 * i, CAM_Y + (i % 3 - 1) * 3.5, 0.0, 4.2, 1.9, 1.5, 5.0 * i, CAR) for i in range(5)]
    boxes = _boxes(rows)
    light = Lighting.from_weather({"sun_altitude_angle": 20.0, "fog_density": 30.0, "precipitation": 40.0})
    frames = []
    for _ in range(2):
        with _renderer(static, engine, front=camera) as renderer:
            frames.append(renderer.render("front", POSE, boxes, light, tick=7, rng=np.random.default_rng(5)))
            frames.append(renderer.render("front", POSE, boxes, light, tick=7, rng=np.random.default_rng(5)))
    for other in frames[1:]:
        for field in ("rgb", "depth_m", "semantic", "instance"):
            assert getattr(frames[0], field).tobytes() == getattr(other, field).tobytes(), field


@pytest.mark.parametrize("engine", ENGINES)
def test_noise_and_blur_touch_rgb_only(static, engine: str) -> None:
    boxes = _boxes([(CAM_X + 12.0, CAM_Y, 0.0, 4.0, 2.0, 1.5, 0.0, CAR)])
    plain, noisy = _camera(), _camera(noise_stddev=6.0, blur_px=1.5)
    with _renderer(static, engine, plain=plain, noisy=noisy) as renderer:
        a = renderer.render("plain", POSE, boxes, NOON)
        b = renderer.render("noisy", POSE, boxes, NOON, rng=np.random.default_rng(1))
        c = renderer.render("noisy", POSE, boxes, NOON, rng=np.random.default_rng(2))
        d = renderer.render("noisy", POSE, boxes, NOON, tick=3)  # no rng: seeded by tick and name
        e = renderer.render("noisy", POSE, boxes, NOON, tick=3)
    for field in ("depth_m", "semantic", "instance"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert 3 < np.abs(a.rgb.astype(int) - b.rgb).mean() < 12
    assert not np.array_equal(b.rgb, c.rgb) and np.array_equal(d.rgb, e.rgb)


def test_engine_choice_is_reported(static, monkeypatch) -> None:
    monkeypatch.setenv("EDGECASE_CAMERA_ENGINE", "painter")
    with CameraRenderer(static, {"front": _camera()}) as renderer:
        assert renderer.engine_name == "painter" and "EDGECASE_CAMERA_ENGINE" in renderer.fallback_reason
    monkeypatch.setenv("EDGECASE_CAMERA_ENGINE", "vulkan")
    with pytest.raises(ValueError, match="vulkan"):
        CameraRenderer(static, {"front": _camera()})
    monkeypatch.delenv("EDGECASE_CAMERA_ENGINE")
    with CameraRenderer(static, {"front": _camera()}) as renderer:
        reason = _gl_missing()
        assert renderer.engine_name == ("painter" if reason else "moderngl-egl")
        assert renderer.fallback_reason == reason
    with CameraRenderer(static, {"front": _camera()}, engine="painter") as renderer:
        assert renderer.engine_name == "painter"


def test_auto_falls_back_to_the_painter_when_egl_fails(static, monkeypatch) -> None:
    from edgecase.backends.embedded import camera_gl

    monkeypatch.setattr(camera_gl, "_context", None)
    monkeypatch.setattr(camera_gl, "_failure", (__import__("os").getpid(), "moderngl EGL context unavailable: test"))
    monkeypatch.delenv("EDGECASE_CAMERA_ENGINE", raising=False)
    with CameraRenderer(static, {"front": _camera()}) as renderer:
        assert renderer.engine_name == "painter" and renderer.fallback_reason.endswith("test")
        frame = renderer.render("front", POSE, _boxes([]), NOON)
    assert frame.semantic[0, 0] == TAG_SKY
    with pytest.raises(EngineUnavailable):
        CameraRenderer(static, {"front": _camera()}, engine="moderngl")
