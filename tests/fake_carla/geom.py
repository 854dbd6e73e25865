"""carla's geometry values (Vector3D, Location, Rotation, Transform, BoundingBox), as plain Python.

Signatures mirror the 0.9.16 wheel's (tests/test_carla_conformance.py checks them); positional order
of Rotation is (pitch, yaw, roll), as in carla.
"""

from __future__ import annotations

import math

import numpy as np

from edgecase.sensors.transforms import carla_matrix


class Vector3D:
    x: float
    y: float
    z: float

    def __init__(self, x=0.0, y=0.0, z=0.0):
        self.x, self.y, self.z = float(x), float(y), float(z)

    def length(self):
        return math.sqrt(self.x * self.x + self.y * self.y + self.z * self.z)

    def __eq__(self, other):
        return isinstance(other, Vector3D) and (self.x, self.y, self.z) == (other.x, other.y, other.z)

    def __repr__(self):
        return f"{type(self).__name__}(x={self.x:.6f}, y={self.y:.6f}, z={self.z:.6f})"


class Location(Vector3D):
    def distance(self, location):
        return math.dist((self.x, self.y, self.z), (location.x, location.y, location.z))


class Rotation:
    pitch: float
    yaw: float
    roll: float

    def __init__(self, pitch=0.0, yaw=0.0, roll=0.0):
        self.pitch, self.yaw, self.roll = float(pitch), float(yaw), float(roll)

    def __repr__(self):
        return f"Rotation(pitch={self.pitch:.6f}, yaw={self.yaw:.6f}, roll={self.roll:.6f})"


class Transform:
    location: Location
    rotation: Rotation

    def __init__(self, location=None, rotation=None):
        self.location = location if location is not None else Location()
        self.rotation = rotation if rotation is not None else Rotation()

    def get_matrix(self):
        loc, rot = self.location, self.rotation
        return carla_matrix(loc.x, loc.y, loc.z, rot.roll, rot.pitch, rot.yaw).tolist()

    def __repr__(self):
        return f"Transform({self.location!r}, {self.rotation!r})"


class BoundingBox:
    location: Location
    extent: Vector3D
    rotation: Rotation

    def __init__(self, location=None, extent=None):
        self.location = location if location is not None else Location()
        self.extent = extent if extent is not None else Vector3D()
        self.rotation = Rotation()


def matrix_of(transform: Transform) -> np.ndarray:
    loc, rot = transform.location, transform.rotation
    return carla_matrix(loc.x, loc.y, loc.z, rot.roll, rot.pitch, rot.yaw)
