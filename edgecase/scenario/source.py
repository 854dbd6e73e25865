"""Load a YAML scenario file into plain data while remembering where every value was written.

Scenario files come from many hands, so the loader treats its input as hostile.  PyYAML only
parses: this module composes its events into nodes and turns the nodes into plain dicts,
lists, strings, numbers, booleans and None itself, so no PyYAML constructor ever runs.  Any
tag outside YAML's standard scalars and collections is refused; composing is a loop, not
recursion, and stops at the first node past a limit; aliases and merges are expanded under a
node budget (the "billion laughs" bomb fails in milliseconds); and every failure is an
`InputError` at the exact line and column.

Scalars resolve as YAML 1.1 (PyYAML's resolver) with one addition: plain `1e3`, `2.5e3` and
`-.5` are floats (as in YAML 1.2), because users write numbers that way.  Dates and other
exotic implicit types stay strings.

Merge keys (`<<: *base`, `<<: [*a, *b]`) are implemented: explicit keys win, earlier sources
win over later ones, and merged entries keep the positions where they were written.  Inside
`{...}` or `[...]`, an expression cut in two by its own comma (`{ahead_m: uniform(25, 40)}`)
is an error that says to quote it, rather than a baffling key '40)'.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

import yaml
from yaml.events import (AliasEvent, CollectionEndEvent, CollectionStartEvent, DocumentEndEvent,
                         ScalarEvent, SequenceStartEvent, StreamEndEvent)
from yaml.nodes import ScalarNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from edgecase.errors import InputError, SourcePos


class _PyEvents(Reader, Scanner, Parser):
    """PyYAML's pure-Python event stream: the same events as libyaml's, twenty times slower."""

    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)


try:
    from yaml.cyaml import CParser as _Events
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _Events = _PyEvents  # type: ignore[misc, assignment]


Path = tuple[str | int, ...]

_STD = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = (_STD + t for t in ("str", "int", "float", "bool", "null"))
SEQ, MAP, MERGE = _STD + "seq", _STD + "map", _STD + "merge"
_SCALAR_TAGS = frozenset({STR, INT, FLOAT, BOOL, NULL})
_TAG_KINDS = MappingProxyType({STR: "a string", INT: "an integer", FLOAT: "a number",
                               BOOL: "a boolean", NULL: "null"})

# Floats that YAML 1.1 leaves as strings but YAML 1.2 and users read as numbers: 1e3, -.5, 2.5e3.
_EXTRA_FLOAT = re.compile(
    r"[-+]?(?:(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*[eE][-+]?[0-9]+)"
)
_LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
# Outside YAML's printable set: checked up front so that the error has an editor's position.
_NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CALL, _COMMA_NEXT = re.compile(r"[A-Za-z_]\w*\("), re.compile(r"\s*,")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps that keep a hostile or broken file from costing more than a moment."""

    max_bytes: int = 1_000_000
    max_depth: int = 64
    max_nodes: int = 100_000  # counted after alias and merge expansion
    max_scalar_chars: int = 10_000


@dataclass(frozen=True, slots=True)
class YamlDoc:
    """Plain data from one file, plus where each value and each mapping key was written."""

    file: str
    data: Any
    value_pos: Mapping[Path, SourcePos]
    key_pos: Mapping[Path, SourcePos]

    def pos(self, path: Sequence[str | int], *, key: bool = False) -> SourcePos:
        """Where to point an error about `path`: its deepest prefix that the file spells out.

        Checks built on the data can name paths that do not exist (a missing key), so the
        nearest enclosing value stands in; `key=True` points at the key rather than its value.
        """
        path = tuple(path)
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if key and prefix in self.key_pos:
                return self.key_pos[prefix]
            if prefix in self.value_pos:
                return self.value_pos[prefix]
        return SourcePos(self.file, 1, 1)


def load_yaml_file(path: str | os.PathLike[str], *, limits: Limits = Limits()) -> YamlDoc:
    """Read and load one file; an unreadable path is an error at `path:1:1`, like any other."""
    file = os.fspath(path)
    try:
        with open(file, "rb") as stream:
            raw = stream.read(limits.max_bytes + 1)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise InputError(f"cannot read the file: {reason}", SourcePos(file, 1, 1)) from None
    return load_yaml(raw, file, limits=limits)


