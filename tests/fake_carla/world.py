"""carla.Client, World, Map, TrafficManager and the world snapshots, on the fake server.

A Client finds its server by (host, port) among the FakeServers alive in this process; with none
there, or with `Faults.unreachable`, every call raises carla's own time-out RuntimeError.
"""

from __future__ import annotations

from pathlib import Path

from tests.fake_carla import server as fake
from tests.fake_carla.actors import ActorList, BlueprintLibrary, handle, timed_class
from tests.fake_carla.data import Timestamp
from tests.fake_carla.geom import Location, Rotation, Transform, Vector3D
from tests.fake_carla.values import AttachmentType, MapLayer, OpendriveGenerationParameters, WorldSettings

CLIENT_VERSION = "0.9.16"


def _copy_settings(settings: WorldSettings) -> WorldSettings:
    out = WorldSettings()
    for name, value in settings._values().items():
        setattr(out, name, value)
    return out


class _Remote:
    """What Client and World share: the server they talk to, reached with the client's timeout."""

    def _reach(self):
        server = fake.SERVERS.get((self._host, self._port))
        if server is None:
            raise fake.timeout_error(self._timeout[0], f"{self._host}:{self._port}")
        server.check_reachable(self._timeout[0])
        return server


@timed_class
class Client(_Remote):
    def __init__(self, host="127.0.0.1", port=2000, worker_threads=0):
        self._host, self._port = host, port
        self._timeout = [5.0]  # shared with the worlds this client hands out

    def set_timeout(self, seconds):
        self._timeout[0] = float(seconds)

    def get_client_version(self):
        return CLIENT_VERSION

    def get_server_version(self):
        return self._reach().faults.server_version

    def get_world(self):
        return World(self._reach(), self)

    def get_available_maps(self):
        return [f"/Game/Carla/Maps/{name}" for name in sorted(self._reach().towns)]

    def load_world(self, map_name, reset_settings=True, map_layers=MapLayer.All):
        server = self._reach()
        name = map_name.rsplit("/", 1)[-1]
        if name not in server.towns:
            raise RuntimeError(f"map '{map_name}' not found")
        server.load_xodr(server.towns[name], f"Carla/Maps/{name}")
        return World(server, self)

    def generate_opendrive_world(self, opendrive, parameters=OpendriveGenerationParameters(), reset_settings=True):
        server = self._reach()
        server.load_xodr(opendrive)
        return World(server, self)

    def get_trafficmanager(self, port=8000):
        return TrafficManager(self._reach(), port)

    def apply_batch(self, commands, do_tick=False):
        self.apply_batch_sync(commands, do_tick)

    def apply_batch_sync(self, commands, do_tick=False):
        server = self._reach()
        responses = [command._apply(server) for command in commands]
        if do_tick:
            server.tick(self._timeout[0])
        return responses

    def start_recorder(self, name, additional_data=False):
        server = self._reach()
        server.recording = Path(name)
        server.recorded.append(name)
        server.recording.write_text(f"fake CARLA recording (additional_data={additional_data})\n")
        return f"Recording on file: {name}"

    def stop_recorder(self):
        self._reach().recording = None

    def show_recorder_file_info(self, name, show_all):
        """CARLA's text: 'Create ID: TYPE ...' lines, each actor's attributes below it (the fake lists
        the actors alive now; a hero, if any, carries role_name = hero)."""
        server = self._reach()
        lines = ["Version: 1", "Map: fake", "", "Frame 1 at 0 seconds"]
        for body in server.alive():
            lines.append(f" Create {body.id}: {body.type_id} (0) at (0, 0, 0)")
            role = body.attributes.get("role_name") if hasattr(body, "attributes") else None
            if role:
                lines.append(f"  role_name = {role}")
        return "\n".join(lines) + "\n"

    def replay_file(self, name, time_start, duration, follow_id, replay_sensors=False):
        server = self._reach()
        server.replays.append((str(name), float(time_start), float(duration), int(follow_id), server.frame))
        return f"Replaying file: {name}"

    def stop_replayer(self, keep_actors):
        server = self._reach()
        server.replays.append(("stop", bool(keep_actors), server.frame))


