"""The scenario's `expect` oracles, evaluated on a finished trace: one OracleResult per line.

Each line is parsed again (scenario/expr.py) and its tree evaluated bottom-up. An oracle call
becomes a per-tick series from metrics.py over its window, and its value is that series'
aggregate (min, max, or 'at some tick'); numbers compare as floats (inf included); `and`, `or`
and `not` combine truth values.

The logic is three-valued (Kleene): an oracle that cannot be computed from what the run gives
(`max_visible_fraction` without recorded camera frames: visibility is measured in the ego
camera's instance masks; map oracles without a RoadNetwork) is *unknown*, and so is every line whose truth depends on it: `false and unknown`
is false, `true and unknown` unknown. An unknown line reports passed=None with a note saying
why, never a made-up pass or fail; `verdict` (and the loop's EpisodeResult.passed) counts only
the lines that were evaluated.

Windows: `after=X` keeps ticks with t >= X, `before=X` those with t < X; X is seconds or an
actor time. `a.start` is when a's first triggered behavior started (its first behavior step
with a trigger, else its first step), `a.end` when its last behavior ended, both read from the
trace's behavior_start / behavior_end events. An actor time that never came means: every tick is
before it and none after it. An empty window has the aggregate's identity: min = inf, max = 0
(every max oracle is >= 0), 'at some tick' = false; the result's note says so.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from edgecase.errors import InputError
from edgecase.plan import EpisodePlan
from edgecase.scenario.expr import Attr, Binary, Bool, Call, Expr, Index, Name, Num, Unary, parse_expr
from edgecase.scenario.oracles import ORACLES
from edgecase.sim import metrics
from edgecase.sim.trace import Trace

if TYPE_CHECKING:
    from edgecase.roads import RoadNetwork

NEEDS_SENSORS = "not evaluated: visibility is measured in the ego camera's frames; record them with a rig (--sensors)"
NEEDS_MAP = "not evaluated: needs the road network"

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul,
    "/": lambda a, b: float(np.divide(a, b)), "%": lambda a, b: float(np.fmod(a, b)),
}


@dataclass(frozen=True, slots=True)
class OracleResult:
    """One `expect` line's outcome, like scenario_runner's Criterion but frozen and typed.

    actual/threshold/unit describe the line's oracle call when the line is one call or one
    comparison of a call with a number (`min_ttc_s(ego, child) < 2.5`: actual = the min TTC,
    threshold 2.5, unit 's'); for compound lines actual is the line's truth value. passed is None
    when the line could not be evaluated (note says why). first_violation_t_s: for a failed line,
    the first tick that made it fail, where one exists (a collision that should not happen, a
    distance that dropped too low); None for a failure by absence (TTC never got low enough).
    """

    expr: str
    passed: bool | None
    actual: float | bool | None
    threshold: float | None
    unit: str
    first_violation_t_s: float | None
    note: str = ""


def verdict(results: Iterable[OracleResult]) -> bool:
    """The episode holds when every evaluated line passed; unevaluated lines do not count."""
    return all(r.passed for r in results if r.passed is not None)


@dataclass(frozen=True)
class Visibility:
    """What the ego's cameras saw of each actor at the recorded frames: per actor name, the largest
    visible share of its box over the cameras (0 when out of view), at each tick in `ticks`."""

    ticks: np.ndarray  # (F,) trace ticks with frames
    by_actor: dict[str, np.ndarray]  # name -> (F,) fraction 0..1


def evaluate_expect(plan: EpisodePlan, trace: Trace, network: RoadNetwork | None = None,
                    visibility: Visibility | None = None) -> tuple[OracleResult, ...]:
    """One OracleResult per line of plan.expect, in order."""
    context = _Context(plan, trace, network, visibility)
    return tuple(_evaluate_line(line, context) for line in plan.expect)


# --- values --------------------------------------------------------------------------------------


class _Unknown(Exception):
    """An oracle that cannot be computed from this trace (the message says why)."""


@dataclass(frozen=True, slots=True)
class _Series:
    """An oracle's per-tick values inside its window, and how they aggregate."""

    t_s: np.ndarray
    values: np.ndarray
    agg: Literal["min", "max", "any"]

    @property
    def value(self) -> float | bool:
        if self.agg == "any":
            return bool(self.values.any())
        if self.agg == "min":
            return float(self.values.min(initial=math.inf))
        return float(self.values.max(initial=0.0))

    def first_t_s(self, ticks: np.ndarray) -> float | None:
        return float(self.t_s[np.argmax(ticks)]) if ticks.any() else None