def load_yaml(text: str | bytes, file: str, *, limits: Limits = Limits()) -> YamlDoc:
    """Load one YAML document whose top level is a mapping, refusing anything unsafe or odd."""
    text = _checked_text(text, file, limits)
    try:
        root = _compose(text, file, limits)
    except yaml.MarkedYAMLError as error:
        raise _syntax_error(error, text, file) from None
    except yaml.YAMLError as error:  # pragma: no cover - the text checks pre-empt reader errors
        raise InputError(f"invalid YAML: {error}", SourcePos(file, 1, 1)) from None
    if root is None:
        raise InputError("the file is empty", SourcePos(file, 1, 1),
                         hint="a scenario is a mapping such as 'name: my_scenario'")
    converter = _Converter(file, limits)
    try:
        data = converter.value(root, (), 0)
    except RecursionError:  # pragma: no cover - only with a max_depth near Python's own limit
        raise InputError("values are nested too deeply", converter.at(root)) from None
    if not isinstance(data, dict):
        found = "a list" if isinstance(data, list) else "nothing" if data is None else f"the value {data!r}"
        raise InputError(f"expected a mapping of keys at the top level, found {found}",
                         converter.at(root), hint="a scenario is a mapping such as 'name: my_scenario'")
    return YamlDoc(file, data, _Positions(file, converter.value_nodes),
                   _Positions(file, converter.key_nodes))


def _checked_text(text: str | bytes, file: str, limits: Limits) -> str:
    """Size-check and decode the input, and reject characters YAML forbids, with positions."""
    size = len(text)
    if isinstance(text, str) and size <= limits.max_bytes:
        size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        raise InputError(f"the file is over {limits.max_bytes} bytes", SourcePos(file, 1, 1),
                         hint="a scenario should be a few kilobytes; split it with 'extends:'")
    if isinstance(text, bytes):
        text = _decoded(text, file)
    text = text.removeprefix("\ufeff")
    bad = _NOT_PRINTABLE.search(text)
    if bad:
        char = bad.group()
        raise InputError(f"character U+{ord(char):04X} is not allowed in YAML",
                         _pos_at(text, bad.start(), file),
                         hint="remove it, or write it as an escape inside double quotes")
    return text


def _decoded(raw: bytes, file: str) -> str:
    """UTF-8 text without its byte-order mark; a bad byte is reported where an editor shows it."""
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        good = raw[: error.start].decode("utf-8")
        raise InputError(f"the file is not UTF-8: byte 0x{raw[error.start]:02x} is invalid here",
                         _pos_at(good, len(good), file), hint="save the file as UTF-8") from None


def _pos_at(text: str, index: int, file: str) -> SourcePos:
    """The 1-based line and column of `text[index]`, counting line breaks as YAML does."""
    lines = _LINE_BREAK.split(text[:index])
    return SourcePos(file, len(lines), len(lines[-1]) + 1)


def _pos(file: str, mark: Any) -> SourcePos:
    return SourcePos(file, mark.line + 1, mark.column + 1)


def _syntax_error(error: yaml.MarkedYAMLError, text: str, file: str) -> InputError:
    """PyYAML's own words, at its problem mark, with a hint for the commonest mistake."""
    mark = error.problem_mark or error.context_mark
    pos = _pos(file, mark) if mark else SourcePos(file, 1, 1)
    hint = None
    if mark and mark.index < len(text) and text[mark.index] == "\t":
        hint = "indent with spaces; YAML does not allow tabs there"
    elif error.context and error.context_mark:
        hint = f"{error.context} at line {error.context_mark.line + 1}"
    return InputError(f"invalid YAML: {error.problem or error.context}", pos, hint)


class _Node(NamedTuple):
    """A composed YAML node, as PyYAML's composer builds it, but with its tag resolved and
    without the parser's marks: a scalar is a tuple of strings and ints, which the garbage
    collector stops tracking, and that keeps big files fast."""

    kind: str  # "scalar", "seq" or "map"
    tag: str
    value: Any  # scalar: its text; seq: [node, ...]; map: [key, value, key, value, ...]
    line: int
    col: int


class _Open(NamedTuple):
    """A collection being composed: its node, its anchor, and whether it is written {..}/[..]."""

    node: _Node
    anchor: str | None
    flow: bool


class _Positions(Mapping[Path, SourcePos]):
    """Where each path was written.  A load records a position for every value but a check
    reads only a few, so this keeps the nodes and makes each `SourcePos` when it is asked for:
    that halves the cost of loading a big file."""

    __slots__ = ("_file", "_nodes")

    def __init__(self, file: str, nodes: dict[Path, _Node]) -> None:
        self._file, self._nodes = file, nodes

    def __getitem__(self, path: Path) -> SourcePos:
        node = self._nodes[path]
        return SourcePos(self._file, node.line, node.col)

    def __contains__(self, path: object) -> bool:
        return path in self._nodes

    def __iter__(self) -> Iterator[Path]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __repr__(self) -> str:
        return f"{{{', '.join(f'{path!r}: {pos}' for path, pos in self.items())}}}"


