"""carla.command: the batch commands the bridge sends (by actor id, as carla's int overloads)."""

from __future__ import annotations

__all__ = ["ApplyTargetVelocity", "ApplyVehicleControl", "ApplyWalkerControl", "DestroyActor", "Response",
           "SetAutopilot", "SetVehicleLightState", "SpawnActor"]


class Response:
    actor_id: int
    error: str

    def __init__(self, _actor_id, _error=""):
        self.actor_id, self.error = _actor_id, _error

    def has_error(self):
        return bool(self.error)


class _ById:
    """A command on one live actor; a dead or unknown one answers with carla's error text."""

    def _target(self, server):
        body = server.bodies.get(self.actor_id)
        return body if body is not None and body.alive else None

    def _apply(self, server):
        body = self._target(server)
        if body is None:
            return Response(self.actor_id, f"unable to find actor {self.actor_id}")
        self._run(server, body)
        return Response(self.actor_id)


class DestroyActor(_ById):
    actor_id: int

    def __init__(self, actor_id):
        self.actor_id = int(actor_id)

    def _run(self, server, body):
        server.destroy(body.id)


class ApplyVehicleControl(_ById):
    actor_id: int
    control: object

    def __init__(self, actor_id, control):
        self.actor_id, self.control = int(actor_id), control

    def _run(self, server, body):
        body.control = self.control


class ApplyWalkerControl(ApplyVehicleControl):
    pass


class SetVehicleLightState(_ById):
    actor_id: int
    light_state: int

    def __init__(self, actor_id, light_state):
        self.actor_id, self.light_state = int(actor_id), int(light_state)

    def _run(self, server, body):
        body.light_state = self.light_state


class ApplyTargetVelocity(_ById):
    actor_id: int
    velocity: object

    def __init__(self, actor_id, velocity):
        self.actor_id, self.velocity = int(actor_id), velocity

    def _run(self, server, body):
        body.target_velocity = (self.velocity.x, self.velocity.y)


class SetAutopilot(_ById):
    actor_id: int
    enabled: bool
    tm_port: int

    def __init__(self, actor_id, enabled, tm_port=8000):
        self.actor_id, self.enabled, self.tm_port = int(actor_id), bool(enabled), tm_port

    def _run(self, server, body):
        raise RuntimeError("the fake server has no autopilot")


class SpawnActor:
    transform: object
    parent_id: int

    def __init__(self, blueprint, transform):
        self._blueprint, self.transform, self.parent_id = blueprint, transform, 0

    def _apply(self, server):
        try:
            return Response(server.spawn(self._blueprint, self.transform, None).id)
        except RuntimeError as err:
            return Response(0, str(err))
