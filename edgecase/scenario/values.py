"""`Value`: a number written literally or as an expression (`$speed * 2`, `uniform(8, 12)`).

Expressions are parsed while the scenario is validated, so a typo in one points at its own
line and column; they are evaluated only by the compiler, which owns all randomness.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Union

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

from edgecase.errors import InputError, SourcePos
from edgecase.scenario.expr import Expr, Num, parse_expr

# A throwaway position: parse errors come back shifted from column 1, which gives the offset.
_ORIGIN = SourcePos("<expr>", 1, 1)


def parse_or_raise(text: str) -> Expr:
    """Parse `text`, turning a parse error into a pydantic error that carries the column offset."""
    try:
        return parse_expr(text, _ORIGIN)
    except InputError as err:
        offset = (err.pos.col - 1) if err.pos else 0
        hint = f" ({err.hint})" if err.hint else ""
        raise PydanticCustomError("expr", "{message}", {"message": err.message + hint, "offset": offset})


def _to_value(raw: Any) -> float | Expr:
    if isinstance(raw, bool):
        raise PydanticCustomError("value", "expected a number or an expression, got a boolean", {})
    if isinstance(raw, (int, float)):
        if not math.isfinite(raw):
            raise PydanticCustomError("value", "not a finite number", {})
        return raw
    if isinstance(raw, str):
        expr = parse_or_raise(raw)
        return expr.value if isinstance(expr, Num) else expr
    raise PydanticCustomError("value", "expected a number or an expression, got {kind}", {"kind": type(raw).__name__})


def _to_expr(raw: Any) -> Expr:
    if not isinstance(raw, str):
        raise PydanticCustomError("expr", "expected an expression (a string), got {kind}", {"kind": type(raw).__name__})
    return parse_or_raise(raw)


Value = Annotated[
    Union[float, int, Expr],
    BeforeValidator(_to_value),
    PlainSerializer(lambda v: v if isinstance(v, (int, float)) else str(v)),
    WithJsonSchema(
        {
            "anyOf": [{"type": "number"}, {"type": "string"}],
            "description": "a number, or an expression: $param, arithmetic, uniform(lo, hi), normal(mean, std, min=, max=), "
            "choice(a, b, weights=[..]), randint(lo, hi)",
        }
    ),
]
"""A number or an expression; evaluated per episode by the compiler."""

Condition = Annotated[
    Expr,
    BeforeValidator(_to_expr),
    PlainSerializer(str),
    WithJsonSchema({"type": "string", "description": "an oracle expression, e.g. 'min_ttc_s(ego, child) < 2.5'"}),
]
"""A boolean oracle expression over the episode's trace; checked here, evaluated by the simulator."""
