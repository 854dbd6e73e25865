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
from edgecase.plan.placement import place, where_of
from edgecase.plan.spots import Spot
from edgecase.plan.sampling import Sampler
from edgecase.roads import RoadNetwork
from edgecase.scenario import Scenario
from edgecase.scenario.model import FRICTION_RANGE

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
        where = where_of(surface.at, path + ("at",), sampler, instance, pos)
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
