"""The CARLA bridge on the fake server (tests/fake_carla): no CARLA needed.

End to end through `edgecase.run(..., backend="carla")` and `edgecase run --backend carla`; clean-up
on every way an episode can end (an exception mid-episode, Ctrl-C, a missing sensor frame, a tick
time-out, a refused spawn, a lost server); the controls mapping; ids, lights, doors, cargo,
collision events; addresses and `edgecase doctor`.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import edgecase
import tests.fake_carla as fake_carla
from edgecase import cli
from edgecase.backends.carla import CarlaBackend, resolve_address
from edgecase.backends.carla.actors import A_MAX_BRAKE_MPS2, A_MAX_THROTTLE_MPS2, vehicle_commands
from edgecase.backends.carla.connection import HOST_ENV, version_mismatch
from edgecase.backends.carla.sensors import FrameQueue
from edgecase.errors import BackendError, InputError
from edgecase.record import read_episode
from edgecase.roads import RoadNetwork
from edgecase.sensors import load_rig
from edgecase.sim.loop import run_episode
from edgecase.sim.state import Controls
from tests.fake_carla import FakeServer
from tests.helpers import SCENARIOS

DARTOUT = SCENARIOS / "occluded_child_dartout.yaml"
FAST = {"host": "localhost:2000", "timeout_s": 0.3}  # short waits: a fault must fail fast, never hang


def clean(server: FakeServer) -> bool:
    """Nothing of ours left on the server and its settings as they were."""
    return server.live_actors() == 0 and server.settings == server.original_settings and not server.tm_sync


def dartout(seed: int = 7):
    plan = edgecase.compile(DARTOUT, seed)
    return plan, RoadNetwork.load(plan.map.source)


def neutral(n: int, **fields) -> Controls:
    base = dict(accel_mps2=np.zeros(n), steer_rad=np.zeros(n), heading_rad=np.full(n, np.nan),
                width_m=np.full(n, np.nan), active=np.ones(n, bool))
    return Controls(**{**base, **fields})


# --- end to end -------------------------------------------------------------------------------

def test_a_starter_scenario_runs_end_to_end_and_writes_the_embedded_format(server, tmp_path):
    out = tmp_path / "carla"
    result = edgecase.run(DARTOUT, seed=7, out=out, backend="carla", frame_every=20, backend_options=FAST)
    assert result.passed and clean(server)
    embedded = tmp_path / "embedded"
    edgecase.run(DARTOUT, seed=7, out=embedded, frame_every=20)
    files = {p.relative_to(out) for p in out.rglob("*") if p.is_file()}
    assert files - {p.relative_to(embedded) for p in embedded.rglob("*") if p.is_file()} == {Path("carla_recording.log")}
    episode = read_episode(out)
    assert episode.meta["backend"] == "carla" and episode.arrays["x_m"].shape == (201, 5)
    assert server.recorded == [str((tmp_path / f".carla.tmp-{os.getpid()}" / "carla_recording.log"))]
    assert (out / "carla_recording.log").read_text().startswith("fake CARLA recording")
    plan = episode.plan
    labels = [json.loads(p.read_text()) for p in sorted((out / "labels").glob("*.json"))]
    assert len(labels) == 11
    tracks = {o["track_id"]: o["name"] for frame in labels for o in frame["objects"]}
    assert tracks == {a.id: a.name for a in plan.actors if a.role != "ego"}  # our ids, never CARLA's (100+)
    seen = [o for frame in labels for o in frame["objects"] if o["cameras"].get("front", {}).get("visible_px", 0) > 0]
    assert {o["name"] for o in seen} >= {"parked[0]", "parked[1]", "parked[2]", "child"}
    assert any(o["lidar_points"].get("lidar_top", 0) > 0 for o in seen)
    bgr = cv2.imread(str(out / "sensors/front/000100_instance.png"), cv2.IMREAD_UNCHANGED)  # CARLA's layout
    instance = np.unique(bgr[..., 1].astype(int) + 256 * bgr[..., 0].astype(int))
    assert set(instance.tolist()) <= {0} | {a.id for a in plan.actors} and len(instance) > 2


def test_the_cli_runs_on_the_carla_backend(server, tmp_path, capsys):
    code = cli.run(["run", str(DARTOUT), "--seed", "7", "--backend", "carla", "--carla-host", "localhost:2000",
                    "--no-sensors", "--out", str(tmp_path / "ep"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert read_episode(tmp_path / "ep").meta["backend"] == "carla" and clean(server)


def test_the_bridge_follows_the_embedded_backend_closely(server):
    plan, network = dartout()
    carla_run = run_episode(plan, CarlaBackend("localhost:2000", network=network), network)
    embedded = edgecase.run(DARTOUT, seed=7)
    for field in ("x_m", "y_m", "speed_mps"):
        gap = np.abs(getattr(carla_run.trace, field) - getattr(embedded.trace, field)).max()
        assert gap < 0.1, field  # same controllers; the fake's physics is not the embedded kinematics
    assert [o.passed for o in carla_run.oracles] == [o.passed for o in embedded.oracles]


# --- clean-up on every ending -----------------------------------------------------------------

def test_an_exception_mid_episode_leaves_no_actor_and_restores_the_settings(server):
    server.faults.raise_at_tick = (20, RuntimeError("rpc::rpc_error during call in function tick"))
    plan, network = dartout()
    with pytest.raises(BackendError, match="tick the world.*rpc_error"):
        run_episode(plan, CarlaBackend(**FAST, network=network), network)
    assert server.ticks == 20 and clean(server)


def test_ctrl_c_mid_episode_leaves_no_actor(server):
    plan, network = dartout()
    backend = CarlaBackend(**FAST, network=network, rig=load_rig("front_camera_lidar"))

    def interrupt(tick: int, total: int) -> None:
        assert server.live_actors() == 5 + 4 + 1 + 2  # actors, four cameras, a LiDAR, collision and lane sensors
        settings = server.settings
        assert settings.synchronous_mode and settings.fixed_delta_seconds == plan.step_s
        assert not settings.no_rendering_mode and server.tm_sync and server.tm_seed == plan.seed  # a camera: rendering
        assert server.weather.cloudiness == plan.weather.params["cloudiness"]
        if tick == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_episode(plan, backend, network, progress=interrupt)
    assert clean(server)
    backend.close()  # a second close is harmless
    assert clean(server) and backend.cleanup_problems == []


def test_a_missing_sensor_frame_is_a_retryable_error_naming_the_sensor(server, tmp_path, capsys):
    server.faults.drop_frame = ("sensor.camera.depth", 3)  # the tick that makes frame 2 (reset's tick is the 1st)
    started = time.monotonic()
    code = cli.run(["run", str(DARTOUT), "--seed", "7", "--backend", "carla", "--carla-host", "localhost:2000",
                    "--carla-timeout", "0.3", "--frame-every", "2", "--out", str(tmp_path / "ep"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 3 and "sensor 'front' depth (sensor.camera.depth): no measurement for frame" in err
    assert time.monotonic() - started < 20 and clean(server) and not (tmp_path / "ep").exists()


def test_a_tick_time_out_is_exit_3_not_a_hang(server, tmp_path, capsys):
    server.faults.hang_tick = 4
    started = time.monotonic()
    code = cli.run(["run", str(DARTOUT), "--backend", "carla", "--carla-host", "localhost", "--carla-timeout", "0.2",
                    "--no-sensors", "--out", str(tmp_path / "ep"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 3 and "did not answer within 0.2 s while trying to tick the world" in err and "time-out of 200ms" in err
    assert time.monotonic() - started < 10 and clean(server)


def test_a_refused_spawn_names_the_actor_and_its_pose_and_leaves_nothing(server, tmp_path, capsys):
    server.faults.refuse_spawn = "child"
    code = cli.run(["run", str(DARTOUT), "--seed", "7", "--backend", "carla", "--carla-host", "localhost:2000",
                    "--out", str(tmp_path / "ep"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 3
    assert "could not spawn actor 'child' (walker.pedestrian.0049) at x=71.48 y=4.75 z=0.75 yaw=-90.0" in err
    assert "collision at spawn position" in err and clean(server)


def test_an_overlapping_spawn_is_refused_as_carla_refuses_it(server):
    plan, network = dartout()
    backend = CarlaBackend(**FAST, network=network)
    backend.reset(plan)
    second = CarlaBackend(**FAST, network=network)  # the same actors again, on top of the first episode's
    with pytest.raises(BackendError, match="could not spawn actor 'ego'"):
        second.reset(plan)
    second.close()
    backend.close()
    assert clean(server)


def test_a_lost_server_is_exit_3_and_the_clean_up_gives_up_quickly(server):
    plan, network = dartout()
    backend = CarlaBackend(**FAST, network=network)
    backend.reset(plan)
    server.faults.unreachable = True
    started = time.monotonic()
    with pytest.raises(BackendError, match="did not answer within 0.3 s"):
        backend.tick()
    with pytest.warns(RuntimeWarning, match="clean-up .* was incomplete"):
        backend.close()
    assert time.monotonic() - started < 2 and backend.cleanup_problems  # gave up after the first time-out
    server.faults.unreachable = False


def test_no_server_is_exit_3_and_no_address_is_exit_2(server, tmp_path, capsys):
    args = ["run", str(DARTOUT), "--backend", "carla", "--no-sensors", "--out", str(tmp_path / "ep"), "--quiet"]
    assert cli.run(args + ["--carla-host", "localhost:2999", "--carla-timeout", "0.2"]) == 3
    assert "did not answer within 0.2 s while trying to connect" in capsys.readouterr().err
    assert cli.run(args) == 2
    assert "no CARLA server given" in capsys.readouterr().err
    assert cli.run(["run", str(DARTOUT), "--carla-host", "x", "--out", str(tmp_path / "e2")]) == 2


def test_a_server_of_another_release_is_refused_clearly(server):
    server.faults.server_version = "0.9.15"
    plan, network = dartout()
    with pytest.raises(BackendError, match=r"client 0.9.16 and server 0.9.15 differ.*install carla==0.9.15"):
        CarlaBackend(**FAST, network=network).reset(plan)
    assert version_mismatch("0.9.16", "0.9.16-12-gdeadbeef") is None


# --- what the bridge sends and reads ----------------------------------------------------------

def test_accelerations_map_to_throttle_and_brake_and_steer_to_the_wheel_lock():
    throttle, brake, steer = vehicle_commands(np.array([2.0, -4.0, 9.0, np.nan]), np.array([0.1, -2.0, 0.0, np.nan]),
                                              np.full(4, math.radians(70)))
    assert throttle.tolist() == [2.0 / A_MAX_THROTTLE_MPS2, 0.0, 1.0, 0.0]
    assert brake.tolist() == [0.0, 4.0 / A_MAX_BRAKE_MPS2, 0.0, 0.0]
    assert steer.tolist() == pytest.approx([0.1 / math.radians(70), -1.0, 0.0, 0.0])


def test_controls_drive_the_fake_as_asked_and_states_come_back_in_plan_order(server):
    plan, network = dartout()
    backend = CarlaBackend(**FAST, network=network)
    state = backend.reset(plan)
    assert server.settings.no_rendering_mode  # no camera: the server need not draw
    ids = {row.plan.name: row.actor.id for row in backend._table.rows}
    assert min(ids.values()) >= 100 and list(ids) == [a.name for a in plan.actors]  # CARLA's ids, not ours
    assert state.actors.x_m.tolist() == pytest.approx([a.pose.x_m for a in plan.actors])
    assert state.actors.speed_mps[0] == pytest.approx(plan.ego.speed_mps)
    n = len(plan.actors)
    heading = np.full(n, np.nan)
    heading[4] = math.pi / 2  # the child walks towards +y
    backend.apply(neutral(n, accel_mps2=np.array([2.0, 0, 0, 0, 1.5]), heading_rad=heading))
    first = backend.tick()
    backend.apply(neutral(n, accel_mps2=np.array([2.0, 0, 0, 0, 0.0]), heading_rad=heading))
    second = backend.tick()
    assert second.actors.speed_mps[0] - first.actors.speed_mps[0] == pytest.approx(2.0 * plan.step_s)
    assert second.actors.accel_mps2[0] == pytest.approx(2.0)
    assert second.actors.speed_mps[4] == pytest.approx(1.5 * plan.step_s)  # walkers: speed = v + a dt
    assert second.actors.yaw_rad[4] == pytest.approx(math.pi / 2)
    assert second.actors.y_m[4] - first.actors.y_m[4] == pytest.approx(1.5 * plan.step_s * plan.step_s)
    assert (second.tick, second.t_s) == (2, pytest.approx(2 * plan.step_s))
    backend.close()
    assert clean(server)


def test_doors_lights_and_traffic_lights_reach_the_server(server):
    text = ("edgecase: 1\nname: lights\nmap: builtin:junction4\nduration_s: 2\nactors:\n"
            "  ego:\n    blueprint: vehicle.tesla.model3\n    at: {lane: driving, s_m: 10}\n    speed_mps: 5\n")
    plan = edgecase.compile(edgecase.loads(text, name="lights.yaml"), 0)
    network = RoadNetwork.load(plan.map.source)
    backend = CarlaBackend(**FAST, network=network)
    result = run_episode(plan, backend, network)  # the agents' light cycle drives the server's lights
    assert result.trace.light_ids and clean(server)
    lights = {b.opendrive_id: b for b in server.bodies.values() if b.kind == "traffic_light"}
    assert set(lights) == {str(i) for i in result.trace.light_ids}
    last = {i: code for i, code in zip(result.trace.light_ids, result.trace.light_codes[-1])}
    assert all(lights[str(i)].light_color == {0: 0, 1: 1, 2: 2}[int(code)] for i, code in last.items())
    assert not any(b.frozen for b in lights.values())  # unfrozen at close
    backend.reset(plan)
    ego = server.bodies[backend._table.rows[0].actor.id]
    width = np.array([plan.ego.size.width_m + 0.9])
    backend.apply(neutral(1, width_m=width, box_offset_m=np.array([0.45]), light_state=np.array([9], np.uint32)))
    backend.tick()
    assert ego.doors == {int(fake_carla.VehicleDoor.FR)} and ego.light_state == 9
    assert backend._state.actors.width_m[0] == pytest.approx(width[0])
    backend.apply(neutral(1, width_m=np.array([plan.ego.size.width_m])))
    assert ego.doors == set() and ego.light_state == 0
    backend.close()


def test_cargo_appears_when_dropped_and_rides_on_its_carrier_until_then(server):
    text = ("edgecase: 1\nname: cargo\nmap: builtin:urban_straight\nduration_s: 4\nactors:\n"
            "  truck:\n    blueprint: vehicle.carlamotors.carlacola\n    at: {lane: driving, s_m: 80}\n"
            "    speed_mps: 10\n    behavior:\n      - follow_lane: {speed_mps: 10}\n"
            "      - drop_cargo: {count: 1}\n        when: {after_s: 2}\n"
            "  ego:\n    blueprint: vehicle.tesla.model3\n    at: {relative_to: truck, lane: same, behind_m: 30}\n"
            "    speed_mps: 10\n    behavior: {follow_lane: {speed_mps: 10}}\n")
    plan = edgecase.compile(edgecase.loads(text, name="cargo.yaml"), 0)
    network = RoadNetwork.load(plan.map.source)
    result = run_episode(plan, CarlaBackend(**FAST, network=network), network)
    trace = result.trace
    box = trace.index("truck_cargo[0]")
    active = trace.active[:, box]
    drop = int(np.argmax(active))
    assert 30 < drop < 60 and active[drop:].all()
    truck = plan.actor("truck")
    carried = trace.x_m[:drop, trace.index("truck")] - trace.x_m[:drop, box]
    assert np.allclose(carried, (truck.size.length_m - plan.actor("truck_cargo[0]").size.length_m) / 2)
    assert trace.x_m[drop, box] < trace.x_m[drop, trace.index("truck")] - truck.size.length_m / 2
    assert clean(server)


def test_collision_and_lane_invasion_events_come_back_as_trace_events(server):
    plan, network = dartout()
    backend = CarlaBackend(**FAST, network=network)
    backend.reset(plan)
    ego = server.bodies[backend._table.rows[0].actor.id]
    parked = plan.actor("parked[0]").pose
    ego.x, ego.y = parked.x_m - 3.0, parked.y_m  # shunted into the parked car's rear
    backend.tick()
    server.emit_lane_invasion(("Broken", "Solid"))
    backend.close()
    events = [(e.tick, e.kind, e.actor, e.detail) for e in backend.sensor_events]
    assert events == [(1, "carla_collision", "ego", "parked[0]"), (1, "carla_lane_invasion", "ego", "Broken,Solid")]


def test_a_carla_town_is_loaded_by_name_and_only_when_another_is_loaded(server):
    plan, network = dartout()
    town = plan.model_copy(update={"map": plan.map.model_copy(update={"source": "carla:Town99"})})
    server.towns["Town99"] = network.xodr_text
    loads = []
    load = server.load_xodr
    server.load_xodr = lambda text, name: (loads.append(name), load(text, name))
    backend = CarlaBackend(**FAST)  # no road network: the server has the town
    backend.reset(town)
    assert server.map_name == "Carla/Maps/Town99" and server.live_actors() == 5 + 2  # and the ego's event sensors
    backend.reset(town)  # the same town: not loaded again
    assert loads == ["Carla/Maps/Town99"] and server.live_actors() == 7
    backend.close()
    assert clean(server)
    with pytest.raises(BackendError, match="could not load the map 'carla:Town98'"):
        backend.reset(town.model_copy(update={"map": plan.map.model_copy(update={"source": "carla:Town98"})}))


def test_substeps_cover_the_step_within_carlas_limits():
    from edgecase.backends.carla.world import substeps

    for step_s in (0.01, 0.05, 0.1, 0.2, 0.5):
        delta, count = substeps(step_s)
        assert count <= 16 and delta * count >= step_s - 1e-12 and (delta == 0.01 or count == 16)


def test_frame_queues_wait_for_the_frame_asked_and_drop_older_ones():
    class Data:
        def __init__(self, frame):
            self.frame = frame

    q = FrameQueue("'front' rgb")
    for frame in (5, 6, 7):
        q.put(Data(frame))
    assert q.take(6, 0.1).frame == 6
    with pytest.raises(BackendError, match="no measurement for frame 6 \\(the next measurement is frame 7\\)"):
        q.take(6, 0.1)
    assert q.take(7, 0.1).frame == 7
    q.put(Data(8))
    q.put(Data(9))
    q.discard_before(9)
    assert q.take(9, 0.1).frame == 9
    with pytest.raises(BackendError, match="nothing arrived within 0.05 s"):
        q.take(10, 0.05)


# --- addresses and the doctor -----------------------------------------------------------------

def test_addresses_come_from_the_option_or_the_environment():
    assert resolve_address("carla.lan") == resolve_address(None, None, {HOST_ENV: "carla.lan:2000"})
    assert str(resolve_address("10.0.0.5:3000")) == "10.0.0.5:3000"
    assert str(resolve_address("[::1]:2002")) == "[::1]:2002"
    assert resolve_address("h", 2001).port == 2001
    for bad in ("a:b:c", "host:99999"):
        with pytest.raises(InputError):
            resolve_address(bad)
    with pytest.raises(InputError, match="says port 2000 but --carla-port says 2001"):
        resolve_address("h:2000", 2001)
    with pytest.raises(InputError, match="no CARLA server given"):
        resolve_address(None, None, {})


def test_doctor_reports_a_healthy_server_and_restores_its_settings(server, capsys):
    assert cli.run(["doctor", "--carla-host", "localhost:2000"]) == 0
    out = capsys.readouterr().out
    for line in ("client:  carla 0.9.16", "server:  localhost:2000", "version: server 0.9.16 (same as the client)",
                 "map:     Carla/Maps/Town10HD_Opt", "ms for one synchronous step of 0.05 s", "ok:"):
        assert line in out
    assert server.ticks == 2 and server.settings == server.original_settings


def test_doctor_says_exactly_what_is_wrong(server, capsys, monkeypatch):
    assert cli.run(["doctor"]) == 2
    assert "pass --carla-host HOST[:PORT] or set EDGECASE_CARLA_HOST" in capsys.readouterr().err
    server.faults.server_version = "0.9.15"
    monkeypatch.setenv(HOST_ENV, "localhost:2000")
    assert cli.run(["doctor"]) == 3
    assert "MISMATCH" in capsys.readouterr().err
    assert cli.run(["doctor", "--carla-host", "127.0.0.1:1", "--carla-timeout", "0.2"]) == 3
    assert "problem: connection refused: nothing listens on 127.0.0.1:1" in capsys.readouterr().err
