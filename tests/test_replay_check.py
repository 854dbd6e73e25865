"""`replay --check` (re-simulate the plan, compare traces) and `replay --carla` (CARLA's replayer).

The check must say "identical" for a recorded episode, and for a trace.npz changed in one place
(still a valid npz) name exactly that tick, actor and field with both values; the earliest
difference wins. Maps given as paths relative to the scenario are found through the scenario file.

The CARLA replay runs against tests/fake_carla. Until the fake's Client has CARLA's replayer
calls (replay_file, show_recorder_file_info, stop_replayer), the test that needs them skips and a
subclass adds them here, recording the calls, so the sequence is still checked on the fake's world.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import edgecase
import tests.fake_carla as fake_carla
from edgecase.api import CARLA_RECORDING
from edgecase.errors import BackendError, InputError
from edgecase.replay.carla_replay import hero_id, replay_on_carla
from edgecase.replay.check import check_episode, find_scenario
from edgecase.roads import RoadNetwork
from tests.fake_carla import FakeServer
from tests.helpers import SCENARIOS

CHILD = SCENARIOS / "occluded_child_dartout.yaml"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    out = tmp_path_factory.mktemp("check") / "child-4"
    edgecase.run(CHILD, 4, out=out, sensors=False)
    return out


def _perturbed(recorded: Path, tmp_path: Path, changes: list[tuple[str, int, str, float]]) -> Path:
    """A copy of the episode whose trace.npz has `field[tick, actor] += delta` for each change (a bool flips)."""
    copy = tmp_path / "perturbed"
    shutil.copytree(recorded, copy)
    names = json.loads((copy / "episode.json").read_text())["trace"]["actors"]
    with np.load(copy / "trace.npz") as npz:
        arrays = {name: npz[name].copy() for name in npz.files}
    for field, tick, actor, delta in changes:
        array, at = arrays[field], (tick, names.index(actor))
        array[at] = (not array[at]) if array.dtype == bool else array[at] + delta
    np.savez(copy / "trace.npz", **arrays)
    return copy


def test_a_recorded_episode_re_simulates_identically(recorded):
    result = check_episode(recorded)
    assert result.identical and result.divergence is None
    assert result.ticks == 201 and result.actors == ("ego", "parked[0]", "parked[1]", "parked[2]", "child")
    assert {"t_s", "x_m", "y_m", "yaw_rad", "speed_mps", "active", "light_codes"} <= set(result.fields)
    assert result.summary().startswith("identical: 201 ticks x 5 actors")


def test_an_episode_with_sensors_re_simulates_identically(tmp_path):
    out = tmp_path / "with-rig"
    edgecase.run(SCENARIOS / "aggressive_cut_in.yaml", 1, out=out, sensors="front_camera", frame_every=20)
    assert check_episode(out).identical


@pytest.mark.parametrize(("field", "tick", "actor", "delta"), [
    ("x_m", 57, "child", 0.25),
    ("speed_mps", 120, "ego", -1e-9),
    ("active", 3, "parked[1]", None),  # flipped
    ("yaw_rad", 200, "parked[2]", 0.01),
])
def test_a_perturbed_trace_is_reported_at_that_tick_actor_and_field(recorded, tmp_path, field, tick, actor, delta):
    names = json.loads((recorded / "episode.json").read_text())["trace"]["actors"]
    copy = _perturbed(recorded, tmp_path, [(field, tick, actor, delta)])
    stored = np.load(copy / "trace.npz")[field][tick, names.index(actor)].item()
    result = check_episode(copy)
    d = result.divergence
    assert not result.identical
    assert (d.tick, d.actor, d.field) == (tick, actor, field)
    assert d.recorded == stored and d.resimulated == np.load(recorded / "trace.npz")[field][tick, names.index(actor)].item()
    assert d.recorded != d.resimulated
    assert d.t_s == pytest.approx(tick * 0.05)
    assert f"tick {tick}" in result.summary() and repr(actor) in result.summary() and repr(field) in result.summary()


def test_the_earliest_difference_wins_then_plan_order_then_field_order(recorded, tmp_path):
    copy = _perturbed(recorded, tmp_path, [("y_m", 90, "ego", 0.1), ("speed_mps", 80, "child", 0.1),
                                           ("x_m", 80, "child", 0.1), ("accel_mps2", 80, "parked[0]", 0.1)])
    d = check_episode(copy).divergence
    assert (d.tick, d.actor, d.field) == (80, "parked[0]", "accel_mps2")
    copy2 = _perturbed(recorded, tmp_path / "2", [("speed_mps", 80, "child", 0.1), ("x_m", 80, "child", 0.1)])
    assert check_episode(copy2).divergence.field == "x_m"  # x_m comes before speed_mps in the trace's fields


def test_a_changed_event_is_a_divergence(recorded, tmp_path):
    copy = tmp_path / "events"
    shutil.copytree(recorded, copy)
    meta = json.loads((copy / "episode.json").read_text())
    trigger = next(e for e in meta["events"] if e["kind"] == "trigger")
    trigger["detail"] = "something else"
    (copy / "episode.json").write_text(json.dumps(meta))
    d = check_episode(copy).divergence
    assert (d.tick, d.actor, d.field) == (trigger["tick"], "child", "events")
    assert "something else" in d.recorded and "cross" in d.resimulated


def test_a_map_relative_to_the_scenario_is_found_through_the_scenario(tmp_path, monkeypatch):
    (tmp_path / "scenarios" / "maps").mkdir(parents=True)
    (tmp_path / "scenarios" / "maps" / "street.xodr").write_text(RoadNetwork.load("builtin:urban_straight").xodr_text)
    text = CHILD.read_text().replace("map: builtin:urban_straight", "map: maps/street.xodr")
    text = text.replace("name: occluded_child_dartout", "name: local_child")
    (tmp_path / "scenarios" / "local_child.yaml").write_text(text)
    episode = tmp_path / "out" / "run" / "local-1"
    edgecase.run(tmp_path / "scenarios" / "local_child.yaml", 1, out=episode, sensors=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert find_scenario(edgecase.record.read_episode(episode).plan, episode) is not None  # two levels up, scenarios/
    assert check_episode(episode).identical
    moved = tmp_path / "kept"
    shutil.move(tmp_path / "scenarios", moved)
    with pytest.raises(InputError, match="maps/street.xodr") as caught:
        check_episode(episode)
    assert "--scenario" in (caught.value.hint or "")
    assert check_episode(episode, scenario=moved / "local_child.yaml").identical
    assert check_episode(episode, scenario=moved).identical  # a folder holding it


# --- replay on CARLA (tests/fake_carla) ------------------------------------------------------------

INFO = """Version: 1
Map: OpenDriveMap
Date: 01/01/26 00:00:00

