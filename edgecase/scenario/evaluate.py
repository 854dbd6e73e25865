"""Evaluating value expressions: arithmetic, params and the distributions.

Randomness comes only from the `numpy.random.Generator` the caller passes (the compiler's, seeded
by the episode), so one generator state always gives the same value. Oracle expressions parse
with the same grammar (expr.py) but are evaluated on a trace by the simulator.
"""

from __future__ import annotations

import difflib
import math
import operator
import statistics
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import accumulate
from types import MappingProxyType
from typing import Any

import numpy as np

from edgecase.errors import InputError, SourcePos
from edgecase.scenario.expr import (
    _INT_MAX, _ORIGIN, VALUE_FUNCTIONS, Binary, Bool, Call, Expr, ListExpr, Name, Num, Param, Scalar, Str, Unary,
)  # fmt: skip

def evaluate(
    expr: Expr,
    params: Mapping[str, Scalar],
    rng: np.random.Generator | None,
    pos: SourcePos | None = None,
) -> Scalar:
    """The value of a value expression; errors point at `pos` shifted to the offending node.

    `rng` is the only source of randomness; pass None where a random value makes no sense.
    Both sides of `and`/`or` are always evaluated, so the number of draws never depends on
    the values drawn and one seed gives one stream.
    """
    return _Evaluator(params, rng, pos or _ORIGIN).value(expr)


