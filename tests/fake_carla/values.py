"""carla's plain values: controls, settings, weather, OpenDRIVE generation parameters, enums.

Enums are Python enums with carla's member names and values (VehicleLightState is a flag set, so
`VehicleLightState(9)` is Position | Brake, as with carla's Boost enum).
"""

from __future__ import annotations

import enum

from tests.fake_carla.geom import Vector3D


class VehicleLightState(enum.IntFlag):
    NONE = 0
    Position = 1
    LowBeam = 2
    HighBeam = 4
    Brake = 8
    RightBlinker = 16
    LeftBlinker = 32
    Reverse = 64
    Fog = 128
    Interior = 256
    Special1 = 512
    Special2 = 1024
    All = 0xFFFFFFFF


class TrafficLightState(enum.IntEnum):
    Red = 0
    Yellow = 1
    Green = 2
    Off = 3
    Unknown = 4


class VehicleDoor(enum.IntEnum):
    FL = 0
    FR = 1
    RL = 2
    RR = 3
    All = 6


class AttachmentType(enum.IntEnum):
    Rigid = 0
    SpringArm = 1
    SpringArmGhost = 2


class MapLayer(enum.IntFlag):
    NONE = 0
    Buildings = 1
    Decals = 2
    Foliage = 4
    Ground = 8
    ParkedVehicles = 16
    Particles = 32
    Props = 64
    StreetLights = 128
    Walls = 256
    All = 0xFFFF


class _Strict:
    """Assigning an attribute carla's class does not have fails, as on carla's Boost.Python objects
    (a plain Python object would take a misspelled `settings.synchronus_mode = True` silently):
    subclasses list their attributes in __slots__, which Python enforces at C speed."""

    __slots__ = ()

    def _values(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}


class VehicleControl(_Strict):
    throttle: float
    steer: float
    brake: float
    hand_brake: bool
    reverse: bool
    manual_gear_shift: bool
    gear: int
    __slots__ = ("throttle", "steer", "brake", "hand_brake", "reverse", "manual_gear_shift", "gear")

    def __init__(self, throttle=0.0, steer=0.0, brake=0.0, hand_brake=False, reverse=False, manual_gear_shift=False,
                 gear=0):
        self.throttle, self.steer, self.brake = float(throttle), float(steer), float(brake)
        self.hand_brake, self.reverse, self.manual_gear_shift, self.gear = hand_brake, reverse, manual_gear_shift, gear


class WalkerControl(_Strict):
    direction: Vector3D
    speed: float
    jump: bool
    __slots__ = ("direction", "speed", "jump")

    def __init__(self, direction=None, speed=0.0, jump=False):
        self.direction = direction if direction is not None else Vector3D(1.0, 0.0, 0.0)
        self.speed, self.jump = float(speed), jump


class WorldSettings(_Strict):
    synchronous_mode: bool
    no_rendering_mode: bool
    fixed_delta_seconds: float
    substepping: bool
    max_substep_delta_time: float
    max_substeps: int
    max_culling_distance: float
    deterministic_ragdolls: bool
    tile_stream_distance: float
    actor_active_distance: float
    spectator_as_ego: bool
    __slots__ = ("synchronous_mode", "no_rendering_mode", "fixed_delta_seconds", "substepping",
                 "max_substep_delta_time", "max_substeps", "max_culling_distance", "deterministic_ragdolls",
                 "tile_stream_distance", "actor_active_distance", "spectator_as_ego")

    def __init__(self, synchronous_mode=False, no_rendering_mode=False, fixed_delta_seconds=0.0, substepping=True,
                 max_substep_delta_time=0.01, max_substeps=10, max_culling_distance=0.0, deterministic_ragdolls=False,
                 tile_stream_distance=3000.0, actor_active_distance=2000.0, spectator_as_ego=True):
        self.synchronous_mode, self.no_rendering_mode = synchronous_mode, no_rendering_mode
        self.fixed_delta_seconds = fixed_delta_seconds if fixed_delta_seconds else None  # carla: None when unset
        self.substepping, self.max_substep_delta_time, self.max_substeps = substepping, max_substep_delta_time, max_substeps
        self.max_culling_distance, self.deterministic_ragdolls = max_culling_distance, deterministic_ragdolls
        self.tile_stream_distance, self.actor_active_distance = tile_stream_distance, actor_active_distance
        self.spectator_as_ego = spectator_as_ego

    def __eq__(self, other):
        return isinstance(other, WorldSettings) and self._values() == other._values()

    def __repr__(self):
        return f"WorldSettings({self._values()})"


