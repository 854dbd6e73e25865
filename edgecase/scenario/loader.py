"""Read a scenario file: YAML with positions, `extends:` merged, keys and types validated, names checked.

`load_scenario` returns a `Scenario`: the typed spec plus the source positions the compiler
needs to point at a field when a value it samples turns out unusable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from edgecase.errors import InputError, SourcePos
from edgecase.scenario.checks import check_references, param_order, placement_order
from edgecase.scenario.model import ScenarioSpec
from edgecase.scenario.source import Limits, YamlDoc, load_yaml, load_yaml_file

MAX_EXTENDS_DEPTH = 16


@dataclass(frozen=True)
class Scenario:
    """A checked scenario, ready to compile for any seed."""

    spec: ScenarioSpec
    doc: YamlDoc  # merged source positions (each value keeps the file it came from)
    base_dir: Path  # where relative map paths resolve
    sha256: str  # of the canonical merged content: the scenario's identity in plans and manifests
    param_order: tuple[str, ...]  # params in an order where each comes after those it uses
    placement_order: tuple[str, ...]  # actors in an order where each comes after those it is placed by

    @property
    def name(self) -> str:
        return self.spec.name

    def pos(self, *path: str | int, key: bool = False) -> SourcePos:
        # The model's paths, on the data as written: `behavior: {stop: ...}` has no step index 0 in the file.
        return self.doc.pos(_data_path(self.doc.data, path), key=key)


def load_scenario(path: str | Path, *, limits: Limits = Limits()) -> Scenario:
    path = Path(path)
    doc = _resolve_extends(load_yaml_file(path, limits=limits), path, limits, chain=())
    return _build(doc, path.parent)


def loads_scenario(text: str, name: str = "<string>", *, base_dir: Path | None = None, limits: Limits = Limits()) -> Scenario:
    """A scenario from text (notebooks, tests); `extends:` resolves against base_dir (default: cwd)."""
    base = base_dir or Path.cwd()
    doc = _resolve_extends(load_yaml(text, name, limits=limits), base / name, limits, chain=())
    return _build(doc, base)


def _build(doc: YamlDoc, base_dir: Path) -> Scenario:
    spec = validate(doc)
    check_references(spec, doc)
    canonical = json.dumps(doc.data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    map_file = doc.pos(("map",)).file
    if map_file != doc.file:  # `map:` written in an extended base file: its path is relative to that file
        base_dir = Path(map_file).parent
    return Scenario(spec, doc, base_dir, digest, param_order(spec, doc), placement_order(spec, doc))


def validate(doc: YamlDoc) -> ScenarioSpec:
    """Keys and types; the first problem becomes an InputError at its line and column."""
    if not isinstance(doc.data, dict):
        raise InputError("a scenario file is a mapping of keys (edgecase, name, map, actors, ...)", doc.pos(()))
    return validate_as(ScenarioSpec, doc)


_Model = TypeVar("_Model", bound=BaseModel)


def validate_as(model: type[_Model], doc: YamlDoc) -> _Model:
    """`doc.data` validated as `model` (any Strict model: scenarios, sensor rigs); the first problem
    becomes an InputError at its line and column, with did-you-mean for unknown keys."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as err:
        raise _to_input_error(err, doc) from None


def _to_input_error(err: ValidationError, doc: YamlDoc) -> InputError:
    first = err.errors(include_url=False)[0]
    path = _data_path(doc.data, first["loc"])
    ctx = first.get("ctx") or {}
    kind = first["type"]
    if kind == "unknown_key":  # point at the key itself where it is one (not the shorthand `behavior: name`)
        key_path = path + (ctx["key"],)
        return InputError(first["msg"], doc.key_pos[key_path] if key_path in doc.key_pos else doc.pos(path))
    if kind == "missing":
        name = first["loc"][-1]
        return InputError(f"missing key '{name}'", doc.pos(path))
    pos = doc.pos(path)
    if kind == "expr" and isinstance(ctx.get("offset"), int):
        pos = SourcePos(pos.file, pos.line, pos.col + ctx["offset"])
    where = f"'{path[-1]}': " if path and isinstance(path[-1], str) else ""
    return InputError(where + _plain(first["msg"]), pos)