@dataclass(frozen=True, slots=True)
class _Evaluator:
    params: Mapping[str, Scalar]
    rng: np.random.Generator | None
    origin: SourcePos

    def value(self, expr: Expr) -> Scalar:
        match expr:
            case Num(value=value) | Str(value=value) | Bool(value=value):
                return value
            case Param(name=name):
                return self.param(expr, name)
            case Call(func=func):
                function = _FUNCTIONS.get(func)
                if function is None:
                    raise self.fail(expr, f"unknown function '{func}'", _did_you_mean(func, VALUE_FUNCTIONS))
                return self.checked(expr, function(self, expr))
            case Unary(op=op, operand=operand):
                return self.checked(expr, self.unary(expr, op, self.value(operand)))
            case Binary(op=op, left=left, right=right):
                return self.checked(expr, self.binary(expr, op, self.value(left), self.value(right)))
            case ListExpr():
                raise self.fail(expr, "a list is only allowed as choice(..., weights=[...])")
        raise self.not_a_value(expr)

    def param(self, expr: Expr, name: str) -> Scalar:
        if name not in self.params:
            raise self.fail(expr, f"no param '{name}'", _did_you_mean(name, self.params, "$"))
        value = self.params[name]
        value = value.item() if isinstance(value, np.generic) else value
        if not isinstance(value, (bool, int, float, str)):
            raise self.fail(expr, f"param '{name}' holds {type(value).__name__}, not a value")
        return self.checked(expr, value)

    def not_a_value(self, expr: Expr) -> InputError:
        """Actor names, `.start` and `[1]` belong in oracles; here they are likely a typo."""
        hint = None
        if isinstance(expr, Name):
            if expr.name in self.params:
                hint = f"did you mean '${expr.name}'?"
            else:
                hint = "a param is written $name and a string in quotes: 'text'"
        return self.fail(expr, f"'{expr}' is not a value here", hint)

    def unary(self, expr: Expr, op: str, operand: Scalar) -> Scalar:
        if op == "not":
            return not self.boolean(expr, operand, op)
        number = self.number(expr, operand, f"unary '{op}'")
        return -number if op == "-" else +number

    def binary(self, expr: Binary, op: str, left: Scalar, right: Scalar) -> Scalar:
        if op in ("and", "or"):
            a, b = self.boolean(expr, left, op), self.boolean(expr, right, op)
            return (a and b) if op == "and" else (a or b)
        if op in ("==", "!="):
            if _kind(left) != _kind(right):
                raise self.fail(expr, f"cannot compare {_kind(left)} with {_kind(right)}")
            return (left == right) == (op == "==")
        a, b = self.number(expr, left, f"'{op}'"), self.number(expr, right, f"'{op}'")
        if op in ("/", "%") and b == 0:
            raise self.fail(expr, "division by zero" if op == "/" else "modulo by zero")
        return _ARITHMETIC[op](a, b)

    def number(self, expr: Expr, value: Scalar, what: str) -> float | int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(expr, f"{what} needs numbers, got {_kind(value)} {value!r}")
        return value

    def whole(self, expr: Expr, value: Scalar, what: str) -> int:
        number = self.number(expr, value, what)
        if number != int(number):
            raise self.fail(expr, f"{what} needs a whole number, got {number!r}")
        return int(number)

    def boolean(self, expr: Expr, value: Scalar, what: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(expr, f"'{what}' needs true or false, got {_kind(value)} {value!r}")
        return value

    def checked(self, expr: Expr, value: Scalar) -> Scalar:
        """Every intermediate result stays a finite float or a 64-bit int: no inf, no bignums."""
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(expr, "the result is not a finite number")
        if isinstance(value, int) and not isinstance(value, bool) and not -_INT_MAX - 1 <= value <= _INT_MAX:
            raise self.fail(expr, "the result does not fit in 64 bits")
        return value

    def generator(self, call: Call) -> np.random.Generator:
        if self.rng is None:
            raise self.fail(call, "random value not allowed here",
                            f"{call.func}() draws a random value; write a fixed one here")
        return self.rng

    def args(self, call: Call, names: tuple[str, ...], keywords: tuple[str, ...] = ()) -> list[Scalar]:
        """The positional arguments' values, after checking their count and the keywords."""
        if len(call.args) != len(names):
            raise self.fail(call, f"{call.func}() takes {len(names)} argument{'s' * (len(names) != 1)} "
                                  f"({', '.join(names)}), got {len(call.args)}")
        self.check_keywords(call, keywords)
        return [self.value(arg) for arg in call.args]

    def check_keywords(self, call: Call, keywords: tuple[str, ...]) -> None:
        for key, value in call.kwargs:
            if key not in keywords:
                hint = _did_you_mean(key, keywords) if keywords else None
                raise self.fail(value, f"{call.func}() has no option '{key}'", hint)

    def fail(self, expr: Expr, message: str, hint: str | None = None) -> InputError:
        origin = self.origin
        return InputError(message, SourcePos(origin.file, origin.line, origin.col + expr.col), hint)


def _kind(value: Scalar) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return "a string" if isinstance(value, str) else "a number"


def _did_you_mean(word: str, choices: Any, prefix: str = "") -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean '{prefix}{close[0]}'?" if close else None


_ARITHMETIC: Mapping[str, Callable[[Any, Any], Any]] = MappingProxyType({
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "%": operator.mod,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
})


# --- functions -----------------------------------------------------------------------------------


def _uniform(ev: _Evaluator, call: Call) -> float:
    lo, hi = (ev.number(call, v, "uniform()") for v in ev.args(call, ("lo", "hi")))
    if lo > hi:
        raise ev.fail(call, f"uniform({lo!r}, {hi!r}): lo is above hi")
    if not math.isfinite(float(hi) - float(lo)):
        raise ev.fail(call, f"uniform({lo!r}, {hi!r}): the range is too wide")
    return float(ev.generator(call).uniform(lo, hi))


def _normal(ev: _Evaluator, call: Call) -> float:
    """A normal draw, truncated exactly to [min, max] by inverting the CDF: no rejection loop."""
    mean, std = (ev.number(call, v, "normal()") for v in ev.args(call, ("mean", "std"), ("min", "max")))
    bounds = {key: ev.number(value, ev.value(value), f"normal({key}=)") for key, value in call.kwargs}
    if std <= 0:
        raise ev.fail(call, f"normal(): std must be above 0, got {std!r}")
    lo, hi = bounds.get("min", -math.inf), bounds.get("max", math.inf)
    if lo >= hi:
        raise ev.fail(call, f"normal(): min ({lo!r}) must be below max ({hi!r})")
    dist = statistics.NormalDist(mean, std)
    p_lo, p_hi = dist.cdf(lo) if lo > -math.inf else 0.0, dist.cdf(hi) if hi < math.inf else 1.0
    if p_hi - p_lo < 1e-9:
        raise ev.fail(call, f"normal({mean!r}, {std!r}) almost never falls between {lo!r} and {hi!r}",
                      "check the mean, std and bounds (and their units)")
    u = float(ev.generator(call).uniform(p_lo, p_hi))
    u = min(max(u, math.ulp(0.0)), 1.0 - 2**-53)  # inv_cdf needs 0 < u < 1
    return min(max(dist.inv_cdf(u), lo), hi)


def _choice(ev: _Evaluator, call: Call) -> Scalar:
    """One of the options; `weights=[...]` (one per option) makes some likelier."""
    ev.check_keywords(call, ("weights",))
    if not call.args:
        raise ev.fail(call, "choice() needs at least one option")
    options = [ev.value(arg) for arg in call.args]
    weights = [1.0] * len(options)
    for _, node in call.kwargs:
        if not isinstance(node, ListExpr) or len(node.items) != len(options):
            raise ev.fail(node, f"weights=[...] lists one weight per option ({len(options)})")
        weights = [ev.number(item, ev.value(item), "a weight") for item in node.items]
        if any(w < 0 for w in weights) or not 0 < math.fsum(weights) < math.inf:
            raise ev.fail(node, "weights must be 0 or more, not all 0, and not huge")
    cumulative = list(accumulate(weights))
    index = bisect_right(cumulative, float(ev.generator(call).random()) * cumulative[-1])
    if index >= len(options):  # rounding at the very top: take the last option with weight
        index = max(i for i, w in enumerate(weights) if w > 0)
    return options[index]


def _randint(ev: _Evaluator, call: Call) -> int:
    lo, hi = (ev.whole(call, v, "randint()") for v in ev.args(call, ("lo", "hi")))
    if lo > hi:
        raise ev.fail(call, f"randint({lo}, {hi}): lo is above hi")
    return int(ev.generator(call).integers(lo, hi, endpoint=True))


def _extreme(ev: _Evaluator, call: Call) -> float | int:
    ev.check_keywords(call, ())
    if not call.args:
        raise ev.fail(call, f"{call.func}() needs at least one argument")
    values = [ev.number(arg, ev.value(arg), f"{call.func}()") for arg in call.args]
    return min(values) if call.func == "min" else max(values)


def _abs(ev: _Evaluator, call: Call) -> float | int:
    (x,) = ev.args(call, ("x",))
    return abs(ev.number(call, x, "abs()"))


def _sqrt(ev: _Evaluator, call: Call) -> float:
    (x,) = ev.args(call, ("x",))
    if ev.number(call, x, "sqrt()") < 0:
        raise ev.fail(call, f"sqrt() of a negative number ({x!r})")
    return math.sqrt(x)


def _clip(ev: _Evaluator, call: Call) -> float | int:
    x, lo, hi = (ev.number(call, v, "clip()") for v in ev.args(call, ("x", "lo", "hi")))
    if lo > hi:
        raise ev.fail(call, f"clip(): lo ({lo!r}) is above hi ({hi!r})")
    return min(max(x, lo), hi)


def _round(ev: _Evaluator, call: Call) -> float | int:
    """round(x) gives an integer, round(x, n) n decimals; halves go to even, as in Python."""
    if len(call.args) not in (1, 2):
        raise ev.fail(call, f"round() takes 1 or 2 arguments (x, ndigits), got {len(call.args)}")
    x, *digits = ev.args(call, ("x", "ndigits")[: len(call.args)])
    number = ev.number(call, x, "round()")
    if not digits:
        return round(number)
    ndigits = ev.whole(call, digits[0], "round()'s ndigits")
    if not -15 <= ndigits <= 15:  # round(5, -10**18) would build 10**(10**18)
        raise ev.fail(call, f"round(): ndigits must be in -15..15, got {ndigits}")
    return round(number, ndigits)


_FUNCTIONS: Mapping[str, Callable[[_Evaluator, Call], Scalar]] = MappingProxyType({
    "uniform": _uniform,
    "normal": _normal,
    "choice": _choice,
    "randint": _randint,
    "min": _extreme,
    "max": _extreme,
    "abs": _abs,
    "sqrt": _sqrt,
    "clip": _clip,
    "round": _round,
})
