"""A fake `carla` module for tests and benchmarks: the names the bridge uses, with carla 0.9.16's
signatures, over an in-process FakeServer (server.py) with simple physics and real pictures.

Pass this package where the bridge takes the carla module (`CarlaBackend(carla_module=fake_carla)`,
or `edgecase.backends.carla.use_carla_module(fake_carla)`) after starting a `FakeServer` at the
address the bridge connects to. `__all__` lists exactly the carla-mirroring names; the
conformance test (tests/test_carla_conformance.py) checks every one of them, with every method and
attribute they define, against the installed carla wheel, so the fake cannot offer an API that
does not exist. `FakeServer` and `Faults` are the fake's own (not carla's).
"""

from tests.fake_carla import command
from tests.fake_carla.actors import (Actor, ActorAttribute, ActorBlueprint, ActorList, BlueprintLibrary, Sensor,
                                     TrafficLight, Vehicle, Walker)
from tests.fake_carla.data import (CollisionEvent, Image, LaneInvasionEvent, SemanticLidarMeasurement, SensorData,
                                   Timestamp)
from tests.fake_carla.geom import BoundingBox, Location, Rotation, Transform, Vector3D
from tests.fake_carla.server import FakeServer, Faults
from tests.fake_carla.values import (AttachmentType, LaneMarking, MapLayer, OpendriveGenerationParameters,
                                     TrafficLightState, VehicleControl, VehicleDoor, VehicleLightState,
                                     VehiclePhysicsControl, WalkerControl, WeatherParameters, WheelPhysicsControl,
                                     WorldSettings)
from tests.fake_carla.world import ActorSnapshot, Client, Map, TrafficManager, World, WorldSnapshot

__all__ = [
    "Actor", "ActorAttribute", "ActorBlueprint", "ActorList", "ActorSnapshot", "AttachmentType", "BlueprintLibrary",
    "BoundingBox", "Client", "CollisionEvent", "Image", "LaneInvasionEvent", "LaneMarking", "Location", "Map",
    "MapLayer", "OpendriveGenerationParameters", "Rotation", "SemanticLidarMeasurement", "Sensor", "SensorData",
    "Timestamp", "TrafficLight", "TrafficLightState", "TrafficManager", "Transform", "Vector3D", "Vehicle",
    "VehicleControl", "VehicleDoor", "VehicleLightState", "VehiclePhysicsControl", "Walker", "WalkerControl",
    "WeatherParameters", "WheelPhysicsControl", "World", "WorldSettings", "WorldSnapshot", "command",
]
FAKE_ONLY = ("FakeServer", "Faults")  # the fake's own, not carla's
