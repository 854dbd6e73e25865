"""What the fake's sensors hand to their callbacks: carla.Image, carla.SemanticLidarMeasurement,
carla.CollisionEvent, carla.LaneInvasionEvent, each with carla's attribute names.

Buffers are made on first access of `raw_data` (or `get_point_count`) and the time spent counts as
the fake's; a test that never reads a frame never pays for rendering it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tests.fake_carla.geom import Location, Rotation, Transform, Vector3D


def _transform(matrix: np.ndarray) -> Transform:
    yaw = math.degrees(math.atan2(matrix[1, 0], matrix[0, 0]))
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, matrix[2, 0]))))
    roll = math.degrees(math.atan2(-matrix[2, 1], matrix[2, 2]))
    x, y, z = matrix[:3, 3]
    return Transform(Location(x, y, z), Rotation(pitch, yaw, roll))


class Timestamp:
    frame: int
    elapsed_seconds: float
    delta_seconds: float
    platform_timestamp: float

    def __init__(self, frame=0, elapsed_seconds=0.0, delta_seconds=0.0, platform_timestamp=0.0):
        self.frame, self.elapsed_seconds, self.delta_seconds = frame, elapsed_seconds, delta_seconds
        self.platform_timestamp = platform_timestamp


class SensorData:
    frame: int
    timestamp: float
    transform: Transform

    def __init__(self, _server, _body, _frame):
        self._server, self._body = _server, _body
        self.frame = _frame
        self.timestamp = (_frame - 1000) * (_server.settings.fixed_delta_seconds or 0.05)
        self._pose = _body.matrix()
        self.transform = _transform(self._pose)

    @classmethod
    def _of(cls, server, body, frame):
        return cls(server, body, frame)


class Image(SensorData):
    width: int
    height: int
    fov: float

    def __init__(self, _server, _body, _frame):
        super().__init__(_server, _body, _frame)
        self.width = int(_body.attributes["image_size_x"])
        self.height = int(_body.attributes["image_size_y"])
        self.fov = float(_body.attributes["fov"])
        self._raw: bytes | None = None

    @property
    def raw_data(self):
        if self._raw is None:
            self._raw = self._server.timed(lambda: self._server.camera_bytes(self._body, self.frame, self._pose))
        return memoryview(self._raw)


class SemanticLidarMeasurement(SensorData):
    horizontal_angle: float

    def __init__(self, _server, _body, _frame):
        super().__init__(_server, _body, _frame)
        self.horizontal_angle = 0.0
        self._scan: tuple[bytes, list[int], int] | None = None

    def _data(self) -> tuple[bytes, list[int], int]:
        if self._scan is None:
            self._scan = self._server.timed(lambda: self._server.lidar_scan(self._body, self.frame, self._pose))
        return self._scan

    @property
    def raw_data(self):
        return memoryview(self._data()[0])

    @property
    def channels(self):
        return int(self._body.attributes["channels"])

    def get_point_count(self, channel):
        return self._data()[1][channel]


class CollisionEvent(SensorData):
    actor: Any
    other_actor: Any
    normal_impulse: Vector3D

    def __init__(self, _server, _body, _other, _frame):
        from tests.fake_carla.actors import handle

        super().__init__(_server, _body, _frame)
        self.actor = handle(_server, _server.bodies[_body.parent])
        self.other_actor = handle(_server, _server.bodies[_other])
        self.normal_impulse = Vector3D(0.0, 0.0, 0.0)

    @classmethod
    def _of(cls, server, body, other, frame):
        return cls(server, body, other, frame)


class LaneInvasionEvent(SensorData):
    actor: Any
    crossed_lane_markings: list

    def __init__(self, _server, _body, _frame, _markings=()):
        from tests.fake_carla.actors import handle

        super().__init__(_server, _body, _frame)
        self.actor = handle(_server, _server.bodies[_body.parent])
        self.crossed_lane_markings = list(_markings)