@dataclass(frozen=True, slots=True)
class _Value:
    """A node's value (None: unknown), the earliest time that settled it (if any), notes."""

    value: float | bool | None
    witness_t_s: float | None = None
    notes: tuple[str, ...] = ()
    series: _Series | None = None  # set for an oracle call


# --- evaluation ----------------------------------------------------------------------------------


def _evaluate_line(line: str, context: _Context) -> OracleResult:
    tree = parse_expr(line)
    result = _eval(tree, context)
    passed = None if result.value is None else bool(result.value)
    actual, threshold, unit = _headline(tree, context, passed)
    violation = result.witness_t_s if passed is False else None
    return OracleResult(line, passed, actual, threshold, unit, violation, "; ".join(dict.fromkeys(result.notes)))


def _headline(tree: Expr, context: _Context, passed: bool | None) -> tuple[float | bool | None, float | None, str]:
    """actual, threshold and unit for the result: of the line's one oracle call if it has one."""
    while isinstance(tree, Unary) and tree.op == "not":
        tree = tree.operand
    if isinstance(tree, Call):
        return _eval(tree, context).value, None, ORACLES[tree.func].unit
    if isinstance(tree, Binary) and tree.op in _COMPARE:
        call, other = (tree.left, tree.right) if isinstance(tree.left, Call) else (tree.right, tree.left)
        if isinstance(call, Call) and not _has_call(other):
            threshold = _eval(other, context).value
            return _eval(call, context).value, None if threshold is None else float(threshold), ORACLES[call.func].unit
    return passed, None, ""


def _has_call(tree: Expr) -> bool:
    return any(isinstance(node, Call) for node in tree.walk())


def _eval(node: Expr, context: _Context) -> _Value:
    match node:
        case Num(value=value):
            return _Value(float(value))
        case Bool(value=value):
            return _Value(value)
        case Call():
            return context.call(node)
        case Unary(op="not", operand=operand):
            inner = _eval(operand, context)
            return _Value(None if inner.value is None else not inner.value, inner.witness_t_s, inner.notes)
        case Unary(op=op, operand=operand):
            inner = _eval(operand, context)
            value = None if inner.value is None else (-float(inner.value) if op == "-" else float(inner.value))
            return _Value(value, None, inner.notes)
        case Binary(op="and" | "or" as op, left=left, right=right):
            return _connective(op, _eval(left, context), _eval(right, context))
        case Binary(op=op, left=left, right=right) if op in _COMPARE:
            return _compare(op, _eval(left, context), _eval(right, context))
        case Binary(op=op, left=left, right=right) if op in _ARITHMETIC:
            return _arithmetic(op, _eval(left, context), _eval(right, context))
    raise InputError(f"'{node}' cannot be evaluated on a trace (an expect line compares oracle calls and numbers)")


def _connective(op: str, left: _Value, right: _Value) -> _Value:
    """Kleene's and/or. The witness of a settled result is when its deciding operands settled:
    the earliest of the operands that decide it alone (a false in `and`), else the latest."""
    notes = left.notes + right.notes
    decisive = op == "or"  # the operand value that decides the result on its own
    values = [None if v.value is None else bool(v.value) for v in (left, right)]
    if decisive in values:
        times = [v.witness_t_s for v, b in zip((left, right), values) if b is decisive and v.witness_t_s is not None]
        return _Value(decisive, min(times) if times else None, notes)
    if None in values:
        return _Value(None, None, notes)
    both = (left.witness_t_s, right.witness_t_s)
    return _Value(not decisive, None if None in both else max(both), notes)  # type: ignore[type-var]


def _compare(op: str, left: _Value, right: _Value) -> _Value:
    notes = left.notes + right.notes
    if left.value is None or right.value is None:
        return _Value(None, None, notes)
    value = _COMPARE[op](float(left.value), float(right.value))
    if left.series is not None and right.series is None:
        return _Value(value, _witness(left.series, op, float(right.value), value), notes)
    if right.series is not None and left.series is None:
        return _Value(value, _witness(right.series, _FLIP[op], float(left.value), value), notes)
    return _Value(value, None, notes)


