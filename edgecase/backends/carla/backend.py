"""CarlaBackend: the Backend protocol on a CARLA 0.9.16 server, the embedded backend's twin.

The loop, the behaviors, metrics and oracles are the same code for both backends; this class only
builds the plan's world on the server (world.py), spawns and drives its actors (actors.py), steps it
and reads the state back, and gathers the rig's frames (sensors.py, converted by convert.py into the
frames the embedded renderer makes). Time is `tick * step_s`, as on the embedded backend.

Tick 0 is the state after one world tick with everything spawned and still (the tick that puts the
actors in the world and makes every sensor capture once); the plan's speeds are set right after it
and act from the first step, so tick 0 reports them.

Cleanup is the point of `close()`: it runs from the loop's `finally` on success, error and Ctrl-C,
is safe to call twice, and never raises (an exception from it would hide the one that ended the
episode). It stops the sensors, destroys every actor we spawned in one `apply_batch_sync` (sensors
first, so none of them reports on a vanishing parent), stops the recorder, unfreezes the traffic
lights and puts the world's settings and the Traffic Manager back; what failed is kept in
`cleanup_problems` and warned about. A time-out or lost connection anywhere becomes a BackendError
(exit 3: retryable), never a hang: every wait has a deadline.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecase.backends.carla import connection
from edgecase.backends.carla.actors import ActorTable, freeze_lights, set_lights
from edgecase.backends.carla.connection import DEFAULT_TIMEOUT_S, carla_errors, resolve_address
from edgecase.backends.carla.sensors import EventSensors, RigSensors
from edgecase.backends.carla.surfaces import spawn_surfaces
from edgecase.backends.carla.world import WorldSession
from edgecase.plan import EpisodePlan
from edgecase.sensors.frames import SensorFrames
from edgecase.sim.state import Controls, LightState, WorldState
from edgecase.sim.trace import Event

if TYPE_CHECKING:
    from edgecase.roads import RoadNetwork
    from edgecase.sensors import Rig


class CarlaBackend:
    """One CARLA server, one episode at a time; see the module docstring for the life cycle."""

    name = "carla"

    def __init__(self, host: str | None = None, port: int | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                 rig: Rig | None = None, network: RoadNetwork | None = None, carla_module: Any = None,
                 recording: str | Path | None = None, sensor_timeout_s: float | None = None) -> None:
        """`host` is HOST[:PORT] (default: $EDGECASE_CARLA_HOST); `timeout_s` bounds every call and
        tick; `network` is the plan's road network (its OpenDRIVE becomes the server's world);
        `recording`: a file for CARLA's recorder (written by the server, on the server's disk)."""
        self.address = resolve_address(host, port)
        self.carla = carla_module if carla_module is not None else connection.carla_module()
        self.timeout_s = float(timeout_s)
        self.sensor_timeout_s = float(sensor_timeout_s if sensor_timeout_s is not None else timeout_s)
        self.rig, self._network = rig, network
        self.recording = None if recording is None else Path(recording).absolute()
        self.client: Any = None
        self.client_version = self.server_version = ""
        self.cleanup_problems: list[str] = []
        self._past_events: list[Event] = []
        self._clear()

    def _clear(self) -> None:
        """Forget the episode (what close() has cleaned up)."""
        self._plan: EpisodePlan | None = None
        self._session: WorldSession | None = None
        self._world: Any = None
        self._library: Any = None
        self._table: ActorTable | None = None
        self._surfaces: list[Any] = []  # the friction triggers of plan.surfaces
        self._rig: RigSensors | None = None
        self._events: EventSensors | None = None
        self._lights: dict[int, Any] = {}
        self._shown: dict[int, str] = {}
        self._light_states: tuple[LightState, ...] = ()
        self._recording = False
        self._tick = 0
        self._frame = self._frame0 = 0
        self._state: WorldState | None = None

    # --- the protocol -------------------------------------------------------------------------

    def reset(self, plan: EpisodePlan) -> WorldState:
        """Connect (once), load the map, spawn everything in plan order, tick once: the state at t = 0."""
        self.close()
        self.cleanup_problems = []
        carla = self.carla
        if self.client is None:
            self.client, self.client_version, self.server_version = connection.connect(carla, self.address, self.timeout_s)
        self._plan = plan
        self._session = WorldSession(carla, self.client, self.address, self.timeout_s)
        has_camera = bool(self.rig is not None and self.rig.cameras)
        self._world = self._session.prepare(plan, self._network.xodr_text if self._network else None, has_camera)
        with self._errors("spawn the plan's actors"):
            self._start_recorder()
            self._library = self._world.get_blueprint_library()
            self._table = ActorTable(carla, plan)
            self._table.spawn_start(self._world, self._library)
            spawn_surfaces(carla, self._world, self._library, plan.surfaces, into=self._surfaces)  # cleaned up even if one fails
            self._spawn_sensors(plan)
            self._lights = freeze_lights(self._world)
        with self._errors("tick the world after spawning"):
            self._frame = self._frame0 = self._world.tick(self.timeout_s)
            self._table.start_moving()
            actors = self._table.read(self._world.get_snapshot(), initial=True)
        self._state = WorldState(tick=0, t_s=0.0, actors=actors, lights=())
        return self._state

    def apply(self, controls: Controls) -> None:
        """Controls -> one batch of CARLA commands (and the traffic lights), applied at the next tick."""
        table, state = self._started()
        n = len(table.rows)
        if controls.accel_mps2.shape != (n,):
            raise ValueError(f"Controls.accel_mps2 has shape {controls.accel_mps2.shape}; the episode has {n} actors")
        with self._errors("apply the controls"):
            commands = table.commands(controls, state.actors, self._plan.step_s, self._world, self._library)
            self.client.apply_batch(commands)
            set_lights(self.carla, self._lights, controls.lights, self._shown)
        self._light_states = controls.lights

    def tick(self) -> WorldState:
        """One synchronous world step of plan.step_s; the state read back from the new snapshot."""
        table, _ = self._started()
        with self._errors("tick the world"):
            self._frame = self._world.tick(self.timeout_s)
            if self._rig is not None:
                self._rig.discard_before(self._frame)
            actors = table.read(self._world.get_snapshot())
        self._tick += 1
        self._state = WorldState(tick=self._tick, t_s=self._tick * self._plan.step_s, actors=actors,
                                 lights=self._light_states)
        return self._state

    def sense(self) -> SensorFrames:
        """The rig's measurements of the last tick's frame, as the embedded backend's frames."""
        table, state = self._started()
        if self._rig is None:
            raise RuntimeError("CarlaBackend: sense() needs a rig")
        with self._errors("read the sensors"):
            return self._rig.capture(state.tick, state.t_s, self._frame, table.track_of, self.sensor_timeout_s)

    def close(self) -> None:
        """Destroy what we spawned and restore the server; safe twice, after errors, never raises."""
        problems: list[str] = []
        reachable = True
        for sensors in (self._rig, self._events):
            if sensors is not None:
                reachable = reachable and self._attempt(problems, "stop the sensors", sensors.stop)
        if reachable:
            reachable = self._attempt(problems, "destroy the actors", self._destroy)
        if reachable and self._recording:
            reachable = self._attempt(problems, "stop the recorder", self.client.stop_recorder)
        if reachable and self._lights:
            reachable = self._attempt(problems, "unfreeze the traffic lights",
                                      lambda: [light.freeze(False) for light in self._lights.values()])
        if reachable and self._session is not None:
            problems += self._session.restore()
        self._past_events = self.sensor_events
        self._clear()
        if problems:
            self.cleanup_problems += problems
            warnings.warn(f"CARLA clean-up at {self.address} was incomplete: {'; '.join(problems)}", RuntimeWarning,
                          stacklevel=2)

    # --- extras -------------------------------------------------------------------------------

    @property
    def sensor_events(self) -> list[Event]:
        """Collision and lane-invasion events from the ego's CARLA sensors (kinds carla_collision,
        carla_lane_invasion), ticks counted like the trace's; kept after close()."""
        if self._events is None or self._plan is None:
            return list(self._past_events)
        names = {row.actor.id: row.plan.name for row in self._table.rows if row.actor is not None}
        return sorted(self._events.events(self._frame0, self._plan.step_s, names), key=lambda e: e.tick)

    @property
    def renderer(self) -> dict[str, str | None]:
        """For calib.json: who made the frames."""
        return {"camera_engine": f"carla-server {self.server_version}".strip(), "fallback_reason": None,
                "server": str(self.address)}

    # --- helpers ------------------------------------------------------------------------------

    def _spawn_sensors(self, plan: EpisodePlan) -> None:
        ego_row = next(row for row in self._table.rows if row.plan.role == "ego")
        self._events = EventSensors(self.carla, ego_row.plan.name)
        self._events.spawn(self._world, self._library, ego_row.actor)
        if self.rig is not None:
            self._rig = RigSensors(self.carla, self.rig, plan)
            self._rig.spawn(self._world, self._library, ego_row.actor)

    def _start_recorder(self) -> None:
        if self.recording is not None:
            self.client.start_recorder(str(self.recording), True)
            self._recording = True

    def _destroy(self) -> None:
        """Every actor we spawned, sensors first, in one batch; a failed destroy is a problem to report."""
        carla = self.carla
        sensors = [s.actor for s in self._rig.spawned] if self._rig else []
        sensors += self._events.spawned if self._events else []
        actors = sensors + (self._table.spawned if self._table else []) + self._surfaces
        if not actors:
            return
        responses = self.client.apply_batch_sync([carla.command.DestroyActor(actor.id) for actor in actors], False)
        failed = [f"{actor.id}: {r.error}" for actor, r in zip(actors, responses) if r.has_error()]
        if failed:
            raise RuntimeError(f"{len(failed)} actor(s) not destroyed ({', '.join(failed[:5])})")

    def _attempt(self, problems: list[str], action: str, fn: Any) -> bool:
        """Run one clean-up step; False if the server stopped answering (later steps would only wait)."""
        try:
            fn()
        except RuntimeError as err:
            problems.append(f"could not {action}: {err}")
            return "time-out" not in str(err)
        return True

    def _errors(self, action: str):
        return carla_errors(action, self.address, self.timeout_s)

    def _started(self) -> tuple[ActorTable, WorldState]:
        if self._table is None or self._state is None:
            raise RuntimeError("CarlaBackend: call reset(plan) before apply(), tick() or sense()")
        return self._table, self._state
