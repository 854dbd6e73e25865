"""The plan's actors on a CARLA server: spawned in plan order, driven by our Controls, read back.

The behaviors stay on our side (edgecase.sim): they decide `Controls` exactly as for the embedded
backend, and this module only translates. The mapping, stated once:

* Vehicles (blueprints `vehicle.*`, two-wheelers included) get a `carla.VehicleControl`:
  `throttle = clip(a / A_MAX_THROTTLE_MPS2, 0, 1)`, `brake = clip(-a / A_MAX_BRAKE_MPS2, 0, 1)`,
  `steer = clip(steer_rad / max_steer, -1, 1)`, where max_steer is the front wheel's
  `max_steer_angle` (degrees) from the vehicle's physics control, read once (70 deg if absent).
  This is an open-loop map: CARLA's drivetrain and drag make the real acceleration differ, and the
  behaviors' own speed tracking closes the loop on the speed they read back each tick.
* Walkers (`walker.*`) get a `carla.WalkerControl(direction, speed)`: the heading the behaviors ask
  for (or the current one) and `speed = max(0, v + a dt)`.
* Props (`static.*`) get nothing; cargo spawned 'dropped' appears when the controls activate it,
  just behind its carrier (the embedded backend's rule), and rides with its carrier until then.
* A wider box (a door opening) opens the front door on that side (`open_door`), back to the plan's
  width closes it; light flags go out as `SetVehicleLightState` only when they change.

Every command of a tick goes to the server in one `apply_batch` (one RPC, not one per actor).
Read back after each tick from the world snapshot: x, y = the bounding box's centre (the actor's
location plus its `bounding_box.location` turned by the yaw; CARLA's origin is only near the
centre), yaw, speed = |v| in the ground plane, acceleration along the heading; sizes come from the
plan (boxes are the plan's, as on the embedded backend), steer is what we applied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgecase.backends.embedded.kinematics import LimitArrays, wrap_rad
from edgecase.errors import BackendError
from edgecase.plan import EpisodePlan
from edgecase.plan.model import ActorPlan
from edgecase.sim.state import ActorStates, Controls

SPAWN_LIFT_M = 0.2  # spawned this far above the plan's pose so the overlap test clears the road; physics lands it
A_MAX_THROTTLE_MPS2 = 4.0  # full throttle: about what CARLA's passenger cars reach from low speed
A_MAX_BRAKE_MPS2 = 8.0  # full brake: about a CARLA car's braking on dry asphalt
FALLBACK_MAX_STEER_DEG = 70.0  # CARLA's default front-wheel max_steer_angle
DOOR_EPS_M = 0.01  # a box this much wider than the plan's is a door open


def actor_kind(blueprint_id: str) -> str:
    return "vehicle" if blueprint_id.startswith("vehicle.") else "walker" if blueprint_id.startswith("walker.") else "prop"


def role_name(actor: ActorPlan) -> str:
    """'hero' for the ego (CARLA's convention: tools and large-map streaming follow the hero), else the plan's name."""
    return "hero" if actor.role == "ego" else actor.name


def vehicle_commands(accel_mps2: np.ndarray, steer_rad: np.ndarray, max_steer_rad: np.ndarray) -> tuple[np.ndarray, ...]:
    """(throttle, brake, steer) in CARLA's units for each row; NaN acceleration coasts."""
    accel = np.nan_to_num(accel_mps2, nan=0.0)
    throttle = np.clip(accel / A_MAX_THROTTLE_MPS2, 0.0, 1.0)
    brake = np.clip(-accel / A_MAX_BRAKE_MPS2, 0.0, 1.0)
    steer = np.clip(np.nan_to_num(steer_rad, nan=0.0) / max_steer_rad, -1.0, 1.0)
    return throttle, brake, steer


@dataclass(eq=False)
class Row:
    """One plan actor on the server (row i of every array is plan.actors[i])."""

    index: int
    plan: ActorPlan
    kind: str
    actor: Any = None  # the carla.Actor, None until spawned (dropped cargo)
    max_steer_rad: float = math.radians(FALLBACK_MAX_STEER_DEG)
    centre: tuple[float, float] = (0.0, 0.0)  # bounding_box.location x, y in the actor's frame
    light_flags: int = 0  # last sent
    door: Any = None  # the carla.VehicleDoor we opened, if any


@dataclass(eq=False)
class ActorTable:
    """Every plan actor's Row, spawning, and the per-tick translation both ways."""

    carla: Any
    plan: EpisodePlan
    rows: list[Row] = field(init=False)

    def __post_init__(self) -> None:
        self.rows = [Row(i, a, actor_kind(a.blueprint)) for i, a in enumerate(self.plan.actors)]
        self._limits = LimitArrays.from_plan(self.plan)  # carrier geometry for cargo, as the embedded backend
        n = len(self.rows)
        self._vehicle = np.array([r.kind == "vehicle" for r in self.rows])
        self._walker = np.array([r.kind == "walker" for r in self.rows])
        self._steer = np.zeros(n)
        self._width = np.array([a.size.width_m for a in self.plan.actors])
        self._length = np.array([a.size.length_m for a in self.plan.actors])  # plan sizes: the boxes labels use
        self._height = np.array([a.size.height_m for a in self.plan.actors])
        self._offset = np.zeros(n)
        self._lights = np.zeros(n, np.uint32)

    # --- spawning ---------------------------------------------------------------------------

    def spawn_start(self, world: Any, library: Any) -> None:
        """Every actor spawned 'start', in plan order (CARLA ids then ascend in plan order)."""
        for row in self.rows:
            if row.plan.spawn == "start":
                pose = row.plan.pose
                self._spawn(world, library, row, pose.x_m, pose.y_m, pose.yaw_deg)

    def _spawn(self, world: Any, library: Any, row: Row, x_m: float, y_m: float, yaw_deg: float) -> None:
        carla, a = self.carla, row.plan
        z_m = a.pose.z_m + SPAWN_LIFT_M
        where = f"x={x_m:.2f} y={y_m:.2f} z={z_m:.2f} yaw={yaw_deg:.1f}"
        try:
            blueprint = library.find(a.blueprint)
        except IndexError:
            raise BackendError(f"the CARLA server has no blueprint {a.blueprint!r} (actor '{a.name}')",
                               hint="is the server CARLA 0.9.16 with its standard content?") from None
        if blueprint.has_attribute("role_name"):
            blueprint.set_attribute("role_name", role_name(a))
        transform = carla.Transform(carla.Location(x=x_m, y=y_m, z=z_m), carla.Rotation(pitch=0.0, yaw=yaw_deg, roll=0.0))
        try:
            row.actor = world.spawn_actor(blueprint, transform)
        except RuntimeError as err:
            if "time-out" in str(err):
                raise
            raise BackendError(f"CARLA could not spawn actor '{a.name}' ({a.blueprint}) at {where}: {err}",
                               hint="something on the server (another actor, a building) is there; "
                                    "a retry on a clean world may succeed") from None
        box = row.actor.bounding_box.location
        row.centre = (box.x, box.y)
        if row.kind == "vehicle":
            wheels = row.actor.get_physics_control().wheels
            if len(wheels) and wheels[0].max_steer_angle > 0:
                row.max_steer_rad = math.radians(wheels[0].max_steer_angle)

    def start_moving(self) -> None:
        """Give every mobile actor its plan speed along its heading (applied at the next tick)."""
        carla = self.carla
        for row in self.rows:
            if row.actor is not None and row.kind != "prop" and row.plan.speed_mps > 0:
                yaw = math.radians(row.plan.pose.yaw_deg)
                v = row.plan.speed_mps
                row.actor.set_target_velocity(carla.Vector3D(x=v * math.cos(yaw), y=v * math.sin(yaw), z=0.0))

    @property
    def spawned(self) -> list[Any]:
        return [row.actor for row in self.rows if row.actor is not None]

    @property
    def track_of(self) -> dict[int, int]:
        """CARLA actor id -> our track id (the plan's id), for the sensors' instance ids."""
        return {row.actor.id: row.plan.id for row in self.rows if row.actor is not None}

    # --- controls -> CARLA ------------------------------------------------------------------

    def commands(self, controls: Controls, state: ActorStates, step_s: float, world: Any, library: Any) -> list[Any]:
        """This tick's batch; spawns cargo that falls now and opens or closes doors on the way."""
        carla = self.carla
        self._drop_cargo(controls, state, world, library)
        max_steer = np.array([r.max_steer_rad for r in self.rows])
        throttle, brake, steer = vehicle_commands(controls.accel_mps2, controls.steer_rad, max_steer)
        self._steer = np.where(self._vehicle, steer * max_steer, 0.0)
        walk_speed = np.maximum(np.asarray(state.speed_mps) + np.nan_to_num(controls.accel_mps2) * step_s, 0.0)
        heading = np.where(np.isnan(controls.heading_rad), state.yaw_rad, controls.heading_rad)
        self._boxes(controls)
        out: list[Any] = []
        for row in self.rows:
            actor, i = row.actor, row.index
            if actor is None:
                continue
            if row.kind == "vehicle":
                control = carla.VehicleControl(throttle=float(throttle[i]), steer=float(steer[i]), brake=float(brake[i]),
                                               hand_brake=False, reverse=False, manual_gear_shift=False, gear=0)
                out.append(carla.command.ApplyVehicleControl(actor.id, control))
                flags = int(controls.light_state[i])
                if flags != row.light_flags:
                    out.append(carla.command.SetVehicleLightState(actor.id, flags))
                    row.light_flags = flags
            elif row.kind == "walker":
                direction = carla.Vector3D(x=math.cos(heading[i]), y=math.sin(heading[i]), z=0.0)
                control = carla.WalkerControl(direction=direction, speed=float(walk_speed[i]), jump=False)
                out.append(carla.command.ApplyWalkerControl(actor.id, control))
        self._lights = np.asarray(controls.light_state, np.uint32)
        return out

    def _boxes(self, controls: Controls) -> None:
        """Box width and offset persist until changed (NaN keeps them); doors follow the width."""
        self._width = np.where(np.isnan(controls.width_m), self._width, controls.width_m)
        self._offset = np.where(np.isnan(controls.box_offset_m), self._offset, controls.box_offset_m)
        carla = self.carla
        for row in self.rows:
            if row.kind != "vehicle" or row.actor is None:
                continue
            opened = self._width[row.index] > row.plan.size.width_m + DOOR_EPS_M
            if opened and row.door is None:
                row.door = carla.VehicleDoor.FR if self._offset[row.index] >= 0 else carla.VehicleDoor.FL
                row.actor.open_door(row.door)
            elif not opened and row.door is not None:
                row.actor.close_door(row.door)
                row.door = None

    def _drop_cargo(self, controls: Controls, state: ActorStates, world: Any, library: Any) -> None:
        """Cargo the controls activate now appears behind its carrier, at the carrier's speed."""
        carla = self.carla
        for row in self.rows:
            if row.actor is not None or not controls.active[row.index] or row.plan.spawn != "dropped":
                continue
            x, y, yaw, speed = self._carried(state, row.index, self._limits.drop_back_m[row.index])
            self._spawn(world, library, row, x, y, math.degrees(yaw))
            row.actor.set_target_velocity(carla.Vector3D(x=speed * math.cos(yaw), y=speed * math.sin(yaw), z=0.0))

    def _carried(self, state: ActorStates, i: int, back_m: float) -> tuple[float, float, float, float]:
        """(x, y, yaw, speed) of cargo row i held `back_m` behind its carrier (the embedded backend's geometry)."""
        c = int(self._limits.carrier[i])
        yaw = float(state.yaw_rad[c])
        right = float(self._limits.carry_right_m[i])
        x = float(state.x_m[c]) - back_m * math.cos(yaw) - right * math.sin(yaw)
        y = float(state.y_m[c]) - back_m * math.sin(yaw) + right * math.cos(yaw)
        return x, y, yaw, float(state.speed_mps[c])

    # --- CARLA -> ActorStates ---------------------------------------------------------------

    def read(self, snapshot: Any, initial: bool = False) -> ActorStates:
        """Every row's state from the world snapshot after a tick. `initial`: the spawn tick, where
        the speeds are the plan's (set_target_velocity gives them for the first step)."""
        n = len(self.rows)
        x, y, yaw, speed, accel = [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n
        active = [False] * n
        for row in self.rows:  # plain floats in the loop: numpy item assignment costs more per actor
            i = row.index
            if row.actor is None:
                continue
            found = snapshot.find(row.actor.id)
            if found is None:
                raise BackendError(f"actor '{row.plan.name}' (CARLA id {row.actor.id}) is gone from the server",
                                   hint="another client destroyed it, or the server reloaded; a retry may succeed")
            t, v, a = found.get_transform(), found.get_velocity(), found.get_acceleration()
            location = t.location
            yaw_rad = math.radians(t.rotation.yaw)
            c, s = math.cos(yaw_rad), math.sin(yaw_rad)
            bx, by = row.centre
            x[i], y[i] = location.x + bx * c - by * s, location.y + bx * s + by * c
            yaw[i] = yaw_rad
            speed[i] = row.plan.speed_mps if initial and row.kind != "prop" else math.hypot(v.x, v.y)
            accel[i] = 0.0 if initial else a.x * c + a.y * s
            active[i] = True
        states = self._states(np.array(x), np.array(y), np.array(yaw), np.array(speed), np.array(accel),
                              np.array(active))
        return states if all(active) else self._with_carried(states)

    def _states(self, x, y, yaw, speed, accel, active) -> ActorStates:
        return ActorStates(x_m=x, y_m=y, yaw_rad=wrap_rad(yaw), speed_mps=speed, accel_mps2=accel,
                           steer_rad=self._steer.copy(), length_m=self._length, width_m=self._width.copy(),
                           height_m=self._height, active=active, box_offset_m=self._offset.copy(),
                           light_state=self._lights.copy())

    def _with_carried(self, states: ActorStates) -> ActorStates:
        """Cargo not yet dropped rides on its carrier's load bed (its plan offset), as on the embedded backend."""
        x, y, yaw, speed = (np.array(a) for a in (states.x_m, states.y_m, states.yaw_rad, states.speed_mps))
        for row in self.rows:
            if row.actor is None and self._limits.carrier[row.index] >= 0:
                i = row.index
                x[i], y[i], yaw[i], speed[i] = self._carried(states, i, float(self._limits.carry_back_m[i]))
        return self._states(x, y, yaw, speed, np.asarray(states.accel_mps2), np.asarray(states.active))


def freeze_lights(world: Any) -> dict[int, Any]:
    """The world's traffic lights by OpenDRIVE signal id, frozen so that only we change them."""
    found: dict[int, Any] = {}
    for light in world.get_actors().filter("traffic.traffic_light"):
        signal = light.get_opendrive_id()
        if signal.lstrip("-").isdigit():
            light.freeze(True)
            found[int(signal)] = light
    return found


def set_lights(carla: Any, lights: dict[int, Any], wanted: tuple, shown: dict[int, str]) -> None:
    """Set each traffic light whose colour changed (`shown` remembers what we last set)."""
    colors = {"Red": carla.TrafficLightState.Red, "Yellow": carla.TrafficLightState.Yellow,
              "Green": carla.TrafficLightState.Green}
    for state in wanted:
        light = lights.get(state.id)
        if light is not None and shown.get(state.id) != state.color:
            light.set_state(colors[state.color])
            shown[state.id] = state.color
