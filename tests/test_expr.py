"""The expression language: grammar, canonical text, safe evaluation and distributions."""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgecase.errors import InputError, SourcePos
from edgecase.scenario.evaluate import evaluate
from edgecase.scenario.expr import (
    DISTRIBUTIONS,
    MAX_DEPTH,
    VALUE_FUNCTIONS,
    Attr,
    Binary,
    Bool,
    Call,
    Expr,
    Index,
    ListExpr,
    Name,
    Num,
    Param,
    Str,
    Unary,
    is_random,
    parse_expr,
)

POS = SourcePos("s.yaml", 3, 10)


def ev(text: str, params: dict[str, Any] | None = None, seed: int | None = 0) -> Any:
    rng = None if seed is None else np.random.default_rng(seed)
    return evaluate(parse_expr(text, POS), params or {}, rng, POS)


def parse_error(text: str) -> InputError:
    with pytest.raises(InputError) as info:
        parse_expr(text, POS)
    return info.value


def eval_error(text: str, params: dict[str, Any] | None = None, seed: int | None = 0) -> InputError:
    with pytest.raises(InputError) as info:
        ev(text, params, seed)
    return info.value


def height(expr: Expr) -> int:
    return 1 + max((height(child) for child in _direct_children(expr)), default=0)


def _direct_children(expr: Expr) -> list[Expr]:
    """Children found from the dataclass fields, independently of the module's own walk."""
    out: list[Expr] = []
    for field in dataclasses.fields(expr):
        value = getattr(expr, field.name)
        parts = value if isinstance(value, tuple) else (value,)
        for part in parts:
            out.extend(p for p in (part if isinstance(part, tuple) else (part,)) if isinstance(p, Expr))
    return out


# --- grammar -------------------------------------------------------------------------------------

x, y, z = Param("x"), Param("y"), Param("z")
CHILD_START = Attr(Name("child"), "start")
one, two, three = Num(1), Num(2), Num(3)


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("1 + 2 * 3", Binary("+", one, Binary("*", two, three))),
        ("(1 + 2) * 3", Binary("*", Binary("+", one, two), three)),
        ("1 - 2 - 3", Binary("-", Binary("-", one, two), three)),
        ("-1 * 2", Binary("*", Unary("-", one), two)),
        ("-$x.a", Unary("-", Attr(x, "a"))),
        ("$x < 1 + 2", Binary("<", x, Binary("+", one, two))),
        ("not $x == 1 and $y", Binary("and", Unary("not", Binary("==", x, one)), y)),
        ("$x or $y and $z", Binary("or", x, Binary("and", y, z))),
        ("not not true", Unary("not", Unary("not", Bool(True)))),
        ("2.5 % .5 / 1e3", Binary("/", Binary("%", Num(2.5), Num(0.5)), Num(1000.0))),
        ("'it\\'s' != \"a\\\\b\"", Binary("!=", Str("it's"), Str("a\\b"))),
        ("parked[1].start", Attr(Index(Name("parked"), 1), "start")),
        ("f(a, b=[1, 2],)", Call("f", (Name("a"),), (("b", ListExpr((one, two))),))),
        ("min_ttc_s(ego, child) < 2.5",
         Binary("<", Call("min_ttc_s", (Name("ego"), Name("child"))), Num(2.5))),
        ("max_visible_fraction(child, before=child.start) < 0.3",
         Binary("<", Call("max_visible_fraction", (Name("child"),), (("before", CHILD_START),)), Num(0.3))),
        ("not collision(ego, child)", Unary("not", Call("collision", (Name("ego"), Name("child"))))),
    ],
)
def test_parse_builds_the_tree_with_precedence(text: str, tree: Expr) -> None:
    assert parse_expr(text) == tree


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("(1 + 2) * $x", "(1 + 2) * $x"),
        ("1+(2*3)", "1 + 2 * 3"),
        ("(1 - 2) - 3", "1 - 2 - 3"),
        ("1 - (2 - 3)", "1 - (2 - 3)"),
        ("($a and $b) and $c", "$a and $b and $c"),
        ("$a and ($b and $c)", "$a and ($b and $c)"),
        ("not ($a and $b)", "not ($a and $b)"),
        ("-(1 + 2)", "-(1 + 2)"),
        ("- - $x", "--$x"),
        ("($a < $b) < $c", "($a < $b) < $c"),
        ("$a == (not $b)", "$a == (not $b)"),
        ("(2).x", "(2).x"),
        ("(-$x).y", "(-$x).y"),
        ("1e20", "1e+20"),
        ("uniform( 8 ,12 )", "uniform(8, 12)"),
        ("normal(2.5, 0.3, min=1.5, max=3.5)", "normal(2.5, 0.3, min=1.5, max=3.5)"),
        ("choice('a', \"b'c\", weights=[1, 2])", "choice('a', 'b\\'c', weights=[1, 2])"),
        ("min_distance_m(ego, lead) > 1.0 and min_ttc_s(ego, lead) < 2",
         "min_distance_m(ego, lead) > 1.0 and min_ttc_s(ego, lead) < 2"),
    ],
)
def test_str_is_canonical_and_round_trips(text: str, canonical: str) -> None:
    expr = parse_expr(text)
    assert str(expr) == canonical
    assert parse_expr(str(expr)) == expr


