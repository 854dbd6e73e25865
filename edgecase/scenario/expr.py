"""A small, safe expression language for scenario values and oracles.

Values such as `$speed_mps * 2`, `uniform(8, 12)` or `normal(2.5, 0.3, min=1.5, max=3.5)`
and oracles such as `min_ttc_s(ego, child) < 2.5` share one grammar.  Text is tokenized and
parsed by hand (never `eval`), there is no power operator (`9**9**9` would never finish), no
name may start with `_` (the door to Python's internals), and length and nesting are capped,
so any text parses or fails with an `InputError` in microseconds.

Precedence, lowest first: `or`, `and`, `not`, comparisons (not chained), `+ -`, `* / %`,
unary `- +`, then calls, `.attribute` and `[index]`.

This module parses; evaluate.py evaluates values (oracles are evaluated on a trace by the
simulator).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import MappingProxyType


from edgecase.errors import InputError, SourcePos

MAX_CHARS = 1_000
MAX_DEPTH = 32

DISTRIBUTIONS: tuple[str, ...] = ("uniform", "normal", "choice", "randint")
HELPERS: tuple[str, ...] = ("min", "max", "abs", "sqrt", "clip", "round")
VALUE_FUNCTIONS: tuple[str, ...] = DISTRIBUTIONS + HELPERS

Scalar = float | int | str | bool

# Binding strength: a higher number binds tighter.
_OR, _AND, _NOT, _CMP, _ADD, _MUL, _UNARY, _POSTFIX = range(1, 9)
_BINARY_PREC = MappingProxyType(
    {"or": _OR, "and": _AND, "+": _ADD, "-": _ADD, "*": _MUL, "/": _MUL, "%": _MUL}
    | {op: _CMP for op in ("<", "<=", ">", ">=", "==", "!=")}
)
_KEYWORDS = frozenset({"and", "or", "not", "true", "false"})
_INT_MAX = 2**63 - 1
_ORIGIN = SourcePos("<expr>", 1, 1)


# --- syntax tree -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expr:
    """A node of the syntax tree.  `col` is its 0-based offset in the text (for errors only:
    it takes no part in equality, so `parse(str(e)) == e`)."""

    col: int = field(default=0, compare=False, repr=False, kw_only=True)

    def __str__(self) -> str:
        return _unparse(self)

    def walk(self) -> Iterator[Expr]:
        """This node and every node below it, parents first."""
        yield self
        for child in _children(self):
            yield from child.walk()

    def params(self) -> frozenset[str]:
        """The `$names` this expression reads."""
        return frozenset(node.name for node in self.walk() if isinstance(node, Param))

    def names(self) -> frozenset[str]:
        """The bare identifiers (actor names) this expression mentions."""
        return frozenset(node.name for node in self.walk() if isinstance(node, Name))


@dataclass(frozen=True, slots=True)
class Num(Expr):
    value: float | int


@dataclass(frozen=True, slots=True)
class Str(Expr):
    value: str


@dataclass(frozen=True, slots=True)
class Bool(Expr):
    value: bool


@dataclass(frozen=True, slots=True)
class Param(Expr):
    name: str


@dataclass(frozen=True, slots=True)
class Name(Expr):
    name: str


@dataclass(frozen=True, slots=True)
class Attr(Expr):
    obj: Expr
    name: str


@dataclass(frozen=True, slots=True)
class Index(Expr):
    """`parked[1]`: the index is a literal, so references can be checked before running."""

    obj: Expr
    index: int


@dataclass(frozen=True, slots=True)
class Call(Expr):
    """`f(a, key=b)`: only a bare name can be called, so there is no way to reach an object."""

    func: str
    args: tuple[Expr, ...] = ()
    kwargs: tuple[tuple[str, Expr], ...] = ()


@dataclass(frozen=True, slots=True)
class ListExpr(Expr):
    """`[a, b]`, which only `choice(..., weights=[...])` accepts as a value."""

    items: tuple[Expr, ...] = ()


@dataclass(frozen=True, slots=True)
class Unary(Expr):
    op: str
    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary(Expr):
    op: str
    left: Expr
    right: Expr


def is_random(expr: Expr) -> bool:
    """Whether evaluating `expr` draws from the generator (it calls a distribution)."""
    return any(isinstance(node, Call) and node.func in DISTRIBUTIONS for node in expr.walk())


def _children(expr: Expr) -> tuple[Expr, ...]:
    match expr:
        case Attr() | Index():
            return (expr.obj,)
        case Call():
            return expr.args + tuple(value for _, value in expr.kwargs)
        case ListExpr():
            return expr.items
        case Unary():
            return (expr.operand,)
        case Binary():
            return (expr.left, expr.right)
    return ()


# --- unparsing -----------------------------------------------------------------------------------


def _unparse(expr: Expr) -> str:
    """Canonical text with only the parentheses the precedence rules need."""
    match expr:
        case Num(value=value):
            return repr(value)
        case Str(value=value):
            return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        case Bool(value=value):
            return "true" if value else "false"
        case Param(name=name):
            return "$" + name
        case Name(name=name):
            return name
        case Attr(obj=obj, name=name):
            return f"{_operand(obj, _POSTFIX, literal_ok=False)}.{name}"
        case Index(obj=obj, index=index):
            return f"{_operand(obj, _POSTFIX)}[{index}]"
        case Call(func=func, args=args, kwargs=kwargs):
            parts = [str(arg) for arg in args] + [f"{key}={value}" for key, value in kwargs]
            return f"{func}({', '.join(parts)})"
        case ListExpr(items=items):
            return "[" + ", ".join(str(item) for item in items) + "]"
        case Unary(op="not", operand=operand):
            return "not " + _operand(operand, _NOT)
        case Unary(op=op, operand=operand):
            return op + _operand(operand, _UNARY)
        case Binary(op=op, left=left, right=right):
            prec = _BINARY_PREC[op]
            left_min = prec + 1 if prec == _CMP else prec  # comparisons do not chain
            return f"{_operand(left, left_min)} {op} {_operand(right, prec + 1)}"
    raise TypeError(f"not an expression node: {expr!r}")


def _operand(expr: Expr, min_prec: int, *, literal_ok: bool = True) -> str:
    """`expr` as an operand that must bind at least `min_prec` tightly, parenthesized if not.

    A number before `.name` is parenthesized too, since `2.x` would read as `2.` then `x`.
    """
    text = str(expr)
    weak = _precedence(expr) < min_prec or (not literal_ok and isinstance(expr, Num))
    return f"({text})" if weak else text


def _precedence(expr: Expr) -> int:
    if isinstance(expr, Binary):
        return _BINARY_PREC[expr.op]
    if isinstance(expr, Unary):
        return _NOT if expr.op == "not" else _UNARY
    return _POSTFIX


# --- tokenizing ----------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)
      | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<param>\$\w*)
      | (?P<name>[A-Za-z_]\w*)
      | (?P<op>\*\*|[<>=!]=|[-+*/%<>()\[\],.=])""",
    re.VERBOSE | re.ASCII | re.DOTALL,
)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # num, str, param, name, keyword, op, end
    text: str  # as written (for a string: its value, escapes resolved)
    col: int

    def is_op(self, text: str) -> bool:
        return self.kind == "op" and self.text == text

    def shows(self) -> str:
        return "end of expression" if self.kind == "end" else f"'{self.text}'"


