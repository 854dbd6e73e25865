"""Agents: every actor's behavior sequence, and their intents turned into Controls each tick.

Per tick: (1) each actor's arc on its path follows its new position (one vectorized projection);
(2) each actor's sequence starts and ends steps (triggers read the WorldState; a step that starts
or ends can fire another actor's event trigger in the same tick); (3) each current behavior
states an Intent (usually the same object as last tick: nothing to copy); (4) numpy turns all
intents into Controls at once: IDM leaders for every follower in one N x N expression, stop
lines under red lights, pure pursuit for every vehicle, headings for walkers.

Paths are built at init (cars of one lane share one) and later only for a manoeuvre that needs
a new lane; nothing asks the road network per tick.
"""

from __future__ import annotations

import numpy as np

from edgecase.plan import EpisodePlan
from edgecase.roads import RoadNetwork
from edgecase.sim.behaviors import REGISTRY, ActorInfo, Cruise, Intent, Now, Scene, Sequence, Stand, Tracks
from edgecase.sim.behaviors.intents import IntentArrays, Masks
from edgecase.sim.control import (
    SPEED_GAIN_PER_S, WALKER_LOOKAHEAD_M, lookahead_m, pure_pursuit_steer_rad, quintic, reach_speed_mps2, track_speed_mps2,
)  # fmt: skip
from edgecase.sim.idm import Others, find_leaders, idm_accel_arrays
from edgecase.sim.lights import LightCycle, LightSchedule, StopTable
from edgecase.sim.paths import PathBank, shared_lane_paths
from edgecase.sim.state import LIGHT_BRAKE, Controls, LightState, WorldState, frozen
from edgecase.sim.trace import Event

DRIVING_STEPS = frozenset({"follow_lane", "lane_change", "cut_in", "turn", "run_red_light", "hard_brake", "stop"})
TRACK_DECEL_MPS2 = 4.0  # a speed tracker (no IDM) slows at most this hard
MAX_EVENT_ROUNDS = 8  # event triggers chained within one tick (a starts -> b starts -> ...)
# Brake lights: a vehicle braking harder than this. Lifting off the throttle (engine braking,
# rolling resistance, drag) slows a car by roughly 0.3-1 m/s^2 without the brake pedal (an
# estimate), so a harder deceleration means the driver brakes.
BRAKE_LIGHT_MPS2 = 1.0


