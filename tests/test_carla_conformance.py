"""The fake carla and the bridge use only what the installed carla 0.9.16 wheel has.

How the check works is in tests/fake_carla/conformance.py. Here: it passes on the fake and on the
bridge's source, and it fails, naming the culprit, on each kind of mistake it exists to catch: a
misspelled method or class, a keyword carla does not take, an attribute that is a method in carla,
a positional-only parameter, an enum value, a carla method the fake does not implement.
"""

from __future__ import annotations

import enum
import inspect
import textwrap
import types
from pathlib import Path

import carla
import pytest

import tests.fake_carla as fake_carla
from tests.fake_carla.conformance import (bridge_sources, check_bridge, check_class, check_fake, parse_overloads,
                                          signature_problem)

BRIDGE = Path(__file__).resolve().parents[1] / "edgecase" / "backends" / "carla"


def test_the_installed_carla_is_0_9_16():
    assert carla.Client("localhost", 2000).get_client_version().startswith("0.9.16")  # no server needed


def test_the_fake_conforms_to_carla():
    assert check_fake(fake_carla, carla) == []


def test_the_bridge_uses_only_carla_that_exists_and_that_the_fake_implements():
    sources = bridge_sources(BRIDGE)
    assert {"edgecase/backends/carla/backend.py", "edgecase/backends/carla/actors.py"} <= set(sources)
    assert check_bridge(sources, carla, fake_carla) == []


def test_docstring_signatures_are_parsed_with_overloads_and_optional_parameters():
    (spawn,) = parse_overloads(carla.World.spawn_actor.__doc__, "spawn_actor")
    assert [(p.name, p.optional) for p in spawn] == [("blueprint", False), ("transform", False), ("attach_to", True),
                                                     ("attachment_type", True), ("bone", True)]
    destroy = parse_overloads(carla.command.DestroyActor.__init__.__doc__, "__init__")
    assert [[p.name for p in o] for o in destroy] == [[], ["actor"], ["actor_id"]]
    (set_attribute,) = parse_overloads(carla.ActorBlueprint.set_attribute.__doc__, "set_attribute")
    assert all(p.positional_only for p in set_attribute)  # carla's arg2, arg3: no keywords
    (box,) = parse_overloads(carla.BoundingBox.__init__.__doc__, "__init__")[1:]
    assert [p.name for p in box] == ["location", "extent", "rotation"]  # the doc that opens with '['


# --- the fake side: a misspelled or mis-shaped fake fails ------------------------------------

def fake_class(name: str, body: str, base: type = object) -> type:
    """A class defined as if in the fake package, so the checker treats it as the fake's."""
    namespace: dict = {}
    exec(textwrap.dedent(body), {"enum": enum}, namespace)  # noqa: S102 - test-only class bodies
    cls = namespace[name]
    cls.__module__ = "tests.fake_carla.testing"
    return cls


def test_a_misspelled_method_in_the_fake_fails():
    world = fake_class("World", """
        class World:
            def spawn_actr(self, blueprint, transform, attach_to=None):
                pass
        """)
    assert check_class(world, carla.World, "fake.World") == ["fake.World.spawn_actr: carla's World has no 'spawn_actr'"]


def test_a_keyword_carla_does_not_take_fails():
    world = fake_class("World", """
        class World:
            def spawn_actor(self, blueprint, transform, attach=None):
                pass
        """)
    (problem,) = check_class(world, carla.World, "fake.World")
    assert problem.startswith("fake.World.spawn_actor accepts (blueprint, transform, attach) but carla's overloads")


def test_a_required_parameter_carla_makes_optional_is_fine_but_extra_ones_fail():
    fine = fake_class("World", """
        class World:
            def spawn_actor(self, blueprint, transform, attach_to=None):
                pass
        """)
    extra = fake_class("World", """
        class World:
            def tick(self, seconds=0.0, wait=True):
                pass
        """)
    assert check_class(fine, carla.World, "fake.World") == []
    assert "accepts (seconds, wait)" in check_class(extra, carla.World, "fake.World")[0]


def test_carla_positional_only_parameters_must_be_positional_only_in_the_fake():
    loose = fake_class("ActorBlueprint", """
        class ActorBlueprint:
            def set_attribute(self, key, value):
                pass
        """)
    strict = fake_class("ActorBlueprint", """
        class ActorBlueprint:
            def set_attribute(self, key, value, /):
                pass
        """)
    assert check_class(loose, carla.ActorBlueprint, "fake.ActorBlueprint")
    assert check_class(strict, carla.ActorBlueprint, "fake.ActorBlueprint") == []


