"""Checks that need the whole scenario: names that must exist, references without cycles.

Types are pydantic's job (model.py); this module catches what a single field cannot know,
such as `relative_to: parkd` or `$speed` where no param `speed` exists.
"""

from __future__ import annotations

import graphlib

from edgecase.errors import InputError, SourcePos
from edgecase.scenario.base import suggest
from edgecase.scenario.expr import VALUE_FUNCTIONS, Attr, Binary, Call, Expr, Index, Name, Param, Unary
from edgecase.scenario.model import ACTOR_REF, ScenarioSpec
from edgecase.scenario.oracles import ACTOR_TIMES, ORACLES
from edgecase.scenario.source import YamlDoc
from edgecase.scenario.walk import expressions

COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")


def check_references(spec: ScenarioSpec, doc: YamlDoc) -> None:
    _check_ego(spec, doc)
    _check_value_expressions(spec, doc)
    for name, actor in spec.actors.items():
        _check_placement(spec, doc, name)
        one_step = not isinstance(doc.data["actors"][name].get("behavior"), list)  # `behavior: {stop: ...}`: no index in the file
        for index, step in enumerate(actor.behavior):
            _check_step(spec, doc, ("actors", name, "behavior") + (() if one_step else (index,)), step)
    for name, surface in spec.surfaces.items():  # patches are placed after every actor, so any actor may be named
        for ref in (surface.at.relative_to,) + tuple(surface.at.between or ()):
            if ref:
                actor_ref(spec, ref, doc.pos(("surfaces", name, "at")))
    _check_criticality(spec, doc)
    if spec.traffic_lights.green_for:
        actor_ref(spec, spec.traffic_lights.green_for, doc.pos(("traffic_lights", "green_for")))
    for index, expr in enumerate(spec.expect):
        _check_oracle(spec, expr, doc.pos(("expect", index)))
    if spec.sweep:
        for key in spec.sweep.grid:
            if key not in spec.params:
                raise InputError(f"sweep grid: no param '{key}' ({suggest(key, list(spec.params))})", doc.pos(("sweep", "grid", key), key=True))


def actor_ref(spec: ScenarioSpec, ref: str, pos: SourcePos) -> tuple[str, int]:
    """'parked[1]' -> ('parked', 1); a bare name means its first instance."""
    match = ACTOR_REF.match(ref)
    if not match:
        raise InputError(f"'{ref}' is not an actor reference (name or name[index])", pos)
    name, index = match.group(1), int(match.group(2) or 0)
    if name not in spec.actors:
        raise InputError(f"no actor '{name}' ({suggest(name, list(spec.actors))})", pos)
    count = spec.actors[name].count
    if isinstance(count, (int, float)) and index >= count:
        raise InputError(f"'{ref}': actor '{name}' has count {count:g}, so indexes run 0..{int(count) - 1}", pos)
    return name, index


def _egos(spec: ScenarioSpec) -> list[str]:
    """Actors that are the ego: role ego, or named 'ego' without a role."""
    return [n for n, a in spec.actors.items() if (a.role or ("ego" if n == "ego" else "background")) == "ego"]


def ego_name(spec: ScenarioSpec) -> str | None:
    egos = _egos(spec)
    return egos[0] if len(egos) == 1 else None


def _check_ego(spec: ScenarioSpec, doc: YamlDoc) -> None:
    egos = _egos(spec)
    if len(egos) != 1:
        where = doc.pos(("actors", egos[1], "role")) if len(egos) > 1 else doc.pos(("actors",), key=True)
        raise InputError(f"a scenario needs exactly one ego actor (found {len(egos)}); name it 'ego' or give it role: ego", where)
    if spec.actors[egos[0]].count != 1:
        raise InputError("the ego is a single actor (count: 1)", doc.pos(("actors", egos[0], "count")))


def shifted(pos: SourcePos, node: Expr) -> SourcePos:
    """The position of `node` inside an expression written at `pos` (exact for one-line plain scalars)."""
    return SourcePos(pos.file, pos.line, pos.col + node.col)