def _witness(series: _Series, op: str, threshold: float, value: bool) -> float | None:
    """The first tick that settled `aggregate(series) op threshold`.

    `min < c` holds as soon as one tick is below c (witness when true); `min > c` needs every
    tick above c, so it fails at the first tick that is not (witness when false); max mirrors.
    """
    if op in ("==", "!=") or series.agg == "any":
        return None
    holds = _COMPARE[op](series.values, threshold)
    exists = (series.agg == "min") == (op in ("<", "<="))
    if exists:
        return series.first_t_s(holds) if value else None
    return None if value else series.first_t_s(~holds)


def _arithmetic(op: str, left: _Value, right: _Value) -> _Value:
    notes = left.notes + right.notes
    if left.value is None or right.value is None:
        return _Value(None, None, notes)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = _ARITHMETIC[op](float(left.value), float(right.value))
    if math.isnan(value):
        return _Value(None, None, notes + (f"not evaluated: '{op}' gave no number (NaN)",))
    return _Value(value, None, notes)


# --- oracle calls --------------------------------------------------------------------------------


class _Context:
    """The plan, trace and map one evaluation reads, and the oracle calls computed so far."""

    def __init__(self, plan: EpisodePlan, trace: Trace, network: RoadNetwork | None, visibility: Visibility | None = None):
        self.plan, self.trace, self.network, self.visibility = plan, trace, network, visibility
        self._calls: dict[str, _Value] = {}

    def call(self, node: Call) -> _Value:
        key = str(node)
        if key not in self._calls:
            self._calls[key] = self._compute(node)
        return self._calls[key]

    def _compute(self, node: Call) -> _Value:
        if node.func not in ORACLES:
            raise InputError(f"unknown oracle '{node.func}' in '{node}'")
        try:
            actors = [self.actor(arg) for arg in node.args]
            mask, notes = self.window(node)
            raw = _oracle_series(node.func, actors, self)
        except _Unknown as why:
            return _Value(None, None, (str(why),))
        keep = mask[raw.ticks]
        series = _Series(raw.t_s[keep], raw.values[keep], raw.agg)
        if not mask.any():
            notes += (f"{node}: its window holds no tick, so its value is {series.value}",)
        witness = series.first_t_s(series.values) if series.agg == "any" else None
        return _Value(series.value, witness, notes, series)

    def actor(self, arg: Expr) -> int:
        """The trace row of an actor argument: `ego`, `parked[1]`; a bare name is its first instance."""
        if isinstance(arg, Index) and isinstance(arg.obj, Name):
            name = f"{arg.obj.name}[{arg.index}]"
        elif isinstance(arg, Name):
            name = arg.name if arg.name in self.trace.names else f"{arg.name}[0]"
        else:
            raise InputError(f"'{arg}' is not an actor (a name such as ego or parked[1])")
        if name not in self.trace.names:
            raise _Unknown(f"not evaluated: no actor '{name}' in this episode")
        return self.trace.names.index(name)

    def window(self, node: Call) -> tuple[np.ndarray, tuple[str, ...]]:
        """The ticks in the call's before=/after= window, and notes on actor times that never came."""
        t_s = self.trace.t_s
        mask, notes = np.ones(len(t_s), dtype=bool), ()
        for key, value in node.kwargs:
            if key not in ("before", "after"):
                raise InputError(f"'{node.func}' has no option '{key}'")
            at = self.time_s(value)
            if at is None:
                notes += (f"{value} never happened: every tick is before it, none after",)
                mask &= key == "before"
            else:
                mask &= (t_s < at) if key == "before" else (t_s >= at)
        return mask, notes

    def time_s(self, value: Expr) -> float | None:
        if isinstance(value, Num):
            return float(value.value)
        if isinstance(value, Unary) and value.op == "-" and isinstance(value.operand, Num):
            return -float(value.operand.value)
        if isinstance(value, Attr) and value.name in ("start", "end"):
            name = self.trace.names[self.actor(value.obj)]
            return actor_start_s(self.plan, self.trace, name) if value.name == "start" else actor_end_s(self.trace, name)
        raise InputError(f"'{value}' is not a time (seconds, or an actor's .start or .end)")


