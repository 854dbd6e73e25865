"""The CARLA bridge's conversions: buffers built by hand to CARLA 0.9.16's documented layouts
(../shared/docs/labels-reference.md 1.3, 3) -> the frames the embedded backend makes."""

from __future__ import annotations

import math
import struct
from types import SimpleNamespace

import carla
import numpy as np
import pytest

from edgecase.backends.carla.convert import (SKY_DEPTH_M, blueprint_attributes, camera_frame, image_array,
                                             lidar_frame, lidar_points, sensor_blueprints, transform_matrix)
from edgecase.backends.embedded.lidar import (DROPOFF_GENERAL_RATE, DROPOFF_INTENSITY_LIMIT,
                                              DROPOFF_ZERO_INTENSITY)
from edgecase.sensors import Camera, Lidar, Mount, available_rigs, load_rig
from edgecase.sensors.frames import (SEMANTIC_LIDAR_DTYPE, carla_bgra, encode_depth, encode_instance,
                                     encode_semantic)

POSE = np.eye(4)
K = np.array([[400.0, 0, 400], [0, 400.0, 300], [0, 0, 1]])
# sensor.lidar.ray_cast_semantic's variations (ActorBlueprintFunctionLibrary.cpp MakeLidarDefinition,
# AddVariationsForSensor) and the cameras' (MakeCameraDefinition) that we set
SEMANTIC_LIDAR_VARIATIONS = {"channels", "range", "points_per_second", "rotation_frequency", "upper_fov", "lower_fov",
                             "horizontal_fov", "sensor_tick"}
CAMERA_VARIATIONS = {"image_size_x", "image_size_y", "fov", "sensor_tick"}


def bgra(*pixel: int, shape: tuple[int, int] = (1, 1)) -> np.ndarray:
    return np.tile(np.array(pixel, np.uint8), shape + (1,))


def frame(rgb=None, depth=None, instance=None, semantic=None, track_of=None):
    blank = bgra(0, 0, 0, 255)
    return camera_frame("cam", 3, 0.15, POSE, K, blank if rgb is None else rgb, blank if depth is None else depth,
                        blank if instance is None else instance, track_of or {}, semantic)


# --- transforms ------------------------------------------------------------------------------------

def test_transform_matrix_equals_carla_get_matrix() -> None:
    t = carla.Transform(carla.Location(10, 20, 1), carla.Rotation(yaw=90))
    expected = [[0, -1, 0, 10], [1, 0, 0, 20], [0, 0, 1, 1], [0, 0, 0, 1]]  # labels-reference 1.3
    assert np.allclose(transform_matrix(t), expected, atol=1e-6)
    assert np.allclose(transform_matrix(t), np.array(t.get_matrix()), atol=1e-6)
    tilted = carla.Transform(carla.Location(-3.5, 7.25, 2), carla.Rotation(pitch=12, yaw=-33, roll=7))
    assert np.allclose(transform_matrix(tilted), np.array(tilted.get_matrix()), atol=1e-6)
    assert (t.location.x, t.location.y, t.location.z) == (10, 20, 1)  # read, not moved


# --- cameras ---------------------------------------------------------------------------------------

def test_image_array_from_bytes_and_memoryview() -> None:
    raw = bytes(range(24))  # 2 rows x 3 columns x BGRA
    for data in (raw, memoryview(raw), bytearray(raw)):
        img = image_array(SimpleNamespace(raw_data=data, width=3, height=2))
        assert img.shape == (2, 3, 4) and img.dtype == np.uint8
        assert img[1, 2].tolist() == [20, 21, 22, 23]
    with pytest.raises(ValueError, match="needs 32"):
        image_array(SimpleNamespace(raw_data=raw, width=4, height=2))


def test_instance_doc_example_and_unknown_ids() -> None:
    img = np.concatenate([bgra(1, 44, 14, 255), bgra(2, 0, 12, 255)], 1)  # ids 300 (car) and 512 (walker)
    out = frame(instance=img, depth=encode_depth(np.ones((1, 2))), rgb=bgra(0, 0, 0, 255, shape=(1, 2)),
                track_of={300: 7})
    assert out.semantic.tolist() == [[14, 12]]
    assert out.instance.tolist() == [[7, 0]] and out.instance.dtype == np.uint16


