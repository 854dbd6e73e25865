"""carla's actors and blueprints as handles onto the fake server's bodies.

Like carla's, these objects are only made by the server (their constructors take internal,
underscore-named arguments), several handles may point at one actor, and a destroyed actor's
handle reports `is_alive` False. Every public method is timed as the fake's own work.
"""

from __future__ import annotations

import fnmatch

from edgecase.plan.blueprints import ActorClass, catalog
from tests.fake_carla.geom import BoundingBox, Location, Rotation, Transform, Vector3D
from tests.fake_carla.values import (TrafficLightState, VehicleControl, VehicleLightState, VehiclePhysicsControl,
                                     WalkerControl, WheelPhysicsControl)


def timed(fn):
    """Count the call's time as the fake server's (see FakeServer.timed); a Client with no server
    behind it has nothing to count."""
    def wrapper(self, *args, **kwargs):
        from tests.fake_carla.server import SERVERS

        server = getattr(self, "_server", None) or SERVERS.get((getattr(self, "_host", None), getattr(self, "_port", None)))
        if server is None:
            return fn(self, *args, **kwargs)
        return server.timed(lambda: fn(self, *args, **kwargs))

    wrapper.__name__, wrapper.__qualname__, wrapper.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    wrapper.__wrapped__ = fn  # inspect.signature follows it: the conformance test sees fn's parameters
    return wrapper


def timed_class(cls):
    """Wrap every public function defined in the class body with `timed`."""
    for name, value in list(vars(cls).items()):
        if callable(value) and not name.startswith("_") and not isinstance(value, (type, staticmethod, classmethod)):
            setattr(cls, name, timed(value))
    return cls


def handle(server, body):
    """The right handle class for a body."""
    kinds = {"vehicle": Vehicle, "walker": Walker, "sensor": Sensor, "traffic_light": TrafficLight}
    return kinds.get(body.kind, Actor)(server, body)


@timed_class
class Actor:
    id: int
    type_id: str
    attributes: dict
    parent: object
    bounding_box: BoundingBox
    is_alive: bool

    def __init__(self, _server, _body):
        self._server, self._body = _server, _body

    @property
    def id(self):
        return self._body.id

    @property
    def type_id(self):
        return self._body.type_id

    @property
    def attributes(self):
        return dict(self._body.attributes)

    @property
    def parent(self):
        b = self._body
        return None if b.parent is None else handle(self._server, self._server.bodies[b.parent])

    @property
    def is_alive(self):
        return self._body.alive

    @property
    def bounding_box(self):
        ex, ey, ez = self._body.extent
        return BoundingBox(Location(0.0, 0.0, self._body.box_z), Vector3D(ex, ey, ez))

    def get_transform(self):
        b = self._body
        return Transform(Location(b.x, b.y, b.z), Rotation(b.pitch, b.yaw, b.roll))

    def get_location(self):
        b = self._body
        return Location(b.x, b.y, b.z)

    def get_velocity(self):
        return Vector3D(self._body.vx, self._body.vy, 0.0)

    def get_acceleration(self):
        return Vector3D(self._body.ax, self._body.ay, 0.0)

    def set_target_velocity(self, velocity):
        self._live()
        self._body.target_velocity = (velocity.x, velocity.y)

    def destroy(self):
        self._server.check_reachable(1.0)
        return self._server.destroy(self._body.id)

    def _live(self):
        self._server.check_reachable(1.0)
        if not self._body.alive:
            raise RuntimeError(f"trying to operate on a destroyed actor; an actor's function was called, but the "
                               f"actor is already destroyed ({self._body.id})")

    def __eq__(self, other):
        return isinstance(other, Actor) and other._body is self._body

    def __hash__(self):
        return hash(self._body.id)

    def __repr__(self):
        return f"Actor(id={self._body.id}, type={self._body.type_id})"


@timed_class
class Vehicle(Actor):
    def apply_control(self, control):
        self._live()
        self._body.control = control

    def get_control(self):
        return self._body.control or VehicleControl()

    def get_physics_control(self):
        return VehiclePhysicsControl([WheelPhysicsControl(max_steer_angle=self._body.max_steer_deg)] * 2
                                     + [WheelPhysicsControl(max_steer_angle=0.0)] * 2)

    def set_light_state(self, light_state):
        self._live()
        self._body.light_state = int(light_state)

    def get_light_state(self):
        return VehicleLightState(self._body.light_state)

    def open_door(self, door_idx):
        self._live()
        self._body.doors.add(int(door_idx))

    def close_door(self, door_idx):
        self._live()
        self._body.doors.discard(int(door_idx))