@dataclass(frozen=True, slots=True)
class _Raw:
    """An oracle's values at `ticks` (indices into the trace), before windowing."""

    ticks: np.ndarray
    t_s: np.ndarray
    values: np.ndarray
    agg: Literal["min", "max", "any"]


def _oracle_series(func: str, actors: list[int], context: _Context) -> _Raw:
    trace, network = context.trace, context.network
    every = np.arange(len(trace.t_s))

    def per_tick(values: np.ndarray, agg: Literal["min", "max", "any"]) -> _Raw:
        return _Raw(every, trace.t_s, values, agg)

    def need_map() -> RoadNetwork:
        if network is None:
            raise _Unknown(NEEDS_MAP)
        return network

    match func:
        case "collision":
            return per_tick(metrics.collisions(trace, *actors), "any")
        case "any_collision":
            return per_tick(metrics.any_collision(trace, actors[0]), "any")
        case "min_ttc_s":
            return per_tick(metrics.ttc_s(trace, *actors), "min")
        case "min_distance_m":
            return per_tick(metrics.distance_m(trace, *actors), "min")
        case "min_thw_s":
            return per_tick(metrics.thw_s(trace, *actors), "min")
        case "min_pet_s":
            return _pet_series(trace, *actors)
        case "max_visible_fraction":
            seen = context.visibility
            if seen is None:
                raise _Unknown(NEEDS_SENSORS)
            values = seen.by_actor.get(trace.names[actors[0]], np.zeros(len(seen.ticks)))
            return _Raw(seen.ticks, trace.t_s[seen.ticks], values, "max")
        case "max_decel_mps2":
            return per_tick(metrics.decel_mps2(trace, actors[0]), "max")
        case "lane_departure":
            return per_tick(metrics.lane_departure(trace, actors[0], context.plan, need_map()), "any")
        case "off_road":
            return per_tick(metrics.off_road(trace, actors[0], need_map()), "any")
        case "ran_red_light":
            return per_tick(metrics.ran_red_light(trace, actors[0], need_map()), "any")
        case "started":
            start = actor_start_s(context.plan, trace, trace.names[actors[0]])
            return per_tick(trace.t_s >= start if start is not None else np.zeros(len(every), dtype=bool), "any")
    raise InputError(f"oracle '{func}' has no implementation on traces")


def _pet_series(trace: Trace, i: int, j: int) -> _Raw:
    """PET is one value, stamped at the tick the second actor entered the conflict area."""
    found = metrics.post_encroachment(trace, i, j)
    if found.entry_t_s is None:
        empty = np.zeros(0)
        return _Raw(np.zeros(0, dtype=int), empty, empty, "min")
    tick = np.array([int(np.argmin(np.abs(trace.t_s - found.entry_t_s)))])
    return _Raw(tick, trace.t_s[tick], np.array([found.pet_s]), "min")


# --- actor times ---------------------------------------------------------------------------------


def actor_start_s(plan: EpisodePlan, trace: Trace, name: str) -> float | None:
    """When the actor's first triggered behavior step started (its first step if none has a
    trigger); None if it never did. Steps run in sequence, each starting once, so the step is
    found among the actor's behavior_start events by its name and occurrence when the events
    name behaviors (Event.detail), else by its position."""
    steps = next((a.behaviors for a in plan.actors if a.name == name), ())
    if not steps:
        return None
    k = next((n for n, step in enumerate(steps) if step.trigger is not None), 0)
    started = trace.events_of("behavior_start", name)
    names = {step.name for step in steps}
    if any(e.detail in names for e in started):
        matching = [e for e in started if e.detail == steps[k].name]
        nth = sum(1 for step in steps[:k] if step.name == steps[k].name)
        return matching[nth].t_s if nth < len(matching) else None
    return started[k].t_s if k < len(started) else None


def actor_end_s(trace: Trace, name: str) -> float | None:
    """When the actor's last behavior step ended; None if none did."""
    ended = trace.events_of("behavior_end", name)
    return ended[-1].t_s if ended else None