# Inside a call's parentheses, YAML's flow punctuation is the expression's own: `{ahead_m: uniform(25, 40)}`
# means one value, as a reader expects, not 'uniform(25' and a key '40)'. Those characters are swapped for
# private-use stand-ins (one for one, so every line:col stays true) and swapped back in every scalar.
_FLOW_CHARS = ",[]{}"
_STAND_INS = "\ue000\ue001\ue002\ue003\ue004"
_MASK = str.maketrans(_FLOW_CHARS, _STAND_INS)
_UNMASK = str.maketrans(_STAND_INS, _FLOW_CHARS)


def _mask_call_punctuation(text: str) -> str:
    """Hide , [ ] { } inside each call `name( ... )` that opens and closes on one line, outside quotes."""
    if "(" not in text or any(c in text for c in _STAND_INS):
        return text  # nothing to hide, or stand-ins already in use: plain YAML rules
    return "\n".join(_mask_line(line) for line in text.split("\n"))


def _mask_line(line: str) -> str:
    chars = list(line)
    quote, depth, start, escaped = "", 0, -1, False
    for i, c in enumerate(chars):
        if escaped:  # the character after a backslash in a double-quoted scalar: never its end
            escaped = False
        elif quote:
            escaped = quote == '"' and c == "\\"
            quote = "" if c == quote else quote
        elif c in "'\"" and depth == 0:
            quote = c
        elif c == "#" and (i == 0 or chars[i - 1] in " \t"):
            break  # a comment
        elif c == "(" and (depth or (i and (chars[i - 1].isalnum() or chars[i - 1] == "_"))):
            depth, start = depth + 1, start if depth else i
        elif c == ")" and depth:
            depth -= 1
            span = line[start : i + 1]
            if depth == 0 and ": " not in span:  # an expression has no mapping indicator; a key like 'a(: x)' does
                chars[start : i + 1] = list(span.translate(_MASK))
    return "".join(chars)


def _compose(text: str, file: str, limits: Limits) -> _Node | None:
    """The single document's node graph (aliases share nodes), or None for no document."""
    masked = _mask_call_punctuation(text)
    events = _Events(masked)
    events.get_event()  # stream start
    if events.check_event(StreamEndEvent):
        return None
    root = _Composer(events, text, file, limits, masked != text).document()
    if not events.check_event(StreamEndEvent):
        second = events.peek_event()
        raise InputError("the file holds more than one YAML document", _pos(file, second.start_mark),
                         hint="a scenario file is one document; remove this '---' or split the file")
    return root