def test_instance_ids_alias_above_65535() -> None:
    """The camera keeps the low 16 bits of the actor id (labels-reference 3.4)."""
    out = frame(instance=bgra(0x01, 0x2C, 14, 255), track_of={65536 + 300: 9})
    assert out.instance.tolist() == [[9]]
    with pytest.raises(ValueError, match="uint16"):
        frame(track_of={300: 70_000})


def test_depth_doc_example_and_sky() -> None:
    out = frame(depth=bgra(1, 20, 10, 255))  # B=1, G=20, R=10
    assert out.depth_m[0, 0] == pytest.approx(4.212, abs=5e-4) and out.depth_m.dtype == np.float32
    assert frame(depth=bgra(255, 255, 255, 255)).depth_m[0, 0] == np.inf  # 1000 m: CARLA's far limit
    assert frame(depth=encode_depth(np.array([[999.98]]))).depth_m[0, 0] == pytest.approx(999.98, abs=1e-3)
    assert frame(depth=encode_depth(np.array([[SKY_DEPTH_M]]))).depth_m[0, 0] == np.inf


def test_round_trip_with_frame_encoders() -> None:
    rng = np.random.default_rng(3)
    h, w = 6, 5
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    depth = rng.uniform(0.5, 300.0, (h, w)).astype(np.float32)
    depth[0] = np.inf
    semantic = rng.integers(0, 29, (h, w), dtype=np.uint8)
    actor = rng.choice(np.array([0, 24, 300, 4097, 65535], np.uint16), (h, w))
    track_of = {24: 1, 300: 2, 4097: 3, 65535: 4}
    out = frame(carla_bgra(rgb), encode_depth(depth), encode_instance(semantic, actor), track_of=track_of)
    assert np.array_equal(out.rgb, rgb) and out.rgb.dtype == np.uint8
    assert np.array_equal(np.isinf(out.depth_m), np.isinf(depth))
    assert np.allclose(out.depth_m[1:], depth[1:], atol=1e-4)
    assert np.array_equal(out.semantic, semantic) and out.semantic.dtype == np.uint8
    lut = np.zeros(65536, np.uint16)
    for k, v in track_of.items():
        lut[k] = v
    assert np.array_equal(out.instance, lut[actor])
    assert out.size_px == (w, h) and out.pose is not POSE and np.array_equal(out.intrinsics, K)


def test_semantic_camera_preferred_over_instance_tags() -> None:
    out = frame(instance=bgra(0, 0, 14, 255), semantic=encode_semantic(np.array([[13]], np.uint8)))
    assert out.semantic.tolist() == [[13]]


def test_views_of_carla_buffers_become_writable_frames() -> None:
    raw = bytes(encode_instance(np.full((2, 2), 14, np.uint8), np.full((2, 2), 300, np.uint16)))
    img = image_array(SimpleNamespace(raw_data=memoryview(raw), width=2, height=2))
    out = frame(rgb=img, depth=img, instance=img, track_of={300: 1})
    assert all(a.flags.writeable for a in (out.rgb, out.depth_m, out.semantic, out.instance))


def test_camera_images_must_match() -> None:
    with pytest.raises(ValueError, match="one size"):
        frame(rgb=bgra(0, 0, 0, 255, shape=(2, 2)))


# --- LiDAR -----------------------------------------------------------------------------------------

def rig_lidar(**kw: object) -> Lidar:
    args = dict(type="lidar.ray_cast_semantic", mount=Mount(z_m=1.9), channels=8, range_m=200.0,
                upper_fov_deg=10.0, lower_fov_deg=-30.0) | kw
    return Lidar(**args)


