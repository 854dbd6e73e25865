"""Sensor rigs: the shipped rigs load, intrinsics follow CARLA's pinhole, bad rigs fail at file:line:col."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from edgecase.errors import InputError
from edgecase.sensors import Camera, Lidar, Mount, available_rigs, load_rig, rigs_dir

RIGS = ("front_camera", "front_camera_lidar", "kitti_like", "nuscenes_like")


def _camera(width: int, height: int, fov: float) -> Camera:
    return Camera(type="camera.rgb", mount=Mount(), width_px=width, height_px=height, fov_deg=fov)


def test_repo_rigs_folder_holds_the_shipped_rigs() -> None:
    assert rigs_dir() == Path(__file__).resolve().parents[1] / "sensors"
    assert set(RIGS) <= set(available_rigs())


@pytest.mark.parametrize("name", RIGS)
def test_every_rig_loads_by_name_and_by_path(name: str) -> None:
    rig = load_rig(name)
    assert rig.name == name and rig.cameras
    assert load_rig(rigs_dir() / f"{name}.yaml") == rig
    for camera in rig.cameras.values():
        k = camera.intrinsics()
        assert k.shape == (3, 3) and k[0, 2] == camera.width_px / 2 and k[1, 2] == camera.height_px / 2


@pytest.mark.parametrize(("size", "fov", "f", "cx", "cy"), [
    ((1280, 720), 90, 640.0, 640.0, 360.0),
    ((800, 600), 90, 400.0, 400.0, 300.0),  # labels-reference 2.1's examples
    ((1600, 900), 70, 1142.52, 800.0, 450.0),
])
def test_intrinsics_follow_carlas_pinhole(size: tuple[int, int], fov: float, f: float, cx: float, cy: float) -> None:
    camera = _camera(*size, fov)
    np.testing.assert_allclose(camera.intrinsics(), [[f, 0, cx], [0, f, cy], [0, 0, 1]], atol=0.005)
    assert camera.vertical_fov_deg == pytest.approx(math.degrees(2 * math.atan(size[1] / (2 * camera.focal_px))))
    assert _camera(1280, 720, 90).vertical_fov_deg == pytest.approx(58.7155, abs=1e-3)


def test_labels_reference_projection_example() -> None:
    # labels-reference 2.2: camera 2 m up, 1280x720 @ 90; world (18.4215, 0.934, 0) -> (672.45, 429.48).
    cam = Camera(type="camera.rgb", mount=Mount(z_m=2), width_px=1280, height_px=720, fov_deg=90)
    p_ue = np.linalg.inv(cam.mount.matrix()) @ np.array([18.4215, 0.934, 0.0, 1.0])
    p_opt = np.array([p_ue[1], -p_ue[2], p_ue[0]])
    u, v, w = cam.intrinsics() @ p_opt
    assert (u / w, v / w) == pytest.approx((672.45, 429.48), abs=0.01)


def test_mount_matrix_matches_carla_example() -> None:
    # labels-reference 1.3: Transform(Location(10, 20, 1), Rotation(yaw=90)).get_matrix()
    np.testing.assert_allclose(Mount(x_m=10, y_m=20, z_m=1, yaw_deg=90).matrix(),
                               [[0, -1, 0, 10], [1, 0, 0, 20], [0, 0, 1, 1], [0, 0, 0, 1]], atol=1e-12)


def test_kitti_like_matches_kitti_geometry() -> None:
    rig = load_rig("kitti_like")
    (camera,) = rig.cameras.values()
    (lidar,) = rig.lidars.values()
    assert (camera.width_px, camera.height_px) == (1242, 375)
    assert camera.focal_px == pytest.approx(721.5377, abs=1.0)
    assert lidar.channels == 64 and lidar.mount.z_m == pytest.approx(1.73)
    assert camera.mount.z_m == pytest.approx(1.65)


def test_nuscenes_like_has_six_cameras_and_a_32_channel_lidar() -> None:
    rig = load_rig("nuscenes_like")
    assert len(rig.cameras) == 6
    assert all((c.width_px, c.height_px) == (1600, 900) for c in rig.cameras.values())
    assert rig.cameras["CAM_BACK"].fov_deg == pytest.approx(110)
    assert sorted({c.fov_deg for c in rig.cameras.values()}) == [70, 110]
    (lidar,) = rig.lidars.values()
    assert lidar.channels == 32 and lidar.mount.z_m == pytest.approx(1.84, abs=0.01)


def test_front_camera_lidar_defaults_and_attributes() -> None:
    rig = load_rig("front_camera_lidar")
    assert rig.cameras["front"] == load_rig("front_camera").cameras["front"]
    lidar = rig.lidars["lidar_top"]
    assert lidar.channels == 64
    assert lidar.elevations_deg()[[0, -1]].tolist() == [2.0, -24.8]
    assert lidar.carla_attributes()["channels"] == "64"
    # Unset LiDAR fields are CARLA's documented defaults (Docs/ref_sensors.md).
    bare = Lidar(type="lidar.ray_cast", mount=Mount())
    assert (bare.channels, bare.range_m, bare.points_per_second, bare.rotation_frequency_hz,
            bare.upper_fov_deg, bare.lower_fov_deg) == (32, 10.0, 56000, 10.0, 10.0, -30.0)


HEAD = "name: t\nsensors:\n  front:\n"
CAMERA = "    type: camera.rgb\n    mount: {x_m: 1}\n    width_px: 1280\n    height_px: 720\n"


@pytest.mark.parametrize(("text", "where", "words"), [
    (HEAD + CAMERA.replace("height_px", "heigth_px"), "7:5", "unknown key 'heigth_px' (did you mean 'height_px'?)"),
    (HEAD + CAMERA + "    fov_deg: 200\n", "8:14", "'fov_deg': 200.0 is outside 1..179 deg"),
    (HEAD + CAMERA.replace("camera.rgb", "camera.rbg"), "4:11", "unknown sensor type 'camera.rbg' (did you mean 'camera.rgb'?)"),
    (HEAD + CAMERA.replace("camera.rgb", "radar"), "4:11", "unknown sensor type 'radar' (expected one of: camera.depth"),
    (HEAD + CAMERA.replace("camera.rgb", "sensor.camera.rgb"), "4:11", "without 'sensor.'"),
    (HEAD + CAMERA.replace("width_px: 1280", "width_px: 8"), "6:15", "'width_px': 8 is outside 16..8192 px"),
    (HEAD + CAMERA.replace("{x_m: 1}", "{x_m: 1, pich_deg: 3}"), "5:21", "unknown key 'pich_deg' (did you mean 'pitch_deg'?)"),
    (HEAD + CAMERA.replace("camera.rgb", "camera.depth") + "    noise_stddev: 2\n", "8:19", "only camera.rgb takes noise"),
    (HEAD + "    type: lidar.ray_cast\n    mount: {}\n    channels: 300\n", "6:15", "'channels': 300 is outside 1..256"),
    (HEAD + "    type: lidar.ray_cast\n    mount: {}\n    upper_fov_deg: 5\n    lower_fov_deg: 10\n", "7:20",
     "must be below upper_fov_deg"),
    (HEAD + "    type: lidar.ray_cast_semantic\n    mount: {}\n    dropoff_general_rate: 0.2\n", "6:27", "no drop-off or noise"),
    (HEAD + "    mount: {}\n", "4:5", "missing key 'type'"),
    ("name: t\nsensors: !!python/object/apply:os.system [echo hi]\n", "2:10", "YAML tag '!!python/object/apply:os.system' is not allowed"),
    ("name: t\nsensors: {}\n", "2:10", "'sensors'"),
    ("name: t\nsenors: {}\n", "2:1", "unknown key 'senors' (did you mean 'sensors'?)"),
])
def test_bad_rig_files_fail_at_file_line_col(tmp_path: Path, text: str, where: str, words: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_rig(path)
    assert str(caught.value).startswith(f"{path}:{where}: "), str(caught.value)
    assert words in str(caught.value)


def test_missing_rig_file_is_an_error_at_its_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(InputError, match=rf"^{path}:1:1: cannot read the file"):
        load_rig(path)


def test_unknown_rig_name_suggests_and_lists_the_available_ones() -> None:
    with pytest.raises(InputError) as caught:
        load_rig("front_camra")
    message = str(caught.value)
    assert "unknown sensor rig 'front_camra'" in message and "did you mean 'front_camera'?" in message
    assert all(name in message for name in RIGS)
    with pytest.raises(InputError, match="available rigs: front_camera, front_camera_lidar, kitti_like, nuscenes_like"):
        load_rig("radar_only")


def test_bare_names_resolve_against_base_dir_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mine.yaml").write_text(HEAD + CAMERA)
    assert load_rig("mine", base_dir=tmp_path).cameras["front"].width_px == 1280
    monkeypatch.setenv("EDGECASE_SENSORS_DIR", str(tmp_path))
    assert available_rigs() == ["mine"]
    with pytest.raises(InputError, match="available rigs: mine"):
        load_rig("front_camera")


def test_rigs_are_frozen() -> None:
    rig = load_rig("front_camera")
    with pytest.raises(Exception):
        rig.cameras["front"].fov_deg = 10  # type: ignore[misc]


def test_a_scenario_naming_an_unknown_rig_is_an_error_at_its_sensors_key(tmp_path, capsys):
    from edgecase import cli
    from tests.helpers import SCENARIOS

    text = (SCENARIOS / "occluded_child_dartout.yaml").read_text().replace("sensors: front_camera_lidar", "sensors: front_camera_lidr")
    bad = tmp_path / "bad_rig.yaml"
    bad.write_text(text)
    assert cli.run(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    line = next(n for n, row in enumerate(text.splitlines(), start=1) if "sensors: front_camera_lidr" in row)
    assert err.startswith(f"{bad}:{line}:14: unknown sensor rig 'front_camera_lidr'") and "did you mean 'front_camera_lidar'" in err