def _check_value_expressions(spec: ScenarioSpec, doc: YamlDoc) -> None:
    for path, expr in expressions(spec):
        if path and path[0] == "expect":
            continue
        for node in expr.walk():
            where = shifted(doc.pos(path), node)
            if isinstance(node, (Name, Attr, Index)):
                hint = f"did you mean '${node.name}'?" if isinstance(node, Name) and node.name in spec.params else "a value is a number or an expression"
                raise InputError(f"'{node}' is not a value here", where, hint)
            if isinstance(node, Param) and node.name not in spec.params:
                raise InputError(f"no param '{node.name}' ({suggest(node.name, list(spec.params))})", where)
            if isinstance(node, Call) and node.func not in VALUE_FUNCTIONS:
                raise InputError(f"unknown function '{node.func}' ({suggest(node.func, list(VALUE_FUNCTIONS))})", where)


def param_order(spec: ScenarioSpec, doc: YamlDoc) -> tuple[str, ...]:
    """Params sorted so each comes after the params it uses; a cycle is an error at its first member."""
    graph = {name: (value.params() if isinstance(value, Expr) else frozenset()) for name, value in spec.params.items()}
    try:
        return tuple(graphlib.TopologicalSorter({k: sorted(v) for k, v in graph.items()}).static_order())
    except graphlib.CycleError as err:
        cycle = err.args[1]
        raise InputError(f"params form a cycle: {' -> '.join('$' + n for n in cycle)}", doc.pos(("params", cycle[0]))) from None


def placement_order(spec: ScenarioSpec, doc: YamlDoc) -> tuple[str, ...]:
    """Actors sorted so each is placed after the actors its placement refers to (file order otherwise)."""
    graph: dict[str, list[str]] = {}
    for name, actor in spec.actors.items():
        at = actor.at
        refs = [r for r in ((at.relative_to, junction_actor(at)) + tuple(at.between or ())) if r]
        deps = []
        for ref in refs:
            other, _ = actor_ref(spec, ref, doc.pos(("actors", name, "at")))
            if other == name:
                raise InputError(f"actor '{name}' is placed relative to itself", doc.pos(("actors", name, "at")))
            deps.append(other)
        graph[name] = deps
    sorter = graphlib.TopologicalSorter()
    for name in spec.actors:  # file order breaks ties
        sorter.add(name, *graph[name])
    try:
        return tuple(sorter.static_order())
    except graphlib.CycleError as err:
        cycle = err.args[1]
        raise InputError(f"placements refer to each other in a cycle: {' -> '.join(cycle)}", doc.pos(("actors", cycle[0], "at"))) from None


def junction_actor(at) -> str | None:
    """The actor named by `junction: NAME` (whose next junction the placement uses), if any."""
    return at.junction if isinstance(at.junction, str) and at.junction != "any" else None


def _check_placement(spec: ScenarioSpec, doc: YamlDoc, name: str) -> None:
    at = spec.actors[name].at
    for ref in (at.relative_to, junction_actor(at)) + tuple(at.between or ()):
        if ref:
            actor_ref(spec, ref, doc.pos(("actors", name, "at")))


def _check_step(spec: ScenarioSpec, doc: YamlDoc, path: tuple, step) -> None:
    params = step.params
    target = getattr(params, "target", None)
    if isinstance(target, str):
        actor_ref(spec, target, doc.pos(path + (step.name, "target")))
    when = step.when
    if when is None:
        return
    wpath = path + ("when",)
    for key in ("distance_to", "ttc_to", "actor"):
        ref = getattr(when, key)
        if ref:
            actor_ref(spec, ref, doc.pos(wpath + (key,)))
    if when.event:
        ref, behavior, _ = when.event.split(".")
        other, _ = actor_ref(spec, ref, doc.pos(wpath + ("event",)))
        names = [s.name for s in spec.actors[other].behavior]
        if behavior not in names:
            raise InputError(f"actor '{other}' has no behavior '{behavior}' (its steps: {', '.join(names) or 'none'})", doc.pos(wpath + ("event",)))


