"""Sensor rigs as data: camera and LiDAR placements and settings, read from sensors/NAME.yaml."""

from edgecase.sensors.rig import (CAMERA_TYPES, LIDAR_TYPES, SENSOR_TYPES, Camera, Lidar, Mount, Rig,
                                  available_rigs, load_rig, rigs_dir)

__all__ = ["CAMERA_TYPES", "LIDAR_TYPES", "SENSOR_TYPES", "Camera", "Lidar", "Mount", "Rig",
           "available_rigs", "load_rig", "rigs_dir"]