def sweep(lidar: Lidar, per_channel: int = 40, dist: float | None = None,
          seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """A semantic LiDAR buffer, channel-major: each channel a random number of hits at its elevation."""
    rng = np.random.default_rng(seed)
    chunks, counts = [], []
    for ch, elev in enumerate(np.radians(lidar.elevations_deg())):
        n = int(rng.integers(0, per_channel)) if dist is None else per_channel
        az = np.sort(rng.uniform(-math.pi, math.pi, n))
        d = rng.uniform(1.0, 150.0, n) if dist is None else np.full(n, dist)
        pts = np.zeros(n, SEMANTIC_LIDAR_DTYPE)
        pts["x"], pts["y"], pts["z"] = d * np.cos(elev) * np.cos(az), d * np.cos(elev) * np.sin(az), d * np.sin(elev)
        pts["cos_inc_angle"] = rng.uniform(0, 1, n)
        pts["object_idx"] = rng.choice([0, 42, 4_000_000_000], n)
        pts["object_tag"] = np.where(pts["object_idx"] > 0, 14, 1)
        chunks.append(pts)
        counts.append(n)
    return np.concatenate(chunks), counts


def test_semantic_point_layout_packed_with_struct() -> None:
    raw = struct.pack("<4f2I", 10.0, -2.0, 0.5, 0.75, 42, 14) + struct.pack("<4f2I", 3.0, 4.0, 0.0, 1.0, 99, 10)
    assert len(raw) == 48 == 2 * SEMANTIC_LIDAR_DTYPE.itemsize
    out = lidar_frame("lidar", 2, 0.1, POSE, raw, 1, {42: 5})
    assert out.xyz_m.tolist() == [[10.0, -2.0, 0.5], [3.0, 4.0, 0.0]]
    assert out.cos_inc.tolist() == [0.75, 1.0]
    assert out.object_idx.tolist() == [5, 0] and out.object_tag.tolist() == [14, 10]
    assert out.intensity[1] == pytest.approx(math.exp(-0.004 * 5.0))  # exp(-0.004 d), CARLA's default rate
    assert out.channel.tolist() == [0, 0] and (out.name, out.tick, out.t_s) == ("lidar", 2, 0.1)


def test_lidar_frame_fields_from_any_buffer_type() -> None:
    lidar = rig_lidar()
    pts, counts = sweep(lidar)
    expected_channel = np.repeat(np.arange(8), counts)
    for raw in (pts.tobytes(), memoryview(pts.tobytes()), pts, np.frombuffer(pts.tobytes(), np.uint8)):
        out = lidar_frame("lidar", 0, 0.0, POSE, raw, 8, {42: 3, 4_000_000_000: 8}, lidar)
        assert len(out) == len(pts)
        assert np.array_equal(out.channel, expected_channel) and out.channel.dtype == np.uint8
        assert np.array_equal(out.xyz_m, np.stack([pts["x"], pts["y"], pts["z"]], 1))
        assert out.xyz_m.dtype == out.intensity.dtype == out.cos_inc.dtype == np.float32
        assert np.allclose(out.intensity, np.exp(-0.004 * np.linalg.norm(out.xyz_m, axis=1)))
        assert np.array_equal(out.cos_inc, pts["cos_inc_angle"])
        assert np.array_equal(out.object_idx, np.select([pts["object_idx"] == 42, pts["object_idx"] > 0], [3, 8], 0))
        assert np.array_equal(out.object_tag, pts["object_tag"]) and out.object_idx.dtype == np.uint32


def test_channels_from_elevations_and_counts_agree() -> None:
    for kw in ({}, {"channels": 64, "upper_fov_deg": 2.0, "lower_fov_deg": -24.8}, {"channels": 2}):
        lidar = rig_lidar(**kw)
        pts, counts = sweep(lidar, seed=lidar.channels)
        by_elev = lidar_frame("l", 0, 0.0, POSE, pts, lidar.channels, {}, lidar)
        by_count = lidar_frame("l", 0, 0.0, POSE, pts, lidar.channels, {}, channel_counts=counts)
        both = lidar_frame("l", 0, 0.0, POSE, pts, lidar.channels, {}, lidar, channel_counts=counts)
        assert np.array_equal(by_elev.channel, by_count.channel)
        assert np.array_equal(both.channel, np.repeat(np.arange(lidar.channels), counts))


def test_channel_errors() -> None:
    lidar = rig_lidar()
    pts, counts = sweep(lidar)
    with pytest.raises(ValueError, match="channel_counts"):
        lidar_frame("l", 0, 0.0, POSE, pts, 8, {})
    with pytest.raises(ValueError, match="do not split"):
        lidar_frame("l", 0, 0.0, POSE, pts, 8, {}, channel_counts=counts[:-1] + [counts[-1] + 1])
    with pytest.raises(ValueError, match="has 8"):
        lidar_frame("l", 0, 0.0, POSE, pts, 16, {}, lidar)
    assert len(lidar_frame("l", 0, 0.0, POSE, b"", 8, {}, lidar)) == 0


def kept_share(dist: float, **kw: object) -> float:
    lidar = rig_lidar(type="lidar.ray_cast", **kw)
    pts, _ = sweep(lidar, per_channel=2500, dist=dist)
    out = lidar_frame("l", 0, 0.0, POSE, pts, 8, {}, lidar, np.random.default_rng(11))
    return len(out) / len(pts)


def test_dropoff_share_matches_carla() -> None:
    """CARLA: a ray is dropped with dropoff_general_rate (0.45); a hit whose intensity is at or below
    0.8 then survives with probability zero_intensity / limit * I + 1 - zero_intensity."""
    near = 1.0 - DROPOFF_GENERAL_RATE  # 20 m: I = 0.92 > 0.8
    assert kept_share(20.0) == pytest.approx(near, abs=0.015)
    i_far = math.exp(-0.004 * 150.0)
    far = near * (DROPOFF_ZERO_INTENSITY / DROPOFF_INTENSITY_LIMIT * i_far + 1.0 - DROPOFF_ZERO_INTENSITY)
    assert kept_share(150.0) == pytest.approx(far, abs=0.015)
    assert kept_share(20.0, dropoff_general_rate=0.0) == 1.0
    assert kept_share(20.0, dropoff_general_rate=0.2) == pytest.approx(0.8, abs=0.015)


def test_no_rng_or_semantic_type_keeps_every_point() -> None:
    lidar = rig_lidar(type="lidar.ray_cast", noise_stddev_m=0.5)
    pts, _ = sweep(lidar)
    plain = lidar_frame("l", 0, 0.0, POSE, pts, 8, {}, lidar)
    semantic = lidar_frame("l", 0, 0.0, POSE, pts, 8, {}, rig_lidar(), np.random.default_rng(1))
    unknown = lidar_frame("l", 0, 0.0, POSE, pts, 8, {}, None, np.random.default_rng(1),
                          channel_counts=np.bincount(plain.channel, minlength=8))
    for out in (plain, semantic, unknown):
        assert len(out) == len(pts)
        assert np.array_equal(out.xyz_m, np.stack([pts["x"], pts["y"], pts["z"]], 1))


def test_dropoff_is_seeded_and_keeps_fields_together() -> None:
    lidar = rig_lidar(type="lidar.ray_cast")
    pts, counts = sweep(lidar, per_channel=300)
    a, b = (lidar_frame("l", 0, 0.0, POSE, pts, 8, {42: 3}, lidar, np.random.default_rng(5), counts) for _ in range(2))
    assert np.array_equal(a.xyz_m, b.xyz_m) and 0 < len(a) < len(pts)
    full = lidar_frame("l", 0, 0.0, POSE, pts, 8, {42: 3}, lidar, channel_counts=counts)
    rows = [int(np.flatnonzero((full.xyz_m == p).all(1))[0]) for p in a.xyz_m]  # no noise: points unchanged
    assert rows == sorted(rows)  # still channel-major
    for field in ("channel", "intensity", "cos_inc", "object_idx", "object_tag"):
        assert np.array_equal(getattr(a, field), getattr(full, field)[rows]), field


def test_noise_moves_points_along_their_ray() -> None:
    lidar = rig_lidar(type="lidar.ray_cast", dropoff_general_rate=0.0, noise_stddev_m=0.1)
    pts, counts = sweep(lidar, per_channel=1000, dist=20.0)
    out = lidar_frame("l", 0, 0.0, POSE, pts, 8, {}, lidar, np.random.default_rng(2), counts)
    assert len(out) == len(pts)  # I(20 m) = 0.92 > 0.8: no intensity drop, no general drop
    clean = np.stack([pts["x"], pts["y"], pts["z"]], 1).astype(np.float64)
    noisy = out.xyz_m.astype(np.float64)
    assert np.linalg.norm(np.cross(clean, noisy), axis=1).max() / 20.0 < 1e-4  # same direction
    assert np.std(np.linalg.norm(noisy, axis=1) - 20.0) == pytest.approx(0.1, rel=0.05)
    assert np.allclose(out.intensity, math.exp(-0.004 * 20.0))  # from the distance before noise, as CARLA


def test_lidar_points_layout() -> None:
    pts = np.arange(12, dtype=np.float32).reshape(3, 4)
    for raw in (pts.tobytes(), memoryview(pts.tobytes()), pts):
        out = lidar_points(raw)
        assert out.shape == (3, 4) and out.dtype == np.float32 and np.array_equal(out, pts)
        assert out.flags.writeable
    assert np.array_equal(lidar_points(struct.pack("<4f", 1.5, -2.0, 0.25, 0.5)), [[1.5, -2.0, 0.25, 0.5]])


# --- blueprints ------------------------------------------------------------------------------------

@pytest.mark.parametrize("rig_name", available_rigs())
def test_blueprint_attributes_for_every_rig(rig_name: str) -> None:
    rig = load_rig(rig_name)
    for sensor in rig.sensors.values():
        attrs = blueprint_attributes(sensor, 0.05)
        assert all(isinstance(v, str) for v in attrs.values())
        assert attrs["sensor_tick"] == "0.0"
        if isinstance(sensor, Camera):
            assert set(attrs) == CAMERA_VARIATIONS
            assert (int(attrs["image_size_x"]), int(attrs["image_size_y"])) == (sensor.width_px, sensor.height_px)
            assert float(attrs["fov"]) == sensor.fov_deg
            assert set(sensor_blueprints(sensor).values()) == {
                "sensor.camera.rgb", "sensor.camera.depth", "sensor.camera.instance_segmentation",
                "sensor.camera.semantic_segmentation"}
        else:
            assert set(attrs) == SEMANTIC_LIDAR_VARIATIONS
            assert int(attrs["channels"]) == sensor.channels and float(attrs["range"]) == sensor.range_m
            assert int(attrs["points_per_second"]) == sensor.points_per_second
            assert float(attrs["rotation_frequency"]) == sensor.rotation_frequency_hz
            assert float(attrs["upper_fov"]) == sensor.upper_fov_deg
            assert float(attrs["lower_fov"]) == sensor.lower_fov_deg
            assert float(attrs["horizontal_fov"]) == 360.0
            assert sensor_blueprints(sensor) == {"semantic_lidar": "sensor.lidar.ray_cast_semantic"}


def test_semantic_lidar_gets_no_dropoff_or_noise_attributes() -> None:
    lidar = rig_lidar(type="lidar.ray_cast", dropoff_general_rate=0.3, noise_stddev_m=0.02)
    assert "dropoff_general_rate" in lidar.carla_attributes()
    attrs = blueprint_attributes(lidar, 0.1)
    assert set(attrs) == SEMANTIC_LIDAR_VARIATIONS
    camera = Camera(type="camera.depth", mount=Mount(), width_px=800, height_px=600)
    assert blueprint_attributes(camera, 0.1) == {"image_size_x": "800", "image_size_y": "600", "fov": "90.0",
                                                 "sensor_tick": "0.0"}
    assert set(sensor_blueprints(camera)) == {"rgb", "depth", "instance", "semantic"}
    with pytest.raises(ValueError, match="step_s"):
        blueprint_attributes(camera, 0.0)
