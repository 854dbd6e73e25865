"""The embedded CPU LiDAR: CARLA's scan pattern, exact hits on boxes and ground, drop-off, noise, layouts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgecase.backends.embedded.lidar import LidarCaster, cast_boxes, ground_hits, points_in_boxes
from edgecase.backends.embedded.scene import StaticScene
from edgecase.sensors import Lidar, Mount, load_rig
from edgecase.sensors.frames import SEMANTIC_LIDAR_DTYPE, LidarFrame, carla_semantic_points, channel_counts
from edgecase.sensors.transforms import apply, carla_matrix, invert
from edgecase.sim.boxes import Boxes

CAR = (2.45, 0.92, 0.75)  # half extents of a Lincoln MKZ-sized box
TAG_CAR, TAG_ROAD, TAG_SIDEWALK = 14, 1, 2


def rig_lidar() -> Lidar:
    return load_rig("front_camera_lidar").lidars["lidar_top"]


def semantic(lidar: Lidar) -> Lidar:
    return lidar.model_copy(update={"type": "lidar.ray_cast_semantic"})


def lidar(**kw: object) -> Lidar:
    args = dict(type="lidar.ray_cast_semantic", mount=Mount(), channels=16, range_m=100.0, points_per_second=72_000,
                rotation_frequency_hz=10.0, upper_fov_deg=5.0, lower_fov_deg=-25.0) | kw
    return Lidar(**args)


def scene(ground_z_m: float = 0.0) -> StaticScene:
    """Flat ground: road where world y < 0, sidewalk where y >= 0 (CARLA: y is right), terrain outside."""
    raster = np.full((400, 400), TAG_SIDEWALK, np.uint8)
    raster[:200] = TAG_ROAD  # row = y; rows 0..199 cover y in [-200, 0)
    return StaticScene(np.zeros((0, 3, 3), np.float32), np.zeros(0, np.uint8), np.zeros((0, 3), np.uint8),
                       raster, (-200.0, -200.0), 1.0, ground_z_m)


def boxes(*rows: tuple, active: list[bool] | None = None) -> Boxes:
    """rows of (x, y, yaw_deg, actor_id[, half extents]); boxes stand on z = 0."""
    ext = np.array([r[4] if len(r) > 4 else CAR for r in rows], float).reshape(-1, 3)
    centre = np.array([(r[0], r[1], e[2]) for r, e in zip(rows, ext)], float).reshape(-1, 3)
    return Boxes(centre, ext, np.radians([r[2] for r in rows]), np.array([r[3] for r in rows], np.uint32),
                 np.full(len(rows), TAG_CAR, np.uint8), np.array(active if active else [True] * len(rows)))


def no_boxes() -> Boxes:
    return boxes()


def full_turn(caster: LidarCaster, pose: np.ndarray, b: Boxes, static: StaticScene, ticks: range,
              seed: int | None = None) -> list[LidarFrame]:
    return [caster.scan(pose, b, static, t, t * caster.step_s, None if seed is None else np.random.default_rng([seed, t]))
            for t in ticks]


def world_points(frame: LidarFrame) -> np.ndarray:
    return apply(frame.pose, frame.xyz_m.astype(float))


def box_local(points: np.ndarray, b: Boxes, i: int) -> np.ndarray:
    pose = carla_matrix(*b.centre_m[i], yaw_deg=math.degrees(b.yaw_rad[i]))
    return apply(invert(pose), points)


# --- scan pattern -------------------------------------------------------------------------------

def test_scan_pattern_follows_carla() -> None:
    caster = LidarCaster(rig_lidar().model_copy(update={"points_per_second": 1_150_000, "rotation_frequency_hz": 10.0}), 0.05)
    assert caster.points_per_laser == round(1_150_000 * 0.05 / 64) == 898  # 57,472 rays a tick
    assert caster.tick_deg == pytest.approx(180.0)  # 10 Hz at 0.05 s: half a turn per tick
    az0, az1 = caster.azimuths_deg(0), caster.azimuths_deg(1)
    assert az0[0] == -180.0 and az1[0] == pytest.approx(0.0)  # the sweep goes on where it stopped
    assert np.all(np.diff(az0) > 0) and az0[-1] < 0 < az1[-1] < 180
    assert np.allclose(caster.azimuths_deg(2), az0)
    # FMath::RoundHalfFromZero, not Python's round-half-even: 0.5 -> 1, 2.5 -> 3
    assert LidarCaster(lidar(channels=2, points_per_second=10), 0.1).points_per_laser == 1
    assert LidarCaster(lidar(channels=2, points_per_second=50), 0.1).points_per_laser == 3


def test_too_few_points_per_tick_give_an_empty_frame() -> None:
    caster = LidarCaster(lidar(points_per_second=7), 0.1)  # 0.04 rays per laser rounds to 0
    frame = caster.scan(carla_matrix(z_m=1.9), boxes((10.0, 0.0, 0.0, 1)), scene(), 0, 0.0, np.random.default_rng(0))
    assert caster.points_per_laser == 0 and len(frame) == 0 and frame.xyz_m.shape == (0, 3)


def test_faster_rotation_than_the_tick_wraps_like_carla() -> None:
    """CARLA does not cap the sweep at 360 deg: 20 Hz at 0.1 s spreads a laser's rays over 720 deg."""
    caster = LidarCaster(lidar(rotation_frequency_hz=20.0, points_per_second=16 * 100 * 10), 0.1)
    az = caster.azimuths_deg(0)
    assert len(az) == 100 and np.allclose(az[50:], az[:50])