@timed_class
class World(_Remote):
    id: int

    def __init__(self, _server, _client):
        self._server, self._client = _server, _client
        self._host, self._port, self._timeout = _client._host, _client._port, _client._timeout
        self.id = 1

    def get_settings(self):
        return _copy_settings(self._reach().settings)

    def apply_settings(self, settings, seconds=0.0):
        server = self._reach()
        server.settings = _copy_settings(settings)
        return server.frame

    def get_map(self):
        server = self._reach()
        return Map(server.map_name, server.xodr)

    def get_blueprint_library(self):
        return BlueprintLibrary(self._reach())

    def get_spectator(self):
        return handle(self._server, self._reach().spectator)

    def set_weather(self, arg2, /):
        self._reach().weather = arg2

    def get_weather(self):
        return self._reach().weather

    def spawn_actor(self, blueprint, transform, attach_to=None, attachment_type=AttachmentType.Rigid, bone=""):
        server = self._reach()
        parent = None if attach_to is None else attach_to._body
        return handle(server, server.spawn(blueprint, transform, parent))

    def try_spawn_actor(self, blueprint, transform, attach_to=None, attachment_type=AttachmentType.Rigid, bone=""):
        try:
            return self.spawn_actor(blueprint, transform, attach_to, attachment_type, bone)
        except RuntimeError:
            return None

    def get_actors(self, actor_ids=None):
        server = self._reach()
        bodies = server.alive() if actor_ids is None else [server.bodies[i] for i in actor_ids if i in server.bodies]
        return ActorList(handle(server, b) for b in bodies if b.alive)

    def tick(self, seconds=0.0):
        server = self._reach()
        return server.tick(seconds or self._timeout[0])

    def wait_for_tick(self, seconds=10.0):
        server = self._reach()
        return WorldSnapshot(server, server.frame)

    def get_snapshot(self):
        server = self._reach()
        return WorldSnapshot(server, server.frame)


class Map:
    name: str

    def __init__(self, name, xodr_content):
        self.name, self._xodr = name, xodr_content

    def to_opendrive(self):
        return self._xodr


@timed_class
class TrafficManager:
    def __init__(self, _server, _port):
        self._server, self._port = _server, _port

    def set_synchronous_mode(self, mode_switch):
        self._server.check_reachable(1.0)
        self._server.tm_sync = bool(mode_switch)

    def set_random_device_seed(self, value):
        self._server.tm_seed = int(value)

    def get_port(self):
        return self._port


@timed_class
class ActorSnapshot:
    id: int

    def __init__(self, _server, _body):
        self._server, self._body = _server, _body
        b = _body
        self.id = b.id
        self._state = (b.x, b.y, b.z, b.pitch, b.yaw, b.roll, b.vx, b.vy, b.ax, b.ay)

    def get_transform(self):
        x, y, z, pitch, yaw, roll = self._state[:6]
        return Transform(Location(x, y, z), Rotation(pitch, yaw, roll))

    def get_velocity(self):
        return Vector3D(self._state[6], self._state[7], 0.0)

    def get_acceleration(self):
        return Vector3D(self._state[8], self._state[9], 0.0)

    def get_angular_velocity(self):
        return Vector3D(0.0, 0.0, 0.0)


@timed_class
class WorldSnapshot:
    id: int
    frame: int
    timestamp: Timestamp

    def __init__(self, _server, _frame):
        self._server = _server
        self.id, self.frame = 1, _frame
        dt = _server.settings.fixed_delta_seconds or 0.05
        self.timestamp = Timestamp(_frame, (_frame - 1000) * dt, dt)
        self._actors = {b.id: ActorSnapshot(_server, b) for b in _server.alive()}

    def find(self, actor_id):
        return self._actors.get(actor_id)

    def has_actor(self, actor_id):
        return actor_id in self._actors

    def __iter__(self):
        return iter(self._actors.values())

    def __len__(self):
        return len(self._actors)
