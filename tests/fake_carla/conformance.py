"""Does the fake carla, and does the bridge, use only what the installed carla 0.9.16 wheel has?

Two complementary checks, each returning a list of problems (empty = conforms):

* `check_fake(fake_module, carla)`: every class the fake exports exists in carla under that name;
  every method, property and annotated attribute it defines (through its base classes, dunders
  included) exists on carla's class, as a method where carla has a method and as an attribute
  where carla has a property; every enum member exists with carla's value; and every method's
  signature is one carla accepts. carla's methods are Boost.Python functions without Python
  signatures, so signatures come from their docstrings, one line per overload:
  `spawn_actor( (World)arg1, (ActorBlueprint)blueprint, (Transform)transform [, (Actor)attach_to=None ...]) -> Actor`.
  Parameters after `[` are optional; `argN` names cannot be passed by keyword (so the fake must make
  them positional-only). A fake method is compatible when, for every number of positional
  arguments it accepts, some overload takes exactly those (same names, in order) and any
  keyword-only parameter the fake has. Classes carla cannot instantiate from Python ("This class
  cannot be instantiated") must have constructors whose parameters are all `_private`, so nothing
  outside the fake can build one.
* `check_bridge(sources, carla, fake_module)`: an AST walk of the bridge's source. Every attribute
  chain on the carla module (by the bridge's convention a name or attribute called `carla`)
  resolves in the real module, and calls to them match an overload (positional count and keyword
  names). Every other attribute read, written or called (`world.get_snapshot()`) exists on some class
  of carla, of Python's builtins, numpy, the stdlib modules and edgecase modules the file imports,
  or the bridge's own classes; one that exists nowhere is a misspelling. A method name only carla
  has must match one of carla's overloads, and must be implemented by the fake, so the end-to-end
  tests run it rather than a real server finding it first.
"""

from __future__ import annotations

import ast
import builtins
import enum
import hashlib
import importlib
import inspect
import pathlib
import queue
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

ANY = None  # an overload that takes anything (a Python-level `(tuple args, dict kwds)` wrapper)


@dataclass(frozen=True)
class Param:
    name: str
    optional: bool

    @property
    def positional_only(self) -> bool:
        return re.fullmatch(r"arg\d+", self.name) is not None


Overload = tuple[Param, ...]

_PARAM = re.compile(r"\[|\]|\((?P<type>[\w:.]+)\)\s*(?P<name>\w+)")


def parse_overloads(doc: str | None, name: str) -> list[Overload | None] | None:
    """Every overload in a Boost.Python docstring, without `self`; None when the doc has none."""
    if not doc:
        return None
    if re.search(rf"object {re.escape(name)}\(tuple args, dict kwds\)", doc):
        return [ANY]
    found = []
    for line in doc.splitlines():
        match = re.match(rf"^\s*{re.escape(name)}\((.*)\) -> ", line)
        if match is None:
            continue
        text = match.group(1)
        depth, params = 0, []
        for token in _PARAM.finditer(text):
            if token.group(0) == "[":
                depth += 1
            elif token.group(0) == "]":
                depth -= 1
            else:
                params.append(Param(token.group("name"), depth > 0))
        # `self` comes first, except in docs that open with '[' (self's name then labels the first real parameter)
        found.append(tuple(params if text.lstrip().startswith("[") else params[1:]))
    return found or None


def real_overloads(owner: Any, name: str) -> list[Overload | None] | None:
    member = getattr(owner, name)
    parsed = parse_overloads(getattr(member, "__doc__", None), name)
    if parsed is not None:
        return parsed
    try:  # a pure-Python function in the wheel
        signature = inspect.signature(member)
    except (TypeError, ValueError):
        return None
    params = [p for p in signature.parameters.values() if p.name != "self"]
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return [ANY]
    return [tuple(Param(p.name, p.default is not p.empty) for p in params)]


def uninstantiable(cls: type) -> bool:
    return "cannot be instantiated" in (getattr(cls.__init__, "__doc__", "") or "")


# --- (a) the fake against carla ---------------------------------------------------------------