def test_nodes_are_frozen_hashable_and_compare_without_col() -> None:
    a, b = parse_expr("$x + 1"), parse_expr("  $x   +1")
    assert a == b and hash(a) == hash(b) and a.col != b.col
    assert isinstance(a, Binary) and (a.col, a.left.col) == (3, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.op = "-"  # type: ignore[misc]


def test_params_names_and_randomness() -> None:
    expr = parse_expr("clip($speed * 2, $lo, 10) + f(ego, parked[1], before=child.start)")
    assert expr.params() == {"speed", "lo"}
    assert expr.names() == {"ego", "parked", "child"}
    assert not is_random(expr)
    assert is_random(parse_expr("1 + max(2, uniform(0, 1))"))
    assert is_random(parse_expr("choice('a', 'b')")) and not is_random(parse_expr("round(2.5)"))


def test_function_lists_for_docs() -> None:
    assert DISTRIBUTIONS == ("uniform", "normal", "choice", "randint")
    assert set(VALUE_FUNCTIONS) == set(DISTRIBUTIONS) | {"min", "max", "abs", "sqrt", "clip", "round"}


@pytest.mark.parametrize(
    ("text", "offset", "fragment"),
    [
        ("1 + )", 4, "unexpected ')'"),
        ("f(1, (2 + 3", 11, "expected ')' to close '(' at col 15, found end of expression"),
        ("[1, 2", 5, "expected ']' to close '[' at col 10"),
        ("$a < $b < $c", 8, "comparisons cannot be chained"),
        ("9**9**9", 1, "'**' (power) is not supported"),
        ("$x.__class__", 3, "names starting with '_' are not allowed"),
        ("__import__('os')", 0, "names starting with '_' are not allowed"),
        ("$_secret", 1, "names starting with '_' are not allowed"),
        ("f(a=1, 2)", 7, "positional arguments must come before keyword arguments"),
        ("f(a=1, a=2)", 7, "keyword 'a' is given twice"),
        ("'abc", 0, "unterminated string"),
        ("'a\\nb'", 2, "unknown escape '\\n'"),
        ("1 @ 2", 2, "unexpected character '@'"),
        ("$", 1, "expected a param name after '$'"),
        ("$1x", 1, "expected a param name"),
        ("a[1.5]", 2, "an index is a whole number"),
        ("a[$i]", 2, "an index is a whole number"),
        ("a.b(1)", 3, "only a function name can be called"),
        ("a.", 2, "expected an attribute name after '.', found end of expression"),
        ("", 0, "empty expression"),
        ("   ", 0, "empty expression"),
        ("1 2", 2, "unexpected '2'"),
        ("1 +", 3, "unexpected end of expression"),
        ("99999999999999999999", 0, "does not fit in 64 bits"),
        ("1e999", 0, "is too large"),
        ("lambda: 1", 6, "unexpected character ':'"),
        ("[x for x in y]", 3, "expected ']' to close '['"),
        ("(" * 50 + "1" + ")" * 50, 32, f"nested more than {MAX_DEPTH} levels"),
        ("-" * 40 + "1", 32, "nested more than"),
        ("+".join(["1"] * 40), 65, "nested more than"),
        (".".join(["a"] * 40), 65, "nested more than"),
        ("x" * 1001, 0, "over 1000 characters"),
    ],
)
def test_parse_errors_point_at_the_offending_column(text: str, offset: int, fragment: str) -> None:
    error = parse_error(text)
    assert error.pos == SourcePos("s.yaml", 3, 10 + offset), str(error)
    assert fragment in str(error)
    assert str(error).startswith(f"s.yaml:3:{10 + offset}: ")


def test_parse_without_pos_still_points_at_the_column() -> None:
    with pytest.raises(InputError) as info:
        parse_expr("1 + )")
    assert info.value.pos is not None and info.value.pos.col == 5


# --- evaluation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3.5),
        ("7 % 3", 1),
        ("-7 % 3", 2),
        ("2.5 * 2", 5.0),
        ("-$x + +$x", 0),
        ("$x * 2 - $y", 1.5),
        ("$x > 2 and $y <= 4.5", True),
        ("not ($x == 3) or false", False),
        ("$name == 'ego' and $name != \"child\"", True),
        ("$flag == true", True),
        ("1 == 1.0", True),
        ("min(3, $x, 5)", 3),
        ("max(1, 2.5)", 2.5),
        ("abs(-2)", 2),
        ("sqrt(16)", 4.0),
        ("clip(12, 0, 10)", 10),
        ("clip(-1.5, 0, 10)", 0),
        ("round(2.567, 2)", 2.57),
        ("round(2.5)", 2),
        ("round(3.5)", 4),
        ("round(1234, -2)", 1200),
        ("1e3 + .5", 1000.5),
    ],
)
def test_evaluate_values(text: str, value: Any) -> None:
    result = ev(text, {"x": 3, "y": 4.5, "name": "ego", "flag": True}, seed=None)
    assert result == value and type(result) is type(value)