def _tokens(text: str, fail: Callable[[int, str], InputError]) -> list[_Token]:
    tokens: list[_Token] = []
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            char = text[at]
            raise fail(at, "unterminated string" if char in "'\"" else f"unexpected character {char!r}")
        kind, raw = match.lastgroup or "", match.group()
        if kind == "str":
            tokens.append(_Token("str", _unescape(raw, at, fail), at))
        elif kind == "param":
            tokens.append(_Token("param", _identifier(raw[1:], at + 1, fail, "a param name after '$'"), at))
        elif kind == "name":
            name = _identifier(raw, at, fail, "a name")
            tokens.append(_Token("keyword" if name in _KEYWORDS else "name", name, at))
        elif kind != "space":
            tokens.append(_Token(kind, raw, at))
        at = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _identifier(name: str, col: int, fail: Callable[[int, str], InputError], what: str) -> str:
    if name.startswith("_"):
        raise fail(col, "names starting with '_' are not allowed")
    if not name or name[0].isdigit():
        raise fail(col, f"expected {what}")
    return name


def _unescape(raw: str, col: int, fail: Callable[[int, str], InputError]) -> str:
    """A quoted string's value; only \\\\, \\' and \\" escapes exist, so nothing else surprises."""

    def one(match: re.Match[str]) -> str:
        if match.group(1) not in "\\'\"":
            raise fail(col + 1 + match.start(), f"unknown escape '\\{match.group(1)}' in a string")
        return match.group(1)

    return _ESCAPE.sub(one, raw[1:-1])