def test_points_are_channel_major_in_firing_order() -> None:
    caster = LidarCaster(lidar(upper_fov_deg=-5.0, lower_fov_deg=-30.0), 0.1)  # every laser hits the ground
    pose = carla_matrix(z_m=2.0, yaw_deg=30.0)
    for tick in (0, 1, 2):
        frame = caster.scan(pose, no_boxes(), scene(), tick, tick * 0.1, None)
        counts = channel_counts(frame, 16)
        assert np.all(counts == caster.points_per_laser) and len(frame) == 16 * caster.points_per_laser
        assert np.all(np.diff(frame.channel.astype(int)) >= 0)
        az = np.degrees(np.arctan2(frame.xyz_m[:, 1], frame.xyz_m[:, 0])).reshape(16, -1)
        expected = caster.azimuths_deg(tick)
        wrapped = (az - expected + 180.0) % 360.0 - 180.0
        assert np.abs(wrapped).max() < 1e-3


def test_frame_fields_and_types() -> None:
    frame = LidarCaster(rig_lidar(), 0.05, name="lidar_top").scan(
        carla_matrix(z_m=1.9), boxes((15.0, -15.0, 30.0, 7)), scene(), 3, 0.15, np.random.default_rng(0))
    assert frame.name == "lidar_top" and frame.tick == 3 and frame.t_s == 0.15
    assert frame.xyz_m.dtype == np.float32 and frame.xyz_m.shape == (len(frame), 3)
    assert frame.intensity.dtype == np.float32 and frame.cos_inc.dtype == np.float32
    assert frame.channel.dtype == np.uint8 and frame.object_idx.dtype == np.uint32 and frame.object_tag.dtype == np.uint32
    assert all(len(a) == len(frame) for a in (frame.intensity, frame.channel, frame.cos_inc, frame.object_idx,
                                              frame.object_tag))


# --- geometry -----------------------------------------------------------------------------------

@pytest.mark.parametrize("pose", [carla_matrix(1.0, -2.0, 1.9, yaw_deg=20.0),
                                  carla_matrix(1.0, -2.0, 1.9, roll_deg=8.0, pitch_deg=-12.0, yaw_deg=20.0)],
                         ids=["level", "pitched_rolled"])
def test_box_hits_lie_on_the_box_surface(pose: np.ndarray) -> None:
    b = boxes((12.0, -4.0, 35.0, 41), (-8.0, 6.0, -60.0, 42, (0.3, 0.3, 1.5)))
    caster = LidarCaster(semantic(rig_lidar()), 0.05)
    frames = full_turn(caster, pose, b, scene(), range(2))
    for i, actor in enumerate((41, 42)):
        pts = np.concatenate([world_points(f)[f.object_idx == actor] for f in frames])
        tags = np.concatenate([f.object_tag[f.object_idx == actor] for f in frames])
        assert len(pts) >= 10 and np.all(tags == TAG_CAR)
        local = np.abs(box_local(pts, b, i))
        assert np.all(local <= b.extent_m[i] + 0.01)  # inside the box
        assert np.all(np.min(np.abs(local - b.extent_m[i]), axis=1) < 0.01)  # on a face
        assert np.all(points_in_boxes(pts, b, margin_m=0.05) == i)
    for f in frames:  # and nothing else claims to be an actor
        assert set(np.unique(f.object_idx)) <= {0, 41, 42}