@pytest.mark.parametrize(
    ("text", "offset", "fragment"),
    [
        ("1 / ($x - 3)", 2, "division by zero"),
        ("$x % 0", 3, "modulo by zero"),
        ("$speeed * 2", 0, "no param 'speeed' (did you mean '$speed'?)"),
        ("2 * child", 4, "'child' is not a value here (did you mean '$child'?)"),
        ("ego + 1", 0, "'ego' is not a value here"),
        ("child.start", 5, "'child.start' is not a value here"),
        ("parked[1]", 6, "'parked[1]' is not a value here"),
        ("[1, 2]", 0, "a list is only allowed as choice"),
        ("unifrom(1, 2)", 0, "unknown function 'unifrom' (did you mean 'uniform'?)"),
        ("eval('1')", 0, "unknown function 'eval'"),
        ("open('/etc/passwd')", 0, "unknown function 'open'"),
        ("'a' * 1000000000", 4, "'*' needs numbers, got a string"),
        ("'a' + 1", 4, "needs numbers"),
        ("$name < 'z'", 6, "needs numbers"),
        ("1 == 'a'", 2, "cannot compare a number with a string"),
        ("true + 1", 5, "needs numbers, got a boolean"),
        ("1 and true", 2, "'and' needs true or false"),
        ("not 1", 0, "'not' needs true or false"),
        ("-'a'", 0, "unary '-' needs numbers"),
        ("1e308 * 10", 6, "not a finite number"),
        ("9223372036854775807 + 1", 20, "does not fit in 64 bits"),
        ("-(-9223372036854775807 - 1)", 0, "does not fit in 64 bits"),
        ("uniform(1)", 0, "uniform() takes 2 arguments (lo, hi), got 1"),
        ("uniform(2, 1)", 0, "lo is above hi"),
        ("uniform(1, 2, low=0)", 18, "uniform() has no option 'low'"),
        ("uniform(-1e308, 1e308)", 0, "the range is too wide"),
        ("uniform('a', 2)", 0, "uniform() needs numbers"),
        ("normal(1, 0)", 0, "std must be above 0"),
        ("normal(1, 1, min=2, max=2)", 0, "min (2) must be below max (2)"),
        ("normal(0, 1, min=10, max=11)", 0, "almost never falls between"),
        ("normal(0, 1, mn=1)", 16, "normal() has no option 'mn' (did you mean 'min'?)"),
        ("choice()", 0, "choice() needs at least one option"),
        ("choice(1, 2, weights=[1])", 21, "one weight per option (2)"),
        ("choice(1, 2, weights=$w)", 21, "one weight per option"),
        ("choice(1, 2, weights=[1, -1])", 21, "weights must be 0 or more"),
        ("choice(1, 2, weights=[0, 0])", 21, "not all 0"),
        ("choice(1, 2, weights=[1, 'a'])", 25, "a weight needs numbers"),
        ("randint(1.5, 3)", 0, "needs a whole number"),
        ("randint(3, 1)", 0, "lo is above hi"),
        ("sqrt(-1)", 0, "sqrt() of a negative number"),
        ("clip(1, 2, 0)", 0, "lo (2) is above hi (0)"),
        ("round(1, 2, 3)", 0, "round() takes 1 or 2 arguments"),
        ("round(5, -1000000000000000000)", 0, "ndigits must be in -15..15"),
        ("min()", 0, "min() needs at least one argument"),
        ("abs(1, 2)", 0, "abs() takes 1 argument (x), got 2"),
    ],
)
def test_evaluation_errors_point_at_the_node(text: str, offset: int, fragment: str) -> None:
    error = eval_error(text, {"x": 3, "speed": 1, "child": 2.0, "name": "ego"})
    assert fragment in str(error), str(error)
    assert error.pos == SourcePos("s.yaml", 3, 10 + offset), str(error)