@dataclass(slots=True)
class _Composer:
    """PyYAML's compose step, written as a loop over its events instead of recursion, so that
    nesting can never overflow the stack, and checking the limits at every event, so that a
    hostile file stops at the first node over them."""

    events: Any
    text: str
    file: str
    limits: Limits
    masked: bool  # whether _mask_call_punctuation changed the text, so scalars need unmasking
    resolver: Resolver = field(default_factory=Resolver)
    anchors: dict[str, _Node] = field(default_factory=dict)
    stack: list[_Open] = field(default_factory=list)
    count: int = 0

    def document(self) -> _Node:
        self.events.get_event()  # document start
        root = None
        while not isinstance(event := self.events.get_event(), DocumentEndEvent):
            if isinstance(event, CollectionStartEvent):
                self.start(event)
                continue
            node = self.finish() if isinstance(event, CollectionEndEvent) else self.start(event)
            if self.stack:
                self.stack[-1].node.value.append(node)
            else:
                root = node
        assert root is not None  # the parser gives every document a node, if only ''
        return root

    def start(self, event: Any) -> _Node:
        """The node an event starts (collections stay open on the stack), or an alias's node."""
        self.count += 1
        if self.count > self.limits.max_nodes:
            raise self.fail(event, f"the file has more than {self.limits.max_nodes} values")
        if len(self.stack) >= self.limits.max_depth:
            raise self.fail(event, f"values are nested more than {self.limits.max_depth} levels deep")
        if isinstance(event, AliasEvent):
            return self.alias(event)
        if event.anchor is not None and self.known(event.anchor):
            raise self.fail(event, f"anchor '&{event.anchor}' is defined twice",
                            "give each anchor its own name")
        line, col = event.start_mark.line + 1, event.start_mark.column + 1
        if isinstance(event, ScalarEvent):
            if len(event.value) > self.limits.max_scalar_chars:
                raise self.fail(event, f"a value is over {self.limits.max_scalar_chars} characters long")
            if self.cut_at_comma(event):
                raise self.fail(event, f"'{event.value}' is cut short by a comma: inside {{...}} or [...], "
                                       "a comma separates items", "put the whole expression in quotes")
            node = _Node("scalar", _scalar_tag(self.resolver, event), self.unmasked(event.value), line, col)
            if event.anchor is not None:
                self.anchors[event.anchor] = node
            return node
        kind, default_tag = ("seq", SEQ) if isinstance(event, SequenceStartEvent) else ("map", MAP)
        node = _Node(kind, event.tag if event.tag not in (None, "!") else default_tag, [], line, col)
        self.stack.append(_Open(node, event.anchor, bool(event.flow_style)))
        return node

    def finish(self) -> _Node:
        node, anchor, _ = self.stack.pop()
        if anchor is not None:  # only now, so that an alias inside its own anchor is caught
            self.anchors[anchor] = node
        return node

    def unmasked(self, value: str) -> str:
        return value.translate(_UNMASK) if self.masked else value

    def cut_at_comma(self, event: ScalarEvent) -> bool:
        """Whether a plain scalar in a flow collection is an expression split at its comma, as
        `{ahead_m: uniform(25, 40)}` is: YAML reads 'uniform(25' and a key '40)'."""
        return (not event.style and bool(self.stack) and self.stack[-1].flow
                and event.value.count("(") > event.value.count(")")
                and _CALL.search(event.value) is not None
                and _COMMA_NEXT.match(self.text, event.end_mark.index) is not None)

    def alias(self, event: AliasEvent) -> _Node:
        name = event.anchor
        if name in self.anchors:
            return self.anchors[name]
        if self.known(name):
            raise self.fail(event, f"alias '*{name}' is used inside its own anchor",
                            "a value cannot contain itself")
        raise self.fail(event, f"alias '*{name}' names no anchor before it",
                        f"define it first with '&{name}'")

    def known(self, anchor: str) -> bool:
        return anchor in self.anchors or any(anchor == open_.anchor for open_ in self.stack)

    def fail(self, event: Any, message: str, hint: str | None = None) -> InputError:
        return InputError(message, _pos(self.file, event.start_mark), hint)


def _scalar_tag(resolver: Resolver, event: ScalarEvent) -> str:
    """The standard resolver, plus exponent floats; dates and other exotica stay strings."""
    if event.tag not in (None, "!"):
        return event.tag
    tag = resolver.resolve(ScalarNode, event.value, event.implicit)
    if tag == STR and event.implicit[0] and _EXTRA_FLOAT.fullmatch(event.value):
        return FLOAT
    return tag if tag in _SCALAR_TAGS or tag == MERGE else STR