def _accepts(overload: Overload | None, given: list[inspect.Parameter], keywords: list[inspect.Parameter]) -> bool:
    if overload is ANY:
        return True
    required = sum(not p.optional for p in overload)
    if not required <= len(given) <= len(overload):
        return False
    for mine, theirs in zip(given, overload):
        if theirs.positional_only:
            if mine.kind is not inspect.Parameter.POSITIONAL_ONLY:
                return False  # the bridge could pass it by a keyword carla does not know
        elif mine.name != theirs.name:
            return False
    rest = {p.name for p in overload[len(given):] if not p.positional_only}
    return all(k.name in rest for k in keywords)


def signature_problem(fake_fn: Any, overloads: list[Overload | None]) -> str | None:
    """Why carla would refuse a call the fake accepts; None if it never would."""
    params = list(inspect.signature(inspect.unwrap(fake_fn)).parameters.values())[1:]
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return "takes *args or **kwargs: state the parameters carla takes"
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    keywords = [p for p in params if p.kind is p.KEYWORD_ONLY]
    required = sum(p.default is p.empty for p in positional)
    for count in range(required, len(positional) + 1):
        if not any(_accepts(o, positional[:count], keywords) for o in overloads):
            shown = ", ".join(p.name for p in positional[:count] + keywords) or "no arguments"
            real = " | ".join("(...)" if o is ANY else "(" + ", ".join(p.name + ("=" if p.optional else "")
                                                                     for p in o) + ")" for o in overloads)
            return f"accepts ({shown}) but carla's overloads are {real}"
    return None


def _fake_members(cls: type) -> dict[str, Any]:
    """Public members and dunders the fake defines on cls or its fake bases (not object's or enum's)."""
    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith("tests.fake_carla"):
            continue
        for name in getattr(klass, "__annotations__", {}):
            out.setdefault(name, "attribute")
        for name, value in vars(klass).items():
            if name.startswith("_") and not (name.startswith("__") and name.endswith("__")):
                continue
            if name in ("__module__", "__qualname__", "__doc__", "__dict__", "__weakref__", "__annotations__",
                        "__slots__", "__firstlineno__", "__static_attributes__", "__init__"):
                continue
            out[name] = value
    return out


def check_class(fake_cls: type, real_cls: type, where: str) -> list[str]:
    problems = []
    if isinstance(fake_cls, enum.EnumMeta):
        for member in fake_cls:
            real = getattr(real_cls, member.name, None)
            if real is None:
                problems.append(f"{where}.{member.name}: carla has no such member")
            elif int(real) != int(member.value):
                problems.append(f"{where}.{member.name} = {int(member.value)}, carla's is {int(real)}")
        return problems
    problems += _check_init(fake_cls, real_cls, where)
    for name, value in _fake_members(fake_cls).items():
        if not hasattr(real_cls, name):
            problems.append(f"{where}.{name}: carla's {real_cls.__name__} has no {name!r}")
            continue
        real = inspect.getattr_static(real_cls, name, None)
        real_is_property = isinstance(real, property) or type(real).__name__ in ("property", "getset_descriptor")
        if value == "attribute" or inspect.isdatadescriptor(value):  # annotations, properties, __slots__
            if not real_is_property and callable(getattr(real_cls, name)) and not isinstance(getattr(real_cls, name), type):
                problems.append(f"{where}.{name}: an attribute in the fake, a method in carla")
            continue
        if real_is_property:
            problems.append(f"{where}.{name}: a method in the fake, an attribute in carla")
            continue
        if name.startswith("__"):
            continue  # dunders: existence is what matters
        overloads = real_overloads(real_cls, name)
        if overloads is None:
            problems.append(f"{where}.{name}: carla's has no signature to compare with")
            continue
        problem = signature_problem(value, overloads)
        if problem:
            problems.append(f"{where}.{name} {problem}")
    return problems


def _check_init(fake_cls: type, real_cls: type, where: str) -> list[str]:
    init = vars(fake_cls).get("__init__")
    if init is None:
        return []
    if uninstantiable(real_cls):
        params = list(inspect.signature(init).parameters)[1:]
        public = [p for p in params if not p.startswith("_")]
        return [f"{where}(): carla cannot build it from Python, so its parameters must be _private, not {public}"] if public else []
    overloads = real_overloads(real_cls, "__init__")
    if overloads is None:
        return [f"{where}(): carla's constructor has no signature to compare with"]
    problem = signature_problem(init, overloads)
    return [f"{where}() {problem}"] if problem else []