def test_ground_distance_matches_the_channel_elevation() -> None:
    h = 1.9
    caster = LidarCaster(semantic(rig_lidar()), 0.05)
    frame = caster.scan(carla_matrix(5.0, 5.0, h, yaw_deg=-70.0), no_boxes(), scene(), 0, 0.0, None)
    dist = np.linalg.norm(frame.xyz_m, axis=1)
    elev = np.radians(rig_lidar().elevations_deg())[frame.channel]
    assert np.all(elev < 0) and np.allclose(dist, h / np.sin(-elev), rtol=1e-5)
    assert np.allclose(frame.xyz_m[:, 2], -h, atol=1e-4)
    assert np.allclose(frame.cos_inc, np.sin(-elev), atol=1e-6)  # cos of the incidence = h / d
    assert np.all(frame.object_idx == 0) and dist.max() <= 100.0
    # channels whose ground hit lies past range_m return nothing
    far = h / np.sin(-np.radians(rig_lidar().elevations_deg())) > 100.0
    assert set(np.unique(frame.channel)) == set(np.flatnonzero(~far & (rig_lidar().elevations_deg() < 0)))


def test_ground_tag_comes_from_the_map_under_the_hit() -> None:
    frame = LidarCaster(semantic(rig_lidar()), 0.05).scan(carla_matrix(0.0, 0.0, 1.9), no_boxes(), scene(), 0, 0.0, None)
    world = world_points(frame)
    assert np.all(frame.object_tag[world[:, 1] < -1e-3] == TAG_ROAD)
    assert np.all(frame.object_tag[world[:, 1] > 1e-3] == TAG_SIDEWALK)


@pytest.mark.parametrize("distance", [10.0, 20.0, 30.0])
def test_a_car_10_to_30_m_away_gets_points(distance: float) -> None:
    caster = LidarCaster(rig_lidar(), 0.05)
    b = boxes((0.0, 0.0, 0.0, 1, (2.45, 0.92, 0.75)), (distance, 3.5, 10.0, 9))  # ego + a car one lane right
    pose = carla_matrix(0.0, 0.0, 1.9)
    frames = full_turn(caster, pose, b, scene(), range(2), seed=5)
    assert sum(int(np.sum(f.object_idx == 9)) for f in frames) >= 10


def test_cos_inc_on_a_face() -> None:
    caster = LidarCaster(lidar(), 0.1)
    frame = caster.scan(carla_matrix(z_m=1.0), boxes((20.0, 0.0, 0.0, 3, (1.0, 5.0, 3.0))), scene(), 0, 0.0, None)
    on = frame.object_idx == 3
    xyz = frame.xyz_m[on].astype(float)
    assert np.allclose(xyz[:, 0], 19.0, atol=1e-4)  # the face at x = 19 faces the sensor
    unit = xyz / np.linalg.norm(xyz, axis=1, keepdims=True)
    assert np.allclose(frame.cos_inc[on], unit[:, 0], atol=1e-5)


def test_yaw_90_rotates_the_hits() -> None:
    caster = LidarCaster(semantic(rig_lidar()), 0.05)
    # tick 0 sweeps azimuths -180..0 (behind, left, ahead): the box is ahead-left
    ahead = caster.scan(carla_matrix(z_m=1.9), boxes((15.0, -3.0, 10.0, 4)), scene(), 0, 0.0, None)
    # turned 90 deg right (CARLA: +yaw is clockwise from above), with the box turned with it
    turned = caster.scan(carla_matrix(z_m=1.9, yaw_deg=90.0), boxes((3.0, 15.0, 100.0, 4)), scene(), 0, 0.0, None)
    assert np.sum(ahead.object_idx == 4) >= 10
    assert np.array_equal(ahead.object_idx, turned.object_idx) and np.array_equal(ahead.channel, turned.channel)
    assert np.allclose(ahead.xyz_m, turned.xyz_m, atol=1e-3)
    hits = turned.object_idx == 4
    assert np.allclose(world_points(turned)[hits][:, :2], world_points(ahead)[hits][:, :2] @ np.array([[0, 1], [-1, 0]]),
                       atol=1e-3)