def _check_criticality(spec: ScenarioSpec, doc: YamlDoc) -> None:
    crit = spec.criticality
    if crit is None:
        return
    key = "conflict" if crit.conflict else "cut_in" if crit.cut_in else "paths_cross"
    pos = doc.pos(("criticality", key))
    first, second = (actor_ref(spec, r, pos)[0] for r in (crit.conflict or crit.cut_in or crit.paths_cross))
    if first == second:
        raise InputError(f"criticality.{key} needs two different actors", pos)
    if crit.paths_cross:
        for name in (first, second):
            at = spec.actors[name].at
            if at.mode not in ("junction", "lane", "relative") or at.before_m is not None or at.after_m is not None:
                raise InputError(
                    f"criticality.paths_cross places '{name}' on its route by the timing: give it a lane or a junction approach, without before_m/after_m",
                    doc.pos(("actors", name, "at")),
                )
    elif crit.conflict:
        if not any(s.name == "cross" for s in spec.actors[second].behavior):
            raise InputError(f"criticality.conflict: '{second}' needs a 'cross' behavior to cross the ego's path", pos)
    else:
        steps = [s for s in spec.actors[first].behavior if s.name == "cut_in"]
        if not steps:
            raise InputError(f"criticality.cut_in: '{first}' needs a 'cut_in' behavior", pos)
        if actor_ref(spec, steps[0].cut_in.target, pos)[0] != second:
            raise InputError(f"criticality.cut_in: '{first}' cuts in on '{steps[0].cut_in.target}', not '{second}'", pos)


def _check_oracle(spec: ScenarioSpec, expr: Expr, pos: SourcePos) -> None:
    """An oracle is a boolean formula of comparisons between oracle calls and numbers."""
    if isinstance(expr, Binary) and expr.op in ("and", "or"):
        _check_oracle(spec, expr.left, pos)
        _check_oracle(spec, expr.right, pos)
    elif isinstance(expr, Unary) and expr.op == "not":
        _check_oracle(spec, expr.operand, pos)
    elif isinstance(expr, Binary) and expr.op in COMPARISONS:
        for side in (expr.left, expr.right):
            if isinstance(side, Call):
                _check_oracle_call(spec, side, pos, want="number")
    elif isinstance(expr, Call):
        _check_oracle_call(spec, expr, pos, want="bool")
    else:
        raise InputError(f"an expect line is a condition, e.g. 'min_ttc_s(ego, child) < 2.5'; got '{expr}'", pos)


def _check_oracle_call(spec: ScenarioSpec, call: Call, pos: SourcePos, want: str) -> None:
    sig = ORACLES.get(call.func)
    if sig is None:
        raise InputError(f"unknown oracle '{call.func}' ({suggest(call.func, list(ORACLES))})", pos)
    if sig.returns != want:
        raise InputError(f"'{call.func}' gives a {sig.returns}, used here as a {want}", pos)
    if len(call.args) != sig.actors:
        raise InputError(f"'{call.func}' takes {sig.actors} actor(s), got {len(call.args)}", pos)
    for arg in call.args:
        _check_actor_expr(spec, arg, pos, allow_time=False)
    for key, value in call.kwargs:
        if key not in sig.keywords:
            raise InputError(f"'{call.func}' has no option '{key}' ({suggest(key, list(sig.keywords))})", pos)
        _check_actor_expr(spec, value, pos, allow_time=True)


def _check_actor_expr(spec: ScenarioSpec, arg: Expr, pos: SourcePos, allow_time: bool) -> None:
    if allow_time and isinstance(arg, Attr):
        if arg.name not in ACTOR_TIMES:
            raise InputError(f"'{arg}': an actor's time is .start or .end", pos)
        _check_actor_expr(spec, arg.obj, pos, allow_time=False)
    elif isinstance(arg, Name):
        actor_ref(spec, arg.name, pos)
    elif isinstance(arg, Index) and isinstance(arg.obj, Name):
        actor_ref(spec, f"{arg.obj.name}[{arg.index}]", pos)
    elif not (allow_time and arg.__class__.__name__ == "Num"):
        raise InputError(f"'{arg}' is not an actor here", pos)