WEATHER_FIELDS = ("cloudiness", "precipitation", "precipitation_deposits", "wind_intensity", "sun_azimuth_angle",
                  "sun_altitude_angle", "fog_density", "fog_distance", "fog_falloff", "wetness",
                  "scattering_intensity", "mie_scattering_scale", "rayleigh_scattering_scale", "dust_storm")


class WeatherParameters(_Strict):
    cloudiness: float
    precipitation: float
    precipitation_deposits: float
    wind_intensity: float
    sun_azimuth_angle: float
    sun_altitude_angle: float
    fog_density: float
    fog_distance: float
    fog_falloff: float
    wetness: float
    scattering_intensity: float
    mie_scattering_scale: float
    rayleigh_scattering_scale: float
    dust_storm: float
    __slots__ = ("cloudiness", "precipitation", "precipitation_deposits", "wind_intensity", "sun_azimuth_angle",
                 "sun_altitude_angle", "fog_density", "fog_distance", "fog_falloff", "wetness",
                 "scattering_intensity", "mie_scattering_scale", "rayleigh_scattering_scale", "dust_storm")

    def __init__(self, cloudiness=0.0, precipitation=0.0, precipitation_deposits=0.0, wind_intensity=0.0,
                 sun_azimuth_angle=0.0, sun_altitude_angle=0.0, fog_density=0.0, fog_distance=0.0, fog_falloff=0.0,
                 wetness=0.0, scattering_intensity=0.0, mie_scattering_scale=0.0, rayleigh_scattering_scale=0.0331,
                 dust_storm=0.0):
        values = locals()
        for name in WEATHER_FIELDS:
            setattr(self, name, float(values[name]))


class OpendriveGenerationParameters(_Strict):
    vertex_distance: float
    max_road_length: float
    wall_height: float
    additional_width: float
    smooth_junctions: bool
    enable_mesh_visibility: bool
    enable_pedestrian_navigation: bool
    __slots__ = ("vertex_distance", "max_road_length", "wall_height", "additional_width", "smooth_junctions",
                 "enable_mesh_visibility", "enable_pedestrian_navigation")

    def __init__(self, vertex_distance=2.0, max_road_length=50.0, wall_height=1.0, additional_width=0.6,
                 smooth_junctions=True, enable_mesh_visibility=True, enable_pedestrian_navigation=True):
        self.vertex_distance, self.max_road_length, self.wall_height = vertex_distance, max_road_length, wall_height
        self.additional_width, self.smooth_junctions = additional_width, smooth_junctions
        self.enable_mesh_visibility, self.enable_pedestrian_navigation = enable_mesh_visibility, enable_pedestrian_navigation


class WheelPhysicsControl:
    max_steer_angle: float

    def __init__(self, *, max_steer_angle=70.0):
        self.max_steer_angle = max_steer_angle


class VehiclePhysicsControl:
    wheels: list

    def __init__(self, wheels=None):
        self.wheels = list(wheels or [])


class LaneMarking:
    type: str
    color: str
    width: float
    lane_change: str

    def __init__(self, _type="Solid", _color="White", _width=0.15, _lane_change="NONE"):
        self.type, self.color, self.width, self.lane_change = _type, _color, _width, _lane_change