@timed_class
class Walker(Actor):
    def apply_control(self, control):
        self._live()
        self._body.control = control

    def get_control(self):
        return self._body.control or WalkerControl()


@timed_class
class Sensor(Actor):
    def listen(self, callback):
        self._live()
        self._body.callback = callback

    def stop(self):
        self._server.check_reachable(1.0)
        self._body.callback = None

    def is_listening(self):
        return self._body.callback is not None


@timed_class
class TrafficLight(Actor):
    def get_opendrive_id(self):
        return self._body.opendrive_id

    def set_state(self, state):
        self._live()
        self._body.light_color = int(state)

    def get_state(self):
        return TrafficLightState(self._body.light_color)

    def freeze(self, freeze):
        self._live()
        self._body.frozen = bool(freeze)

    def is_frozen(self):
        return self._body.frozen


class ActorAttribute:
    id: str

    def __init__(self, _id, _value):
        self.id, self._value = _id, _value

    def as_str(self):
        return self._value

    def as_int(self):
        return int(self._value)

    def as_float(self):
        return float(self._value)


class ActorBlueprint:
    id: str
    tags: list

    def __init__(self, _id, _attributes):
        self.id = _id
        self.tags = _id.split(".")
        self._attributes = dict(_attributes)

    def has_attribute(self, arg2, /):
        return arg2 in self._attributes

    def set_attribute(self, arg2, arg3, /):
        if arg2 not in self._attributes:
            raise IndexError(f"no such attribute '{arg2}'")
        self._attributes[arg2] = str(arg3)

    def get_attribute(self, arg2, /):
        if arg2 not in self._attributes:
            raise IndexError(f"no such attribute '{arg2}'")
        return ActorAttribute(arg2, self._attributes[arg2])


CAMERA_ATTRIBUTES = {"image_size_x": "800", "image_size_y": "600", "fov": "90.0", "sensor_tick": "0.0"}
SENSOR_ATTRIBUTES = {
    **{bp: CAMERA_ATTRIBUTES for bp in ("sensor.camera.rgb", "sensor.camera.depth",
                                        "sensor.camera.instance_segmentation", "sensor.camera.semantic_segmentation")},
    "sensor.lidar.ray_cast_semantic": {"channels": "32", "range": "10.0", "points_per_second": "56000",
                                       "rotation_frequency": "10.0", "upper_fov": "10.0", "lower_fov": "-30.0",
                                       "horizontal_fov": "360.0", "sensor_tick": "0.0"},
    "sensor.other.collision": {},
    "sensor.other.lane_invasion": {},
    # CARLA's friction trigger: extents are half sizes in centimetres
    "static.trigger.friction": {"friction": "3.5", "extent_x": "100.0", "extent_y": "100.0", "extent_z": "100.0"},
}


def _attributes_of(blueprint):
    if blueprint.actor_class == ActorClass.PEDESTRIAN:
        return {"is_invincible": "true", "speed": "1.4", "age": "child" if blueprint.is_child else "adult"}
    if blueprint.actor_class == ActorClass.PROP:
        return {"size": "small"}
    return {"color": "0,0,0", "number_of_wheels": "4", "generation": str(blueprint.generation)}


class BlueprintLibrary:
    def __init__(self, _server):
        self._server = _server
        self._blueprints = {bp.id: {"role_name": "", **_attributes_of(bp)} for bp in catalog()}
        self._blueprints.update({bp: {"role_name": "", **attrs} for bp, attrs in SENSOR_ATTRIBUTES.items()})

    def find(self, id):  # noqa: A002
        if id not in self._blueprints:
            raise IndexError(f"blueprint '{id}' not found")
        return ActorBlueprint(id, self._blueprints[id])

    def filter(self, wildcard_pattern):
        return [ActorBlueprint(i, a) for i, a in self._blueprints.items() if fnmatch.fnmatchcase(i, wildcard_pattern)]

    def __iter__(self):
        return iter([ActorBlueprint(i, a) for i, a in self._blueprints.items()])

    def __len__(self):
        return len(self._blueprints)


class ActorList:
    def __init__(self, _actors):
        self._actors = list(_actors)

    def filter(self, wildcard_pattern):
        return ActorList(a for a in self._actors if fnmatch.fnmatchcase(a.type_id, wildcard_pattern))

    def find(self, id):  # noqa: A002 (carla's name)
        return next((a for a in self._actors if a.id == id), None)

    def __iter__(self):
        return iter(self._actors)

    def __len__(self):
        return len(self._actors)

    def __getitem__(self, index):
        return self._actors[index]
