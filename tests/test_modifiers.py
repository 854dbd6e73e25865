"""Global modifiers (edgecase/plan/modifiers.py): weather and time of day change the plan (and its
hash) and visibly the frames; sensor degradation changes the rig: RGB noise and blur, and LiDAR
dropout removes the share of points it asks for."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

import edgecase
from edgecase import cli
from edgecase.errors import InputError
from edgecase.plan.modifiers import Modifiers, modifiers_from_options, modify_rig, parse_degrade
from edgecase.sensors import load_rig
from tests.helpers import SCENARIOS

SCENARIO = SCENARIOS / "jaywalker_midblock.yaml"


def _frames(out, flags: int = cv2.IMREAD_GRAYSCALE) -> list[np.ndarray]:
    """The episode's RGB frames, as grey levels (or as read with `flags`)."""
    files = sorted(f for f in (out / "sensors" / "front").iterdir() if f.stem.isdigit())  # not _depth, _instance
    assert files, f"no camera frames in {out}"
    return [cv2.imread(str(f), flags).astype(float) for f in files]


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """The same episode (seed 0) clear, at night, and in thick fog; one frame every 50 ticks."""
    root = tmp_path_factory.mktemp("mods")
    runs = {"plain": None, "night": Modifiers(time_of_day="night"), "fog": Modifiers(fog_density=90.0)}
    for name, mods in runs.items():
        edgecase.run(SCENARIO, 0, out=root / name, sensors="front_camera", frame_every=50, modifiers=mods)
    return {name: _frames(root / name) for name in runs}, root


def test_night_makes_the_frames_much_darker(recordings):
    frames, _ = recordings
    plain, night = np.mean([f.mean() for f in frames["plain"]]), np.mean([f.mean() for f in frames["night"]])
    assert night < 0.6 * plain, (plain, night)  # 83 -> 46 grey levels here


def test_fog_lowers_the_contrast_of_the_far_scene(recordings):
    """Contrast (grey-level std) in the band around the horizon, where everything is far: fog
    washes it out (about 48 -> 23 here). Over the whole frame it does not drop: the sky turns from
    blue to a bright fog grey, far from the dark road in front, which fog barely touches."""
    frames, _ = recordings
    band = lambda f: f[340:420].std()  # noqa: E731  (the horizon is row 360 of 720)
    plain, fog = np.mean([band(f) for f in frames["plain"]]), np.mean([band(f) for f in frames["fog"]])
    assert fog < 0.6 * plain, (plain, fog)


def test_weather_modifiers_are_in_the_plan_its_hash_and_episode_json(recordings):
    _, root = recordings
    plain = json.loads((root / "plain" / "episode.json").read_text())
    night = json.loads((root / "night" / "episode.json").read_text())
    assert night["plan"]["weather"]["params"]["sun_altitude_angle"] == -90.0
    assert night["plan_sha256"] != plain["plan_sha256"]
    assert night["plan"]["actors"] == plain["plan"]["actors"]  # the same draws: only the weather differs


def test_a_weather_preset_replaces_the_scenario_weather():
    plan = edgecase.compile(SCENARIO, 3, modifiers=Modifiers(weather="HardRainNight", fog_density=10))
    assert plan.weather.preset == "HardRainNight"
    assert plan.weather.params["precipitation"] == 100.0 and plan.weather.params["fog_density"] == 10.0


def _lidar_points(out, tick: int) -> int:
    return (out / "sensors" / "lidar_top" / f"{tick:06d}.bin").stat().st_size // 16  # x, y, z, intensity float32


def test_dropout_removes_the_share_of_lidar_points_it_asks_for(tmp_path):
    for name, mods in (("plain", None), ("drop", Modifiers(dropout=0.3))):
        edgecase.run(SCENARIO, 0, out=tmp_path / name, sensors="front_camera_lidar", frame_every=50, modifiers=mods)
    for tick in (0, 50, 100):
        kept = _lidar_points(tmp_path / "drop", tick) / _lidar_points(tmp_path / "plain", tick)
        assert kept == pytest.approx(0.7, abs=0.03), (tick, kept)


def test_degrade_adds_to_the_rig_in_quadrature_and_composes_the_lidar_drop_off():
    rig = modify_rig(load_rig("front_camera_lidar"), Modifiers(noise=4.0, blur_px=1.5, dropout=0.3))
    assert rig.sensors["front"].noise_stddev == 4.0 and rig.sensors["front"].blur_px == 1.5
    assert rig.sensors["lidar_top"].dropoff_general_rate == pytest.approx(1 - 0.55 * 0.7)  # CARLA's 0.45 kept
    twice = modify_rig(rig, Modifiers(noise=3.0))
    assert twice.sensors["front"].noise_stddev == pytest.approx(5.0)


def test_noise_and_blur_change_the_rendered_frames(tmp_path):
    for name, mods in (("plain", None), ("noisy", Modifiers(noise=8.0)), ("blurred", Modifiers(blur_px=3.0))):
        edgecase.run(SCENARIO, 0, out=tmp_path / name, sensors="front_camera", frame_every=100, modifiers=mods,
                     lossless=True)
    plain, noisy, blurred = (_frames(tmp_path / n, cv2.IMREAD_COLOR)[0] for n in ("plain", "noisy", "blurred"))
    assert np.std(noisy - plain) == pytest.approx(8.0, rel=0.1)  # per channel, 8-bit levels (a little clipping)
    sharp = lambda img: np.abs(np.diff(img, axis=1)).mean()  # noqa: E731
    assert sharp(blurred) < 0.8 * sharp(plain)


def test_parse_degrade_and_bad_options():
    assert parse_degrade("noise=4, blur=1.5,dropout=0.3") == {"noise": 4.0, "blur_px": 1.5, "dropout": 0.3}
    assert modifiers_from_options() is None
    with pytest.raises(InputError, match="did you mean 'dropout'"):
        parse_degrade("dropot=0.3")
    with pytest.raises(InputError, match="outside 0..1"):
        modifiers_from_options(degrade="dropout=1.5")
    with pytest.raises(InputError, match="did you mean 'HardRainNight'"):
        Modifiers(weather="HardRainNite")
    with pytest.raises(InputError, match="--time-of-day"):
        modifiers_from_options(time_of_day="dusk")


def test_run_command_takes_the_modifier_options(tmp_path, capsys):
    out = tmp_path / "ep"
    code = cli.run(["run", str(SCENARIO), "--out", str(out), "--no-sensors", "--quiet", "--weather", "ClearNight",
                    "--time-of-day", "sunset", "--fog", "30"])
    assert code in (0, 1)
    weather = json.loads((out / "episode.json").read_text())["plan"]["weather"]
    assert weather["preset"] == "ClearNight" and weather["params"]["sun_altitude_angle"] == 15.0
    assert weather["params"]["fog_density"] == 30.0
    assert cli.run(["run", str(SCENARIO), "--out", str(out), "--degrade", "nois=3"]) == 2


def test_sweep_passes_the_modifiers_to_every_episode(tmp_path):
    from edgecase.sweep.runner import run_sweep

    summary = run_sweep([SCENARIO], tmp_path / "sw", episodes=2, workers=1, quiet=True,
                        modifiers=Modifiers(time_of_day="night"))
    assert summary.exit_code in (0, 1)
    files = sorted((tmp_path / "sw").rglob("episode.json"))
    assert len(files) == 2
    for file in files:
        assert json.loads(file.read_text())["plan"]["weather"]["params"]["sun_altitude_angle"] == -90.0