@dataclass(slots=True)
class _Converter:
    """Turns one node graph into plain data, expanding aliases and merges under the limits."""

    file: str
    limits: Limits
    value_nodes: dict[Path, _Node] = field(default_factory=dict)  # positions, read lazily
    key_nodes: dict[Path, _Node] = field(default_factory=dict)
    nodes: int = 0

    def value(self, node: _Node, path: Path, depth: int) -> Any:
        self.tally(node, depth)
        self.value_nodes[path] = node
        if node.kind == "scalar":
            return self.scalar(node)
        if node.kind == "seq":
            self.expect_tag(node, SEQ)
            return [self.value(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        data = {}
        for key, (key_node, value_node) in self.entries(node, depth).items():
            self.key_nodes[(*path, key)] = key_node
            data[key] = self.value(value_node, (*path, key), depth + 1)
        return data

    def entries(self, node: _Node, depth: int) -> dict[str, tuple[_Node, _Node]]:
        """A mapping's entries by key, in file order, with `<<` merges applied."""
        self.expect_tag(node, MAP)
        merged: dict[str, tuple[_Node, _Node]] = {}
        explicit: dict[str, tuple[_Node, _Node]] = {}
        for key_node, value_node in zip(node.value[::2], node.value[1::2]):
            if key_node.tag == MERGE:
                for key, entry in self.merged(value_node, depth).items():
                    merged.setdefault(key, entry)
                continue
            key = self.key(key_node)
            if key in explicit:
                first = explicit[key][0]
                raise InputError(f"duplicate key '{key}'", self.at(key_node),
                                 hint=f"first given at line {first.line}, col {first.col}")
            explicit[key] = (key_node, value_node)
        return merged | explicit

    def merged(self, node: _Node, depth: int) -> dict[str, tuple[_Node, _Node]]:
        """The entries a `<<` brings in: earlier sources win; each entry counts as a node."""
        sources = node.value if node.kind == "seq" else [node]
        entries: dict[str, tuple[_Node, _Node]] = {}
        for source in sources:
            if source.kind != "map":
                raise InputError("'<<' merges a mapping or a list of mappings", self.at(source),
                                 hint="write '<<: *anchor' or '<<: [*a, *b]'")
            self.tally(source, depth + 1)
            for key, entry in self.entries(source, depth + 1).items():
                self.tally(entry[1], depth + 1)
                entries.setdefault(key, entry)
        return entries

    def key(self, node: _Node) -> str:
        """Keys are strings, so that paths and error messages stay unambiguous."""
        if node.kind != "scalar":
            raise InputError("a mapping key must be a string, not a list or mapping", self.at(node))
        key = self.scalar(node)
        if not isinstance(key, str):
            raise InputError(f"key {node.value!r} reads as {_TAG_KINDS[node.tag]}, not a string",
                             self.at(node), hint=f"quote it: '{node.value}'")
        return key

    def scalar(self, node: _Node) -> str | int | float | bool | None:
        tag, text = node.tag, node.value
        if tag in (STR, MERGE):  # a '<<' outside key position is just text
            return text
        if tag not in _SCALAR_TAGS:
            raise self.bad_tag(node)
        if tag == NULL:
            return None
        try:
            value = _BUILDERS[tag](text)
        except OverflowError:
            raise InputError(f"integer {text} does not fit in 64 bits", self.at(node)) from None
        except (ValueError, KeyError):
            raise InputError(f"{text!r} is not {_TAG_KINDS[tag]}", self.at(node)) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"{text!r} is not a finite number", self.at(node))
        if isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX:
            raise InputError(f"integer {text} does not fit in 64 bits", self.at(node))
        return value

    def expect_tag(self, node: _Node, tag: str) -> None:
        if node.tag != tag:
            raise self.bad_tag(node)

    def bad_tag(self, node: _Node) -> InputError:
        shown = "!!" + node.tag.removeprefix(_STD) if node.tag.startswith(_STD) else node.tag
        return InputError(f"YAML tag '{shown}' is not allowed", self.at(node),
                          hint="use plain strings, numbers, booleans, null, lists and mappings")

    def at(self, node: _Node) -> SourcePos:
        return SourcePos(self.file, node.line, node.col)

    def tally(self, node: _Node, depth: int) -> None:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise InputError(f"the file expands to more than {self.limits.max_nodes} values",
                             self.at(node), hint="aliases count each time they are used")
        if depth >= self.limits.max_depth:
            raise InputError(f"values are nested more than {self.limits.max_depth} levels deep",
                             self.at(node), hint="an alias counts at the depth where it is used")


def _yaml_int(text: str) -> int:
    """YAML 1.1 integers as PyYAML reads them: 1_000, 0x1f, 0b101, 017 (octal), 1:30."""
    sign, digits = _signed(text)
    if len(digits) > 66:  # longer than 0b + 64 bits: refuse before int() does quadratic work
        raise OverflowError(text)
    if digits.startswith(("0b", "0x")):
        return sign * int(digits[2:], 2 if digits[1] == "b" else 16)
    if ":" in digits:
        return sign * _sexagesimal(int(part) for part in digits.split(":"))
    if len(digits) > 1 and digits.startswith("0"):
        return sign * int(digits, 8)
    return sign * int(digits)


def _yaml_float(text: str) -> float:
    """YAML 1.1 floats as PyYAML reads them (1.5, .5, 1:30.5, .inf), plus plain 1e3."""
    sign, digits = _signed(text.lower())
    if digits in (".inf", ".nan"):
        return math.nan
    if ":" in digits:
        return sign * _sexagesimal(float(part) for part in digits.split(":"))
    return sign * float(digits)


def _signed(text: str) -> tuple[int, str]:
    digits = text.replace("_", "")
    return (-1, digits[1:]) if digits.startswith("-") else (1, digits.removeprefix("+"))


def _yaml_bool(text: str) -> bool:
    return {"yes": True, "true": True, "on": True, "no": False, "false": False, "off": False}[
        text.lower()
    ]


def _sexagesimal(parts: Iterable[Any]) -> Any:
    total = 0
    for part in parts:
        total = total * 60 + part
    return total


_BUILDERS = MappingProxyType({INT: _yaml_int, FLOAT: _yaml_float, BOOL: _yaml_bool})