# --- parsing -------------------------------------------------------------------------------------


def parse_expr(text: str, pos: SourcePos | None = None) -> Expr:
    """Parse one expression; errors point at `pos` shifted right by the offending offset."""
    origin = pos or _ORIGIN

    def fail(col: int, message: str, hint: str | None = None) -> InputError:
        return InputError(message, SourcePos(origin.file, origin.line, origin.col + col), hint)

    if not isinstance(text, str):
        raise fail(0, f"expected an expression as text, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise fail(0, f"expression is over {MAX_CHARS} characters long")
    return _Parser(_tokens(text, fail), fail, origin.col).parse()


@dataclass(slots=True)
class _Parser:
    """Recursive descent with precedence climbing.

    `depth` counts the nodes above the one being parsed (loops that wrap `left` count too), so
    capping it caps the tree's height: nothing that later walks a tree can recurse too deeply.
    """

    tokens: list[_Token]
    fail: Callable[..., InputError]
    origin_col: int
    at: int = 0
    depth: int = 0

    def parse(self) -> Expr:
        if self.peek().kind == "end":
            raise self.fail(0, "empty expression")
        expr = self.expression(_OR)
        if self.peek().kind != "end":
            raise self.unexpected(self.peek())
        return expr

    def expression(self, min_prec: int) -> Expr:
        saved = self.depth
        token = self.peek()
        if token.text == "not" and token.kind == "keyword" and min_prec <= _NOT:
            self.deeper(self.take())
            left: Expr = Unary("not", self.expression(_NOT), col=token.col)
        else:
            left = self.unary()
        compared = False
        while (prec := self.binary_prec(self.peek())) >= min_prec:
            op = self.take()
            if compared and prec == _CMP:
                raise self.fail(op.col, "comparisons cannot be chained", "write 'a < b and b < c'")
            self.deeper(op)
            left = Binary(op.text, left, self.expression(prec + 1), col=op.col)
            compared = prec == _CMP
        self.depth = saved
        return left

    def unary(self) -> Expr:
        token = self.peek()
        if token.kind == "op" and token.text in ("-", "+"):
            self.deeper(self.take())
            operand = self.unary()
            self.depth -= 1
            return Unary(token.text, operand, col=token.col)
        return self.postfix()

    def postfix(self) -> Expr:
        saved = self.depth
        expr = self.primary()
        while (token := self.peek()).kind == "op" and token.text in (".", "[", "("):
            self.deeper(self.take())
            if token.text == ".":
                expr = Attr(expr, self.expect_kind("name", "an attribute name after '.'").text, col=token.col)
            elif token.text == "[":
                expr = Index(expr, self.index(), col=token.col)
                self.expect("]", token)
            else:
                raise self.fail(token.col, "only a function name can be called", "e.g. 'uniform(1, 2)'")
        self.depth = saved
        return expr

    def primary(self) -> Expr:
        token = self.take()
        if token.kind == "num":
            return Num(self.number(token), col=token.col)
        if token.kind == "str":
            return Str(token.text, col=token.col)
        if token.kind == "param":
            return Param(token.text, col=token.col)
        if token.kind == "keyword" and token.text in ("true", "false"):
            return Bool(token.text == "true", col=token.col)
        if token.kind == "name":
            return self.call(token) if self.peek().is_op("(") else Name(token.text, col=token.col)
        if token.is_op("(") or token.is_op("["):
            self.deeper(token)
            inner = self.items(token) if token.text == "[" else self.expression(_OR)
            self.expect(")" if token.text == "(" else "]", token)
            self.depth -= 1
            return inner
        raise self.unexpected(token)

    def call(self, name: _Token) -> Call:
        open_ = self.take()
        self.deeper(open_)
        args: list[Expr] = []
        kwargs: dict[str, Expr] = {}
        while not self.peek().is_op(")"):
            key = self.peek()
            if key.kind == "name" and self.peek(1).is_op("="):
                self.at += 2
                if key.text in kwargs:
                    raise self.fail(key.col, f"keyword '{key.text}' is given twice")
                kwargs[key.text] = self.expression(_OR)
            elif kwargs:
                raise self.fail(key.col, "positional arguments must come before keyword arguments")
            else:
                args.append(self.expression(_OR))
            if not self.accept(","):
                break
        self.expect(")", open_)
        self.depth -= 1
        return Call(name.text, tuple(args), tuple(kwargs.items()), col=name.col)

    def items(self, open_: _Token) -> ListExpr:
        """A list's items, up to but not including its ']'."""
        items: list[Expr] = []
        while not self.peek().is_op("]"):
            items.append(self.expression(_OR))
            if not self.accept(","):
                break
        return ListExpr(tuple(items), col=open_.col)

    def index(self) -> int:
        token = self.take()
        if token.kind != "num" or not token.text.isdigit():
            raise self.fail(token.col, "an index is a whole number such as [0]")
        return int(self.number(token))

    def number(self, token: _Token) -> float | int:
        if token.text.isdigit():
            digits = token.text.lstrip("0") or "0"
            if len(digits) > 19 or int(digits) > _INT_MAX:
                raise self.fail(token.col, f"number {token.text} does not fit in 64 bits")
            return int(digits)
        value = float(token.text)
        if not math.isfinite(value):
            raise self.fail(token.col, f"number {token.text} is too large")
        return value

    def binary_prec(self, token: _Token) -> int:
        if token.kind in ("op", "keyword"):
            return _BINARY_PREC.get(token.text, 0)
        return 0

    def deeper(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(token.col, f"expression is nested more than {MAX_DEPTH} levels deep",
                            "split it into params")

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.at + ahead, len(self.tokens) - 1)]

    def take(self) -> _Token:
        token = self.peek()
        self.at = min(self.at + 1, len(self.tokens) - 1)
        return token

    def accept(self, text: str) -> bool:
        if self.peek().is_op(text):
            self.take()
            return True
        return False

    def expect(self, text: str, open_: _Token) -> None:
        if not self.accept(text):
            token = self.peek()
            col = self.origin_col + open_.col
            raise self.fail(token.col, f"expected '{text}' to close '{open_.text}' at col {col}, "
                                       f"found {token.shows()}")

    def expect_kind(self, kind: str, what: str) -> _Token:
        token = self.take()
        if token.kind != kind:
            raise self.fail(token.col, f"expected {what}, found {token.shows()}")
        return token

    def unexpected(self, token: _Token) -> InputError:
        if token.text == "**":
            return self.fail(token.col, "'**' (power) is not supported", "multiply instead")
        if token.kind == "end":
            return self.fail(token.col, "unexpected end of expression")
        return self.fail(token.col, f"unexpected {token.shows()}")