def test_attributes_methods_enums_and_private_constructors_are_checked():
    sensor = fake_class("Sensor", """
        class Sensor:
            is_listening: bool
            def __init__(self, server):
                pass
        """)
    problems = check_class(sensor, carla.Sensor, "fake.Sensor")
    assert any("must be _private" in p for p in problems)
    assert any("is_listening: an attribute in the fake, a method in carla" in p for p in problems)
    state = fake_class("TrafficLightState", """
        class TrafficLightState(enum.IntEnum):
            Red = 0
            Yelow = 1
            Green = 7
        """)
    assert check_class(state, carla.TrafficLightState, "fake.TrafficLightState") == [
        "fake.TrafficLightState.Yelow: carla has no such member", "fake.TrafficLightState.Green = 7, carla's is 2"]


def test_a_fake_class_carla_does_not_have_fails():
    module = types.ModuleType("tests.fake_carla.testing")
    module.VehicleControll = fake_class("VehicleControll", "class VehicleControll:\n    pass\n")
    module.__all__ = ["VehicleControll"]
    assert check_fake(module, carla) == ["testing.VehicleControll: carla has no 'VehicleControll'"]


def test_signature_problem_covers_every_arity_the_fake_accepts():
    def destroy(self, actor_id, extra=None):
        pass

    overloads = parse_overloads(carla.command.DestroyActor.__init__.__doc__, "__init__")
    assert signature_problem(destroy, overloads).startswith("accepts (actor_id, extra)")
    assert signature_problem(inspect.unwrap(fake_carla.command.DestroyActor.__init__), overloads) is None


# --- the bridge side: a misspelled call in the bridge's source fails --------------------------

def bridge_problems(source: str) -> list[str]:
    return check_bridge({"snippet.py": textwrap.dedent(source)}, carla, fake_carla)


def test_a_misspelled_method_in_the_bridge_fails():
    assert bridge_problems("def f(carla, world):\n    return world.get_spectator()\n") == []
    (problem,) = bridge_problems("def f(carla, world):\n    return world.get_spectater()\n")
    assert problem.startswith("snippet.py:2: .get_spectater exists on no carla class")


def test_the_bridge_with_one_method_misspelled_fails():
    sources = bridge_sources(BRIDGE)
    name = "edgecase/backends/carla/backend.py"
    assert ".get_snapshot()" in sources[name]
    sources[name] = sources[name].replace(".get_snapshot()", ".get_snapshott()", 1)
    (problem,) = check_bridge(sources, carla, fake_carla)
    assert problem.startswith(f"{name}:") and ".get_snapshott exists on no carla class" in problem


def test_a_misspelled_carla_class_or_keyword_in_the_bridge_fails():
    assert bridge_problems("def f(carla):\n    return carla.VehicleControl(throttle=1.0)\n") == []
    assert bridge_problems("def f(carla):\n    return carla.VehicleControll(throttle=1.0)\n") == [
        "snippet.py:2: carla.VehicleControll: carla has no 'VehicleControll' there"]
    (keyword,) = bridge_problems("def f(carla):\n    return carla.VehicleControl(throtle=1.0)\n")
    assert "carla.VehicleControl() with 0 positional and keywords ['throtle']" in keyword
    (deep,) = bridge_problems("def f(carla):\n    return carla.command.DestroyActr(1)\n")
    assert "carla.command.DestroyActr: carla has no 'DestroyActr'" in deep


def test_a_wrong_keyword_or_arity_on_a_carla_method_fails():
    assert bridge_problems("def f(world, bp, tf, ego):\n    world.spawn_actor(bp, tf, attach_to=ego)\n") == []
    (problem,) = bridge_problems("def f(world, bp, tf, ego):\n    world.spawn_actor(bp, tf, attach=ego)\n")
    assert "spawn_actor() with 2 positional and keywords ['attach'] matches none of carla's overloads" in problem


def test_a_misspelled_attribute_write_fails():
    assert bridge_problems("def f(s):\n    s.synchronous_mode = True\n") == []
    (problem,) = bridge_problems("def f(s):\n    s.synchronus_mode = True\n")
    assert ".synchronus_mode exists on no carla class" in problem


def test_a_real_carla_method_the_fake_lacks_fails():
    (problem,) = bridge_problems("def f(vehicle, w):\n    return vehicle.get_wheel_steer_angle(w)\n")
    assert problem == "snippet.py:2: the bridge uses carla's .get_wheel_steer_angle, which the fake does not implement"


@pytest.mark.parametrize("name", ["Image", "SemanticLidarMeasurement", "WorldSnapshot", "Vehicle"])
def test_handles_carla_cannot_build_are_built_only_by_the_fake(name):
    init = inspect.signature(getattr(fake_carla, name).__init__)
    assert all(p.startswith("_") for p in list(init.parameters)[1:])