def test_distributions_need_a_generator() -> None:
    for text in ("uniform(1, 2)", "1 + normal(0, 1)", "choice('a')", "randint(1, 2)"):
        error = eval_error(text, seed=None)
        assert "random value not allowed here" in str(error)
    assert ev("max(1, 2)", seed=None) == 2


def test_params_may_be_numpy_scalars_but_not_containers() -> None:
    assert ev("$a + 1", {"a": np.float64(1.5)}) == 2.5
    assert "holds list" in str(eval_error("$a", {"a": [1]}))
    assert "not a finite number" in str(eval_error("$a", {"a": math.inf}))


# --- distributions -------------------------------------------------------------------------------


def draws(text: str, n: int, seed: int = 1) -> list[Any]:
    expr, rng = parse_expr(text), np.random.default_rng(seed)
    return [evaluate(expr, {}, rng) for _ in range(n)]


def test_uniform_stays_in_range() -> None:
    values = draws("uniform(8, 12)", 2000)
    assert all(8 <= v < 12 for v in values) and 9.8 < statistics.fmean(values) < 10.2
    assert draws("uniform(3, 3)", 3) == [3.0, 3.0, 3.0]


def test_truncated_normal_respects_bounds_over_10k_draws() -> None:
    values = draws("normal(2.5, 0.3, min=1.5, max=3.5)", 10_000)
    assert all(1.5 <= v <= 3.5 for v in values)
    assert abs(statistics.fmean(values) - 2.5) < 0.02 and 0.27 < statistics.stdev(values) < 0.31
    one_sided = draws("normal(0, 1, min=1)", 10_000)
    assert min(one_sided) >= 1 and abs(statistics.fmean(one_sided) - 1.525) < 0.03  # mean of N(0,1) | x>1
    tail = draws("normal(0, 1, min=4, max=4.1)", 1000)
    assert all(4 <= v <= 4.1 for v in tail)
    free = draws("normal(10, 2)", 10_000)
    assert abs(statistics.fmean(free) - 10) < 0.1 and 1.9 < statistics.stdev(free) < 2.1


def test_choice_weights_and_zero_weight_never_chosen() -> None:
    counts = Counter(draws("choice('car', 'van', 'bus', weights=[3, 0, 1])", 4000))
    assert set(counts) == {"car", "bus"} and 2.5 < counts["car"] / counts["bus"] < 3.5
    assert set(draws("choice(1, 'two', true)", 300)) == {1, "two", True}


def test_randint_is_inclusive() -> None:
    values = draws("randint(1, 3)", 300)
    assert set(values) == {1, 2, 3} and all(type(v) is int for v in values)
    assert draws("randint(1e3, 1e3)", 1) == [1000]


@pytest.mark.parametrize(
    "text",
    ["uniform(8, 12)", "normal(2.5, 0.3, min=1.5, max=3.5)", "choice('a', 'b', 'c', weights=[1, 2, 3])",
     "randint(0, 100)", "uniform(0, 1) + normal(0, 1) * randint(1, 3)"],
)
def test_same_generator_state_gives_the_same_values(text: str) -> None:
    assert draws(text, 50, seed=42) == draws(text, 50, seed=42)
    assert draws(text, 50, seed=42) != draws(text, 50, seed=43)


def test_and_or_evaluate_both_sides_so_the_stream_does_not_depend_on_values() -> None:
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    evaluate(parse_expr("false and uniform(0, 1) < 2"), {}, a)
    evaluate(parse_expr("true and uniform(0, 1) < 2"), {}, b)
    assert a.random() == b.random()


# --- hostile input -------------------------------------------------------------------------------


