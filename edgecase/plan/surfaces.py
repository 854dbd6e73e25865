"""The scenario's `surfaces:` (low-friction patches) compiled into `SurfacePlan`s.

A patch is placed exactly as an actor is (same `Placement`, same `place()`), against the spots of
the actors already placed, so `{relative_to: ego, ahead_m: 40}` means what it means for an actor.
Its centre is the placed spot, its length runs along the lane's heading there (plus `yaw_deg`),
and its width defaults to the lane's. Its numbers are drawn after every actor's, in file order,
so adding a patch to a scenario leaves the actors' draws (and their episodes) unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from edgecase.errors import InputError, SourcePos
from edgecase.plan.model import SurfacePlan
from edgecase.plan.placement import place
from edgecase.plan.spots import Spot, Where
from edgecase.plan.sampling import Sampler
from edgecase.roads import RoadNetwork
from edgecase.scenario import Scenario
from edgecase.scenario.model import FRICTION_RANGE, Surface

MAX_LENGTH_M = 1000.0
MAX_WIDTH_M = 100.0


def compile_surfaces(scenario: Scenario, sampler: Sampler, network: RoadNetwork, spots: Mapping[str, Spot],
                     instance: Callable[[str, SourcePos], str]) -> tuple[SurfacePlan, ...]:
    """Every patch of `scenario.spec.surfaces`, in file order; `spots` are the actors' placed spots
    (by instance name) and `instance` resolves 'parked[1]' to an instance name."""
    out = []
    for name, surface in scenario.spec.surfaces.items():
        path = ("surfaces", name)
        pos = scenario.pos(*path, "at")
        where = _where(surface, path + ("at",), sampler, instance, pos)
        length = sampler.number(surface.length_m, path + ("length_m",), lo=0.1, hi=MAX_LENGTH_M)
        spot = place(network, where, dict(spots), sampler.pick, length, pos)
        if surface.width_m is not None:
            width = sampler.number(surface.width_m, path + ("width_m",), lo=0.1, hi=MAX_WIDTH_M)
        elif spot.point is not None and spot.point.kind is not None:
            width = spot.point.width_m
        else:
            raise InputError(f"surface '{name}' is not on a lane, so it needs width_m", pos)
        friction = sampler.number(surface.friction, path + ("friction",), lo=FRICTION_RANGE[0], hi=FRICTION_RANGE[1])
        out.append(SurfacePlan(name=name, x_m=spot.x_m, y_m=spot.y_m, z_m=spot.z_m, yaw_deg=spot.yaw_deg,
                               length_m=length, width_m=width, friction=friction))
    return tuple(out)


def _where(surface: Surface, path: tuple, sampler: Sampler, instance: Callable[[str, SourcePos], str], pos: SourcePos) -> Where:
    at = surface.at

    def num(key: str, lo: float = -10_000.0, hi: float = 10_000.0) -> float:
        value = getattr(at, key)
        return 0.0 if value is None else sampler.number(value, path + (key,), lo=lo, hi=hi)

    offsets = dict(lateral_m=num("lateral_m", -50, 50), yaw_deg=num("yaw_deg", -360, 360))
    if at.mode == "xy":
        return Where("xy", x_m=num("x_m", -1e5, 1e5), y_m=num("y_m", -1e5, 1e5), **offsets)
    if at.mode == "lane":
        return Where("lane", at.lane, at.road, at.lane_id, s_m=num("s_m", 0, 1e5), **offsets)
    if at.mode == "between":
        return Where("between", at.lane, between=tuple(instance(r, pos) for r in at.between), **offsets)
    if at.mode == "junction":
        approach = None if at.approach is None else sampler.integer(at.approach, path + ("approach",), lo=0, hi=64)
        return Where("junction", junction=at.junction, approach=approach, before_m=num("before_m", 0, 1e4), **offsets)
    return Where("relative", at.lane, relative_to=instance(at.relative_to, pos), along_m=num("ahead_m") - num("behind_m"), **offsets)