def check_fake(fake_module: ModuleType, carla: ModuleType, names: Iterable[str] | None = None) -> list[str]:
    """Problems with the fake's public API against carla (see the module docstring)."""
    problems = []
    for name in names if names is not None else fake_module.__all__:
        fake_obj, real_obj = getattr(fake_module, name), getattr(carla, name, None)
        where = f"{fake_module.__name__.rsplit('.', 1)[-1]}.{name}"
        if real_obj is None:
            problems.append(f"{where}: carla has no {name!r}")
        elif isinstance(fake_obj, ModuleType):
            problems += check_fake(fake_obj, real_obj)
        elif isinstance(fake_obj, type):
            problems += check_class(fake_obj, real_obj, where)
    return problems


# --- (b) the bridge's source against carla ----------------------------------------------------

@dataclass(frozen=True)
class Use:
    name: str  # the attribute, or for carla chains the dotted path below the module
    file: str
    line: int
    call: tuple[int, tuple[str, ...]] | None  # (positional count, keyword names) when called
    on_carla: bool  # an attribute chain on the carla module itself


def _carla_path(node: ast.AST) -> list[str] | None:
    """['command', 'DestroyActor'] for carla.command.DestroyActor; None if not rooted at `carla`."""
    path: list[str] = []
    while isinstance(node, ast.Attribute):
        if node.attr == "carla" and not path:
            return None
        if node.attr == "carla":
            return list(reversed(path))
        path.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id == "carla" and path:
        return list(reversed(path))
    return None