def test_range_inactive_boxes_and_boxes_round_the_sensor() -> None:
    caster = LidarCaster(lidar(range_m=30.0), 0.1)
    pose = carla_matrix(z_m=1.0)
    b = boxes((0.0, 0.0, 0.0, 1, (3.0, 2.0, 1.5)), (40.0, 0.0, 0.0, 2), (10.0, 0.0, 0.0, 3), active=[True, True, False])
    frames = full_turn(caster, pose, b, scene(), range(1))
    assert np.all(np.linalg.norm(frames[0].xyz_m, axis=1) <= 30.0 + 1e-4)
    assert np.all(frames[0].object_idx == 0)  # 1 holds the sensor, 2 is out of range, 3 is inactive
    roof = caster.scan(carla_matrix(z_m=3.5), b, scene(), 0, 0.0, None)  # above box 1: its roof is seen
    assert np.sum(roof.object_idx == 1) > 0


# --- intensity, drop-off, noise -----------------------------------------------------------------

def test_intensity_is_carlas_atmospheric_attenuation() -> None:
    frame = LidarCaster(rig_lidar(), 0.05).scan(carla_matrix(z_m=1.9), boxes((20.0, 0.0, 0.0, 1)), scene(), 0, 0.0, None)
    dist = np.linalg.norm(frame.xyz_m.astype(float), axis=1)
    assert np.allclose(frame.intensity, np.exp(-0.004 * dist), rtol=1e-5)
    assert np.all((frame.intensity > 0) & (frame.intensity <= 1))


def test_dropoff_share_matches_carla_defaults() -> None:
    # every ray hits the ground within 55.8 m (intensity > 0.8): only the general rate (None -> 0.45) drops
    near = lidar(type="lidar.ray_cast", upper_fov_deg=-5.0, lower_fov_deg=-30.0, points_per_second=400_000)
    caster = LidarCaster(near, 0.1)
    pose = carla_matrix(z_m=2.0)
    rays = 16 * caster.points_per_laser
    kept = sum(len(f) for f in full_turn(caster, pose, no_boxes(), scene(), range(5), seed=1)) / (5 * rays)
    assert kept == pytest.approx(0.55, abs=0.01)
    assert len(caster.scan(pose, no_boxes(), scene(), 0, 0.0, None)) == rays  # no generator: nothing dropped
    sem = LidarCaster(semantic(near), 0.1)
    assert len(sem.scan(pose, no_boxes(), scene(), 0, 0.0, np.random.default_rng(1))) == rays  # semantic: never
    # far hits (intensity I <= 0.8) also pass the intensity rule with probability 0.5 I + 0.6
    far = lidar(type="lidar.ray_cast", channels=1, upper_fov_deg=-10.0, lower_fov_deg=-20.0,
                points_per_second=40_000, range_m=200.0, dropoff_general_rate=0.0)
    high = carla_matrix(z_m=150.0 * math.sin(math.radians(10.0)))  # ground at 150 m: I = 0.549
    caster = LidarCaster(far, 0.1)
    frames = full_turn(caster, high, no_boxes(), scene(), range(20), seed=2)
    share = sum(len(f) for f in frames) / (20 * caster.points_per_laser)
    assert share == pytest.approx(0.5 * math.exp(-0.6) + 0.6, abs=0.02)


def test_noise_moves_points_along_the_ray_only() -> None:
    model = lidar(type="lidar.ray_cast", upper_fov_deg=-5.0, lower_fov_deg=-30.0, dropoff_general_rate=0.0,
                  noise_stddev_m=0.1)
    caster = LidarCaster(model, 0.1)
    pose = carla_matrix(z_m=2.0)
    clean = caster.scan(pose, no_boxes(), scene(), 0, 0.0, None)
    noisy = caster.scan(pose, no_boxes(), scene(), 0, 0.0, np.random.default_rng(3))
    assert len(clean) == len(noisy)  # rate 0 and every intensity above 0.8: nothing dropped
    a, b = clean.xyz_m.astype(float), noisy.xyz_m.astype(float)
    cross = np.linalg.norm(np.cross(a / np.linalg.norm(a, axis=1, keepdims=True), b), axis=1)
    assert cross.max() < 1e-4  # same direction
    shift = np.linalg.norm(b, axis=1) - np.linalg.norm(a, axis=1)
    assert np.std(shift) == pytest.approx(0.1, rel=0.05) and abs(np.mean(shift)) < 0.01
    assert np.array_equal(clean.intensity, noisy.intensity)  # from the distance before noise, as CARLA


# --- layouts and determinism --------------------------------------------------------------------