Frame 1 at 0 seconds
 Create 100: spectator (0) at (0, 0, 0)
 Create 101: vehicle.lincoln.mkz_2020 (1) at (2000, 175, 20)
  number_of_wheels = 4
  role_name = hero
 Create 102: walker.pedestrian.0049 (2) at (6000, 700, 100)
  role_name = child
"""


class ReplayingClient(fake_carla.Client):
    """The fake client plus CARLA's replayer calls (what the fake should grow), recording each call."""

    calls: list[tuple] = []

    def show_recorder_file_info(self, name, show_all):
        self._reach()
        self.calls.append(("info", name, show_all))
        return INFO

    def replay_file(self, name, time_start, duration, follow_id, replay_sensors=False):
        server = self._reach()
        self.calls.append(("replay", name, time_start, duration, follow_id, server.frame))
        return f"Replaying file: {name}"

    def stop_replayer(self, keep_actors):
        self.calls.append(("stop", keep_actors, self._reach().frame))


class ReplayingCarla:
    """The fake carla module with ReplayingClient as its Client."""

    def __getattr__(self, name):
        return ReplayingClient if name == "Client" else getattr(fake_carla, name)


@pytest.fixture
def carla_episode(recorded, tmp_path):
    copy = tmp_path / "carla-episode"
    shutil.copytree(recorded, copy)
    (copy / CARLA_RECORDING).write_bytes(b"CARLA recorder file (opaque to edgecase)")
    return copy


@pytest.fixture
def fake_server():
    server = FakeServer("localhost", 2917)
    try:
        yield server
    finally:
        server.shutdown()


def _synchronous(server: FakeServer, step_s: float = 0.05) -> None:
    server.settings.synchronous_mode, server.settings.fixed_delta_seconds = True, step_s


def test_replay_on_the_fake_carla_module(carla_episode, fake_server):
    if not hasattr(fake_carla.Client, "replay_file"):
        pytest.skip("tests/fake_carla's Client has no replay_file/show_recorder_file_info/stop_replayer yet")
    _synchronous(fake_server)
    done = replay_on_carla(carla_episode, "localhost", 2917, 2.0, carla_module=fake_carla)
    assert done.recording == (carla_episode / CARLA_RECORDING).absolute() and done.synchronous
    assert done.duration_s == pytest.approx(10.0) and done.ticks == 201


def test_replay_ticks_a_synchronous_world_through_the_recording(carla_episode, fake_server):
    ReplayingClient.calls = []
    _synchronous(fake_server)
    first = fake_server.frame
    done = replay_on_carla(carla_episode, "localhost:2917", timeout=2.0, carla_module=ReplayingCarla())
    recording = str((carla_episode / CARLA_RECORDING).absolute())
    assert ReplayingClient.calls == [("info", recording, False), ("replay", recording, 0.0, 10.0, 101, first),
                                     ("stop", False, first + 201)]
    assert (done.follow_id, done.ticks, done.synchronous, done.duration_s) == (101, 201, True, 10.0)
    part = replay_on_carla(carla_episode, "localhost:2917", timeout=2.0, start_s=4.0, duration_s=2.0, follow_id=0,
                           carla_module=ReplayingCarla())
    assert ReplayingClient.calls[-2][1:5] == (recording, 4.0, 2.0, 0) and part.ticks == 41


def test_an_asynchronous_world_that_does_not_advance_fails_instead_of_hanging(carla_episode, fake_server):
    with pytest.raises(BackendError, match="did not advance"):
        replay_on_carla(carla_episode, "localhost:2917", timeout=0.2, carla_module=ReplayingCarla())


def test_replay_needs_a_recording_and_a_server(recorded, carla_episode):
    with pytest.raises(InputError, match="no CARLA recording"):
        replay_on_carla(recorded, "localhost:2917", carla_module=ReplayingCarla())
    with pytest.raises(BackendError, match="localhost:2918"):  # nobody there: carla's time-out, as exit 3
        replay_on_carla(carla_episode, "localhost:2918", timeout=0.1, carla_module=ReplayingCarla())


def test_hero_id_reads_carlas_recorder_info():
    assert hero_id(INFO) == 101
    assert hero_id(INFO.replace("role_name = hero", "role_name = autopilot")) == 0
    assert hero_id("") == 0
