"""The trace: every actor's state at every tick, as (ticks, actors) arrays, plus the events log.

Oracles and metrics are pure functions of a Trace (and the plan), so they are tested without
any simulator and give the same answers for the embedded backend and CARLA.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgecase.sim.state import LightState, WorldState, frozen

FIELDS = ("x_m", "y_m", "yaw_rad", "speed_mps", "accel_mps2", "steer_rad", "length_m", "width_m", "height_m", "active",
          "box_offset_m", "light_state")
LIGHT_COLORS = ("Red", "Yellow", "Green")  # light state code = index here


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened: kind is trigger | behavior_start | behavior_end | collision | red_light | lane_departure."""

    tick: int
    t_s: float
    kind: str
    actor: str  # the instance name ('ego', 'parked[1]')
    detail: str = ""  # the behavior, the other actor of a collision, ...


@dataclass(frozen=True, slots=True)
class Trace:
    names: tuple[str, ...]  # actor instance names, row order of the plan
    t_s: np.ndarray  # (T,)
    x_m: np.ndarray  # (T, N) and the same for every name in FIELDS
    y_m: np.ndarray
    yaw_rad: np.ndarray
    speed_mps: np.ndarray
    accel_mps2: np.ndarray
    steer_rad: np.ndarray
    length_m: np.ndarray
    width_m: np.ndarray
    height_m: np.ndarray
    active: np.ndarray
    box_offset_m: np.ndarray  # the box centre's offset to the right of (x, y) (an open door)
    light_state: np.ndarray  # uint32 carla.VehicleLightState flags
    light_ids: tuple[int, ...]  # (L,)
    light_codes: np.ndarray  # (T, L) int8: index into LIGHT_COLORS
    events: tuple[Event, ...]

    def index(self, name: str) -> int:
        return self.names.index(name)

    def events_of(self, kind: str, actor: str | None = None) -> tuple[Event, ...]:
        return tuple(e for e in self.events if e.kind == kind and (actor is None or e.actor == actor))


class TraceRecorder:
    """Collects WorldStates as the loop runs; `finish()` freezes them into a Trace."""

    def __init__(self, names: tuple[str, ...]):
        self.names = names
        self.rows: dict[str, list[np.ndarray]] = {f: [] for f in FIELDS}
        self.t_s: list[float] = []
        self.light_ids: tuple[int, ...] | None = None
        self.light_codes: list[list[int]] = []
        self.events: list[Event] = []

    def record(self, state: WorldState, events: list[Event] | tuple[Event, ...] = ()) -> None:
        self.t_s.append(state.t_s)
        for f in FIELDS:
            self.rows[f].append(getattr(state.actors, f))
        self._record_lights(state.lights)
        self.events.extend(events)

    def _record_lights(self, lights: tuple[LightState, ...]) -> None:
        if self.light_ids is None:
            self.light_ids = tuple(light.id for light in lights)
        by_id = {light.id: light.color for light in lights}
        self.light_codes.append([LIGHT_COLORS.index(by_id[i]) for i in self.light_ids])

    def finish(self) -> Trace:
        columns = {f: frozen(np.stack(rows)) for f, rows in self.rows.items()}
        codes = np.array(self.light_codes, dtype=np.int8).reshape(len(self.t_s), len(self.light_ids or ()))
        codes.setflags(write=False)
        return Trace(
            names=self.names,
            t_s=frozen(np.array(self.t_s)),
            light_ids=self.light_ids or (),
            light_codes=codes,
            events=tuple(self.events),
            **columns,
        )