def test_semantic_layout_round_trips() -> None:
    frame = LidarCaster(semantic(rig_lidar()), 0.05).scan(carla_matrix(z_m=1.9), boxes((12.0, -3.0, 0.0, 77)),
                                                          scene(), 0, 0.0, None)
    raw = carla_semantic_points(frame)
    assert raw.dtype == SEMANTIC_LIDAR_DTYPE and raw.dtype.itemsize == 24
    back = np.frombuffer(raw.tobytes(), SEMANTIC_LIDAR_DTYPE)
    assert np.array_equal(np.stack([back["x"], back["y"], back["z"]], 1), frame.xyz_m)
    assert np.array_equal(back["cos_inc_angle"], frame.cos_inc)
    assert np.array_equal(back["object_idx"], frame.object_idx) and np.array_equal(back["object_tag"], frame.object_tag)
    assert np.sum(back["object_idx"] == 77) > 0 and np.all(back["object_tag"][back["object_idx"] == 77] == TAG_CAR)


def test_same_inputs_give_byte_identical_frames() -> None:
    b = boxes((12.0, -4.0, 35.0, 41), (30.0, 6.0, -60.0, 42))
    pose = carla_matrix(1.0, 2.0, 1.9, yaw_deg=12.0)
    one, two = (LidarCaster(rig_lidar(), 0.05).scan(pose, b, scene(), 1, 0.05, np.random.default_rng([9, 1]))
                for _ in range(2))
    for field in ("xyz_m", "intensity", "channel", "cos_inc", "object_idx", "object_tag"):
        assert getattr(one, field).tobytes() == getattr(two, field).tobytes()


# --- culling is exact ---------------------------------------------------------------------------

def _brute_force(dirs: np.ndarray, pose: np.ndarray, b: Boxes, range_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Every ray against the ground and every box, in the world frame, no culling."""
    world = dirs @ pose[:3, :3].T
    origin = pose[:3, 3]
    with np.errstate(divide="ignore"):
        best = np.where(world[:, 2] < 0, -origin[2] / world[:, 2], np.inf)
    best[best > range_m] = np.inf
    who = np.full(len(dirs), -1)
    for k in np.flatnonzero(b.active):
        c, s = math.cos(b.yaw_rad[k]), math.sin(b.yaw_rad[k])
        to_box = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
        d, o, e = world @ to_box.T, to_box @ (origin - b.centre_m[k]), b.extent_m[k]
        with np.errstate(divide="ignore", invalid="ignore"):
            t1, t2 = (-e - o) / d, (e - o) / d
        t_near, t_far = np.fmin(t1, t2).max(1), np.fmax(t1, t2).min(1)
        hit = (t_near <= t_far) & (t_near > 0) & (t_near <= range_m) & (t_near < best)
        best[hit], who[hit] = t_near[hit], k
    return best, who


@pytest.mark.parametrize("tilted", [False, True])
def test_culling_never_misses_a_hit(tilted: bool) -> None:
    """Random boxes close round the sensor (above, below, around it, across the -180/180 seam) and far."""
    rng = np.random.default_rng(4 + tilted)
    caster = LidarCaster(lidar(channels=32, upper_fov_deg=30.0, lower_fov_deg=-60.0, points_per_second=64_000), 0.1)
    for trial in range(15):
        n = 25
        ang, r = rng.uniform(-np.pi, np.pi, n), rng.uniform(0.0, 12.0 if trial % 2 else 60.0, n)
        b = Boxes(np.stack([r * np.cos(ang), r * np.sin(ang), rng.uniform(-1.0, 4.0, n)], 1), rng.uniform(0.05, 3.0, (n, 3)),
                  rng.uniform(-np.pi, np.pi, n), np.arange(1, n + 1, dtype=np.uint32), np.full(n, TAG_CAR, np.uint8),
                  rng.random(n) < 0.9)
        angles = rng.uniform(-60.0, 60.0, 3) if tilted else (0.0, 0.0, rng.uniform(-180.0, 180.0))
        pose = carla_matrix(*rng.uniform(-2.0, 2.0, 2), rng.uniform(0.5, 3.0), *angles)
        sweep = caster.sweep(trial)
        dist, cos_inc = ground_hits(sweep.planes, pose[:3, :3], pose[:3, 3], 0.0, 100.0)
        row = np.full(len(dist), -1, np.intp)
        cast_boxes(sweep, caster.elev_rad, pose[:3, :3], pose[:3, 3], b, 100.0, dist, cos_inc, row)
        best, who = _brute_force(sweep.dirs, pose, b, 100.0)
        assert np.array_equal(row, who)
        assert np.array_equal(np.isfinite(dist), np.isfinite(best))
        assert np.allclose(dist[np.isfinite(best)], best[np.isfinite(best)], rtol=0, atol=1e-9)