def test_injection_attempts_are_refused_and_nothing_runs(tmp_path) -> None:
    marker = tmp_path / "pwned"
    attempts = [
        f"__import__('os').system('touch {marker}')",
        "().__class__.__bases__[0].__subclasses__()",
        "$x.__class__",
        f"eval(\"open('{marker}', 'w')\")",
        f"exec('open(\\'{marker}\\', \\'w\\')')",
        f"open('{marker}', 'w')",
        "9**9**9",
        "'a' * 10**9",
        "'(' * 5000",
        "(" * 5000,
        "[" * 999,
        "lambda: 0",
        "[c for c in 'ab']",
        "x if y else z",
        "a; b",
        "$x.real",
    ]
    for text in attempts:
        start = time.perf_counter()
        with pytest.raises(InputError):
            evaluate(parse_expr(text, POS), {"x": 1}, np.random.default_rng(0), POS)
        assert time.perf_counter() - start < 0.1, text
    assert not marker.exists()


# --- properties ----------------------------------------------------------------------------------

EXPR_CHARS = st.sampled_from(
    list("0123456789.e+-*/%<>=!()[],$'\"\\ _abnotrudfl") + ["and", "or", "not", "uniform"]
)


@settings(deadline=None, max_examples=200)
@given(st.text(max_size=300) | st.lists(EXPR_CHARS, max_size=80).map("".join))
def test_any_text_parses_or_fails_cleanly_and_fast(text: str) -> None:
    start = time.perf_counter()
    try:
        expr = parse_expr(text, POS)
    except InputError as error:
        assert error.pos is not None and error.pos.line == 3 and error.pos.col >= 10
    else:
        assert parse_expr(str(expr)) == expr
        assert height(expr) <= MAX_DEPTH + 1
    assert time.perf_counter() - start < 0.1


NAMES = ("a", "b", "c")
NUMBERS = st.integers(0, 2**40) | st.floats(0, 1e12, allow_nan=False, allow_infinity=False)
LEAVES = NUMBERS.map(Num) | st.sampled_from(NAMES).map(Param)


def _grow(inner: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    unary = st.builds(Unary, st.sampled_from("-+"), inner)
    binary = st.builds(Binary, st.sampled_from("+-*/%"), inner, inner)
    return unary | binary


ARITHMETIC = st.recursive(LEAVES, _grow, max_leaves=16)
PARAMS = st.fixed_dictionaries({name: NUMBERS | st.integers(-(2**40), 2**40) for name in NAMES})


class _Fails(Exception):
    pass


def reference(expr: Expr, params: dict[str, Any]) -> Any:
    """Plain Python arithmetic, failing where the evaluator must refuse."""
    if isinstance(expr, Num):
        return expr.value
    if isinstance(expr, Param):
        return params[expr.name]
    if isinstance(expr, Unary):
        result = -reference(expr.operand, params) if expr.op == "-" else +reference(expr.operand, params)
    else:
        assert isinstance(expr, Binary)
        a, b = reference(expr.left, params), reference(expr.right, params)
        if expr.op in "/%" and b == 0:
            raise _Fails
        result = {"+": a + b, "-": a - b, "*": a * b}[expr.op] if expr.op in "+-*" else (
            a / b if expr.op == "/" else a % b)
    if isinstance(result, float) and not math.isfinite(result):
        raise _Fails
    if isinstance(result, int) and not -(2**63) <= result < 2**63:
        raise _Fails
    return result


@settings(deadline=None, max_examples=200)
@given(ARITHMETIC, PARAMS)
def test_arithmetic_round_trips_and_matches_python(expr: Expr, params: dict[str, Any]) -> None:
    assert parse_expr(str(expr)) == expr
    try:
        expected = reference(expr, params)
    except _Fails:
        with pytest.raises(InputError):
            evaluate(expr, params, None)
    else:
        assert evaluate(expr, params, None) == expected
        assert evaluate(parse_expr(str(expr)), params, None) == expected


VALUE_CHARS = st.sampled_from(
    list("0123456789.+-*/%<>=!(),' ") + ["$a", "$b", "$s", "$t", "and", "or", "not", "true", "false", "e3"]
    + [f"{name}(" for name in VALUE_FUNCTIONS] + ["weights=[", "min=", "max=", "]", "ego", "x.y", "[0]"]
)


@settings(deadline=None, max_examples=200)
@given(st.lists(VALUE_CHARS, max_size=40).map("".join), st.integers(0, 2**32))
def test_evaluating_anything_gives_a_value_or_an_input_error(text: str, seed: int) -> None:
    try:
        expr = parse_expr(text, POS)
        value = evaluate(expr, {"a": 3, "b": -2.5, "s": "car", "t": True}, np.random.default_rng(seed), POS)
    except InputError as error:
        assert error.pos is not None and error.pos.line == 3
    else:
        assert isinstance(value, (bool, int, float, str))
        assert not isinstance(value, float) or math.isfinite(value)