class Agents:
    def __init__(self, plan: EpisodePlan, network: RoadNetwork):
        self.plan, self.network = plan, network
        self.dt_s = plan.step_s
        n = len(plan.actors)
        bank = PathBank()
        infos = tuple(ActorInfo.of(i, actor, network) for i, actor in enumerate(plan.actors))
        schedule = LightSchedule.of(network, LightCycle(**plan.traffic_lights.model_dump(exclude={"green_for"})))
        if plan.traffic_lights.green_for is not None:
            info = next(i for i in infos if i.plan.name == plan.traffic_lights.green_for)
            schedule = schedule.green_for(network, info.lane, info.turns)
        self.scene = Scene(network, bank, schedule, plan.step_s, plan.duration_s, infos,
                           {a.name: i for i, a in enumerate(plan.actors)}, Tracks(n, bank),
                           np.array([a.spawn == "start" for a in plan.actors], dtype=bool))  # fmt: skip
        self._home_paths(infos)
        self.sequences = [Sequence(info, self.scene, REGISTRY, self._implicit(info)) for info in infos]
        self.intents = IntentArrays(n)
        self.last: list[Intent | None] = [None] * n
        self.seen: set[str] = set()
        self.stops = StopTable(self.scene.lights, network, bank)
        kinds = np.array([info.kind for info in infos])
        self.vehicle, self.walker = kinds == "vehicle", kinds == "walker"
        self.half_wheelbase_m = np.array([0.5 * (a.wheelbase_m or 0.6 * a.size.length_m) for a in plan.actors])
        self.half_length_m = np.array([a.size.length_m / 2 for a in plan.actors])
        self.started = False
        self._keep = frozen(np.full(n, np.nan))  # 'leave as it is' for every actor (read-only, shared)
        self._masks_key: tuple[int, int] | None = None
        self._masks_now: Masks | None = None

    def lights_at(self, t_s: float) -> tuple[LightState, ...]:
        """The traffic lights' states at `t_s` (the agents run the cycles; backends report them)."""
        return self.scene.lights.states_at(t_s)

    def step(self, state: WorldState) -> tuple[Controls, list[Event]]:
        """Controls for the next step (rows in plan order) and the events of this tick."""
        a = state.actors
        if self.started:
            self.scene.tracks.follow(a.x_m, a.y_m, a.speed_mps, self.dt_s)
        self.started = True
        now = Now(state.tick, state.t_s, state)
        events = self._sequence(now)
        for row, sequence in enumerate(self.sequences):
            intent = sequence.intent(now)
            if intent is not self.last[row]:
                self.intents.write(row, intent)
                self.last[row] = intent
        return self._controls(state), events

    # --- set-up -------------------------------------------------------------------------------

    def _home_paths(self, infos: tuple[ActorInfo, ...]) -> None:
        """Lane paths for the vehicles that drive from the start, shared along each lane."""
        drivers = [i for i in infos if i.kind == "vehicle" and i.lane is not None and _drives(i)]
        reach = [self.scene.remaining_m(0.0, i.max_speed_mps) for i in drivers]
        found = shared_lane_paths(self.scene.bank, self.network, [(i.lane, r, i.turns) for i, r in zip(drivers, reach)])
        for info, (path, _arc) in zip(drivers, found):
            self.scene.tracks.switch(info.row, path, info.plan.pose.x_m, info.plan.pose.y_m)

    def _implicit(self, info: ActorInfo):
        """What drives an actor before its first step: a moving vehicle on a lane cruises, the rest stand."""
        cruising = info.kind == "vehicle" and info.plan.speed_mps > 0 and self.scene.tracks.path[info.row] >= 0
        cls = Cruise if cruising else Stand
        return cls({}, info, self.scene, 0.0, None)

    # --- per tick -----------------------------------------------------------------------------

    def _sequence(self, now: Now) -> list[Event]:
        """Start and end steps until nothing more changes at this tick (chained event triggers)."""
        events: list[Event] = []
        for _ in range(MAX_EVENT_ROUNDS):
            edges = 0
            for sequence in self.sequences:
                new = sequence.advance(now, self.seen)
                edges += sum(e.kind != "trigger" for e in new)
                events += new
            if edges == 0:
                break
        return events

    def _controls(self, state: WorldState) -> Controls:
        a, it = state.actors, self.intents
        m = self._masks()
        here = self.scene.tracks.here()
        cos, sin = np.cos(a.yaw_rad), np.sin(a.yaw_rad)
        accel = self._longitudinal(state, m, here, cos, sin)
        steer, heading = self._lateral(state, m, cos, sin)
        width = it.width_m.copy() if it.any_width else self._keep
        offset = it.box_offset_m.copy() if it.any_offset else self._keep
        light_state = np.bitwise_or(it.lights, LIGHT_BRAKE, out=it.lights.copy(), where=self.vehicle & (accel < -BRAKE_LIGHT_MPS2))
        return Controls(accel_mps2=accel, steer_rad=steer, heading_rad=heading, width_m=width, active=self.scene.active,
                        lights=self.scene.lights.states_at(state.t_s + self.dt_s), box_offset_m=offset,
                        light_state=light_state)  # fmt: skip

    def _masks(self) -> Masks:
        """Who does what, recomputed only after an intent or a path changed (not every tick)."""
        key = (self.intents.version, self.scene.tracks.version)
        if self._masks_key != key:
            self._masks_key = key
            self._masks_now = Masks.of(self.intents, self.scene.tracks.path, self.vehicle, self.walker)
        return self._masks_now

    def _longitudinal(self, state, m: Masks, here, cos, sin) -> np.ndarray:
        a, it = state.actors, self.intents
        v = a.speed_mps
        accel = np.zeros(len(v))
        if m.trackers.any():  # speed trackers: walkers reach their speed in a step, vehicles at SPEED_GAIN
            step = reach_speed_mps2(v, it.speed_mps, self.dt_s)
            accel = np.where(self.walker, step, track_speed_mps2(v, it.speed_mps, it.max_accel_mps2, TRACK_DECEL_MPS2))
        if it.any_hold:  # keep the speed along the lane while heading across it
            along = np.maximum(cos * here[2] + sin * here[3], 0.8)
            accel = np.where(m.holding, reach_speed_mps2(v, it.speed_mps / along, self.dt_s), accel)
        if len(m.followers):
            rows = m.followers
            accel[rows] = self._idm(state, m, rows if len(rows) < len(v) else slice(None), here, cos, sin)
        capped = np.minimum(accel, SPEED_GAIN_PER_S * (self.scene.bank.packed.cap.take(here[4]) - v))  # bends ahead
        accel = capped if m.all_vehicles else np.where(m.vehicles, capped, accel)
        if it.any_brake:
            accel = np.where(np.isnan(it.brake_mps2), accel, -np.minimum(it.brake_mps2, v / self.dt_s))
        if it.any_accel:
            accel = np.where(np.isnan(it.accel_mps2), accel, it.accel_mps2)
        return accel if m.all_vehicles else np.where(m.mobile, accel, 0.0)

    def _idm(self, state, m: Masks, rows, here, cos, sin) -> np.ndarray:
        a, it, tracks = state.actors, self.intents, self.scene.tracks
        x, y = a.x_m, a.y_m
        if it.any_blend:  # an actor changing lanes still counts in its old lane until it has changed
            x, y = np.where(m.blending, here[0], x), np.where(m.blending, here[1], y)
        others = Others(x, y, a.yaw_rad, a.speed_mps, a.length_m / 2, a.width_m / 2, a.active, cos, sin)
        own = tuple(h[rows] for h in here)
        path, arc, speed = m.path[rows], tracks.arc[rows], a.speed_mps[rows]
        half_width = self.scene.bank.packed.width.take(own[4]) / 2
        gap, closing = find_leaders(self.scene.bank, m.followers, path, arc, half_width, others, own)
        if self.scene.lights.ids:
            stop = self.stops.gaps(path, arc + self.half_length_m[rows], speed, it.comfort_decel_mps2[rows], it.obey[rows],
                                   self.scene.lights.colors_at(state.t_s))  # fmt: skip
            use_stop = stop < gap
            gap = np.where(use_stop, stop, gap)
            closing = np.where(use_stop, speed, closing)
        return idm_accel_arrays(speed, it.speed_mps[rows], gap, closing, it.time_headway_s[rows],
                                it.min_gap_m[rows], it.max_accel_mps2[rows], it.comfort_decel_mps2[rows])  # fmt: skip

    def _lateral(self, state, m: Masks, cos, sin) -> tuple[np.ndarray, np.ndarray]:
        a, it, bank, tracks = state.actors, self.intents, self.scene.bank, self.scene.tracks
        ahead = lookahead_m(a.speed_mps)
        if m.any_walker:
            ahead = np.where(self.walker, WALKER_LOOKAHEAD_M, ahead)
        target_arc = tracks.arc + ahead
        tx, ty, _, _, _ = bank.at(m.path, target_arc)
        if it.any_blend:
            b = np.flatnonzero(m.blending)
            when = state.t_s + ahead[b] / np.maximum(a.speed_mps[b], 1.0)  # when the actor will be there
            q = quintic((when - it.blend_start_s[b]) / it.blend_duration_s[b])
            to = it.blend_to[b]
            _, (ux, uy, _, _, _), _ = bank.project(to, tx[b], ty[b], target_arc[b] + it.blend_shift_m[b], steps=2)
            tx[b] += q * (ux - tx[b])
            ty[b] += q * (uy - ty[b])
        steer = pure_pursuit_steer_rad(a.x_m, a.y_m, cos, sin, self.half_wheelbase_m, tx, ty)
        steer = steer if m.all_vehicles else np.where(m.vehicles, steer, 0.0)
        heading = np.full(len(steer), np.nan)
        if m.any_walker:
            toward = np.where(m.on_path, np.arctan2(ty - a.y_m, tx - a.x_m), np.nan)
            heading = np.where(self.walker, np.where(np.isnan(it.heading_rad), toward, it.heading_rad), np.nan)
        return steer, heading


def _drives(info: ActorInfo) -> bool:
    return info.plan.speed_mps > 0 or any(step.name in DRIVING_STEPS for step in info.plan.behaviors)
