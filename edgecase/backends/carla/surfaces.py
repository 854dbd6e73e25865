"""The plan's low-friction surfaces on a CARLA server: one `static.trigger.friction` per patch.

CARLA's friction trigger is a box volume; a vehicle overlapping it gets its wheels' tyre friction
set to the trigger's `friction` attribute, and back when it leaves. Its `extent_x/y/z` are the
box's HALF sizes in CENTIMETRES (Unreal units), x along the trigger's yaw (docs: "How to add
friction triggers", and `world.debug.draw_box(..., extent * 1e-2)` in CARLA's example).

CARLA's friction is not a tyre-road mu: it scales PhysX's tyre model, whose default per-wheel
`tire_friction` is 3.5 (FWheelPhysicsControl.TireFriction) for the dry road, which the embedded
backend takes as mu 0.9 (a car's 9 m/s^2). So a patch of mu becomes

    friction = CARLA_DRY_TIRE_FRICTION * mu / DRY_MU     (mu 0.9 -> 3.5, mu 0.2 -> 0.78)

a linear map, not a measurement of CARLA's braking on it.
"""

from __future__ import annotations

from typing import Any

from edgecase.errors import BackendError
from edgecase.plan.model import SurfacePlan

FRICTION_BLUEPRINT = "static.trigger.friction"
CARLA_DRY_TIRE_FRICTION = 3.5  # CARLA 0.9.16's default WheelPhysicsControl.tire_friction
DRY_MU = 0.9  # the tyre-road mu the embedded backend's car braking (9 m/s^2) stands for
TRIGGER_HEIGHT_M = 2.0  # the box reaches this far above the road (a vehicle's wheels and body overlap it)


def carla_friction(mu: float) -> float:
    """A tyre-road mu as CARLA's wheel friction (see the module docstring)."""
    return CARLA_DRY_TIRE_FRICTION * mu / DRY_MU


def spawn_surfaces(carla: Any, world: Any, library: Any, surfaces: tuple[SurfacePlan, ...], into: list[Any] | None = None) -> list[Any]:
    """One friction trigger per patch, centred on it, turned to its yaw; the spawned actors, appended
    to `into` as they spawn (so a failure half-way still leaves the earlier ones to destroy)."""
    out: list[Any] = [] if into is None else into
    if not surfaces:
        return out
    try:
        blueprint = library.find(FRICTION_BLUEPRINT)
    except IndexError:
        raise BackendError(f"the CARLA server has no blueprint {FRICTION_BLUEPRINT!r} (needed for the plan's surfaces)",
                           hint="is the server CARLA 0.9.16 with its standard content?") from None
    for patch in surfaces:
        blueprint.set_attribute("friction", f"{carla_friction(patch.friction):.4f}")
        blueprint.set_attribute("extent_x", f"{patch.length_m * 50.0:.1f}")  # half length, cm
        blueprint.set_attribute("extent_y", f"{patch.width_m * 50.0:.1f}")
        blueprint.set_attribute("extent_z", f"{TRIGGER_HEIGHT_M * 50.0:.1f}")
        transform = carla.Transform(carla.Location(x=patch.x_m, y=patch.y_m, z=patch.z_m + TRIGGER_HEIGHT_M / 2),
                                    carla.Rotation(pitch=0.0, yaw=patch.yaw_deg, roll=0.0))
        try:
            out.append(world.spawn_actor(blueprint, transform))
        except RuntimeError as err:
            if "time-out" in str(err):
                raise
            raise BackendError(f"CARLA could not spawn the friction trigger of surface '{patch.name}' "
                               f"at x={patch.x_m:.2f} y={patch.y_m:.2f}: {err}") from None
    return out