def bridge_uses(sources: Mapping[str, str]) -> tuple[list[Use], dict[str, str], set[str]]:
    """(uses, imported module aliases -> module name, the bridge's own attribute names)."""
    uses: list[Use] = []
    modules: dict[str, str] = {}
    own: set[str] = set()
    for file, text in sources.items():
        tree = ast.parse(text, file)
        calls = {id(n.func): n for n in ast.walk(tree) if isinstance(n, ast.Call)}
        inner = set()  # attribute nodes that are the value of another attribute in a carla chain
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    modules[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                own.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
                own.add(node.attr)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                own.add(node.target.id)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or id(node) in inner:
                continue
            call = calls.get(id(node))
            shape = (len(call.args), tuple(k.arg for k in call.keywords if k.arg)) if call else None
            path = _carla_path(node)
            if path is not None:
                value = node.value
                while isinstance(value, ast.Attribute):
                    inner.add(id(value))
                    value = value.value
                uses.append(Use(".".join(path), file, node.lineno, shape, True))
            elif node.attr != "carla" and not (isinstance(node.value, ast.Name) and node.value.id == "self"):
                uses.append(Use(node.attr, file, node.lineno, shape, False))
    return uses, modules, own


def _names_of(obj: Any) -> set[str]:
    names = set(dir(obj))
    for klass in getattr(obj, "__mro__", ()):
        names |= set(getattr(klass, "__annotations__", {}))
        names |= set(getattr(klass, "model_fields", {}))  # pydantic fields are not class attributes
        names |= set(getattr(klass, "__dataclass_fields__", {}))
    return names


def _classes_in(module: ModuleType) -> list[type]:
    return [v for v in vars(module).values() if isinstance(v, type)]


def _carla_classes(carla: ModuleType) -> list[type]:
    return _classes_in(carla) + _classes_in(carla.command)


def generic_names(modules: Mapping[str, str]) -> set[str]:
    """Attribute names that exist outside carla: builtins, numpy, the stdlib, the imported modules."""
    names: set[str] = set()
    for value in vars(builtins).values():
        if isinstance(value, type):
            names |= _names_of(value)
    for cls in (np.ndarray, np.random.Generator, np.random, np.linalg, np.finfo(np.float32), np.generic, queue.Queue,
                threading.Lock, pathlib.Path, memoryview, type(hashlib.sha256())):
        names |= _names_of(cls)
    for target in modules.values():
        obj = _resolve(target)
        if obj is None:
            continue
        names |= _names_of(obj)
        if isinstance(obj, ModuleType) and obj.__name__.startswith("edgecase") or isinstance(obj, type):
            for cls in _classes_in(obj) if isinstance(obj, ModuleType) else [obj]:
                names |= _names_of(cls) | _instance_attributes(cls)
    return names


def _instance_attributes(cls: type) -> set[str]:
    """`self.x = ...` in an edgecase class's own methods (instance attributes dir() cannot see)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("edgecase"):
            continue
        try:
            tree = ast.parse(inspect.getsource(klass).strip())
        except (OSError, TypeError, SyntaxError):
            continue
        names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)
                  and isinstance(n.value, ast.Name) and n.value.id == "self"}
    return names


def _resolve(dotted: str) -> Any:
    try:
        return importlib.import_module(dotted)
    except ImportError:
        module, _, attr = dotted.rpartition(".")
        try:
            return getattr(importlib.import_module(module), attr) if module else None
        except (ImportError, AttributeError):
            return None


def _call_problem(overloads: list[Overload | None] | None, shape: tuple[int, tuple[str, ...]]) -> bool:
    """True if no overload takes `shape` positional arguments and these keywords."""
    if overloads is None:
        return False
    count, keywords = shape
    for overload in overloads:
        if overload is ANY:
            return False
        names = [p.name for p in overload]
        takes = count + len(keywords)
        required = sum(not p.optional for p in overload)
        if count <= len(overload) and required <= takes <= len(overload) and all(
                k in names[count:] and not Param(k, True).positional_only for k in keywords):
            return False
    return True


def check_bridge(sources: Mapping[str, str], carla: ModuleType, fake_module: ModuleType | None = None) -> list[str]:
    """Problems with the bridge's use of carla (see the module docstring)."""
    uses, modules, own = bridge_uses(sources)
    generic = generic_names(modules) | own
    carla_classes = _carla_classes(carla)
    carla_names = set().union(*(_names_of(c) for c in carla_classes))
    fake_names = set().union(*(_names_of(c) for c in _fake_classes(fake_module))) if fake_module else None
    problems = []
    for use in uses:
        where = f"{use.file}:{use.line}"
        if use.on_carla:
            problems += _check_carla_path(use, carla, where)
        elif use.name not in generic and use.name not in carla_names:
            problems.append(f"{where}: .{use.name} exists on no carla class (nor anywhere else the bridge looks): a misspelling?")
        elif use.name not in generic:
            if use.call is not None and all(_call_problem(_overloads_named(c, use.name), use.call)
                                            for c in carla_classes if use.name in vars(c)):
                problems.append(f"{where}: .{use.name}() with {use.call[0]} positional and keywords "
                                f"{list(use.call[1])} matches none of carla's overloads")
            if fake_names is not None and use.name not in fake_names:
                problems.append(f"{where}: the bridge uses carla's .{use.name}, which the fake does not implement")
    return problems


def _overloads_named(cls: type, name: str) -> list[Overload | None] | None:
    return real_overloads(cls, name) if callable(getattr(cls, name, None)) else None


def _check_carla_path(use: Use, carla: ModuleType, where: str) -> list[str]:
    obj: Any = carla
    for part in use.name.split("."):
        if not hasattr(obj, part):
            return [f"{where}: carla.{use.name}: carla has no {part!r} there"]
        owner, obj = obj, getattr(obj, part)
    if use.call is None:
        return []
    overloads = real_overloads(obj, "__init__") if isinstance(obj, type) else real_overloads(owner, part)
    if isinstance(obj, type) and uninstantiable(obj):
        return [f"{where}: carla.{use.name}(): carla cannot build it from Python"]
    if isinstance(obj, enum.Enum) or type(obj).__name__ == "enum":
        return []
    if isinstance(obj, type) and type(obj).__name__ == "enum":
        return []  # VehicleLightState(flags): a Boost enum takes its value
    if _call_problem(overloads, use.call):
        return [f"{where}: carla.{use.name}() with {use.call[0]} positional and keywords {list(use.call[1])} "
                f"matches none of carla's overloads"]
    return []


def _fake_classes(fake_module: ModuleType) -> list[type]:
    out = []
    for name in fake_module.__all__:
        obj = getattr(fake_module, name)
        out += _fake_classes(obj) if isinstance(obj, ModuleType) else [obj] if isinstance(obj, type) else []
    return out


def bridge_sources(folder: pathlib.Path) -> dict[str, str]:
    return {str(path.relative_to(folder.parents[2])): path.read_text() for path in sorted(folder.glob("*.py"))}