def _plain(message: str) -> str:
    """pydantic's messages, minus the prefix its custom errors add."""
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """pydantic's error location, minus its union-branch and validator tags, as a YAML path."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
    return tuple(path)


def _resolve_extends(doc: YamlDoc, path: Path, limits: Limits, chain: tuple[Path, ...]) -> YamlDoc:
    data = doc.data
    if not isinstance(data, dict) or "extends" not in data:
        return doc
    target = data["extends"]
    pos = doc.pos(("extends",))
    if not isinstance(target, str):
        raise InputError("'extends' names a scenario file", pos)
    try:  # a name the OS refuses (a NUL, too long) is a missing file, not an OSError or ValueError
        base_path = (path.parent / target).resolve()
        is_file = base_path.is_file()
    except (OSError, ValueError):
        base_path, is_file = path.parent / target, False
    here = path.resolve()
    if base_path in chain or base_path == here:
        raise InputError(f"'extends' forms a cycle: {' -> '.join(p.name for p in (*chain, here, base_path))}", pos)
    if len(chain) >= MAX_EXTENDS_DEPTH:
        raise InputError(f"'extends' chain deeper than {MAX_EXTENDS_DEPTH} files", pos)
    if not is_file:
        raise InputError(f"'extends': no such file {target}", pos)
    base = _resolve_extends(load_yaml_file(base_path, limits=limits), base_path, limits, (*chain, here))
    return merge_docs(_expand_shorthands(base), _expand_shorthands(_without(doc, "extends")))


def _without(doc: YamlDoc, key: str) -> YamlDoc:
    data = {k: v for k, v in doc.data.items() if k != key}
    keep = lambda paths: {p: v for p, v in paths.items() if not p or p[0] != key}  # noqa: E731
    return YamlDoc(doc.file, data, keep(doc.value_pos), keep(doc.key_pos))


def _expand_shorthands(doc: YamlDoc) -> YamlDoc:
    """`weather: WetNoon` as `weather: {preset: WetNoon}`, so a child's `weather: {fog_density: 10}`
    merges into the base's preset instead of replacing it."""
    data = doc.data
    if isinstance(data, dict) and isinstance(data.get("weather"), str):
        data = {**data, "weather": {"preset": data["weather"]}}
        return YamlDoc(doc.file, data, {**doc.value_pos, ("weather", "preset"): doc.pos(("weather",))}, doc.key_pos)
    return doc


def merge_docs(base: YamlDoc, child: YamlDoc) -> YamlDoc:
    """The child's keys override the base's; mappings merge key by key, lists and scalars are replaced."""
    data = _merge(base.data, child.data)
    value_pos: dict = {}
    key_pos: dict = {}
    for path in _paths(data):
        for source in (child, base):
            if path in source.value_pos and _defined_in(source.data, path):
                value_pos[path] = source.value_pos[path]
                if path in source.key_pos:
                    key_pos[path] = source.key_pos[path]
                break
    return YamlDoc(child.file, data, value_pos, key_pos)


def _merge(base: Any, child: Any) -> Any:
    if isinstance(base, dict) and isinstance(child, dict):
        merged = dict(base)
        for key, value in child.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    return child


def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, path + (index,))
    return out


def _defined_in(data: Any, path: tuple) -> bool:
    """Whether this very node (not just a mapping above it) is written in `data`."""
    node = data
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return False
    return True


def scenario_files(paths: Iterable[Path | str]) -> list[Path]:
    """Files as given; directories expand to their *.yaml / *.yml files, sorted (as `edgecase check`)."""
    paths = [Path(p) for p in paths]
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            out.append(path)
    if not out:
        raise InputError(f"no scenario files (*.yaml, *.yml) in {', '.join(map(str, paths))}")
    return out
