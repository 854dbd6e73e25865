"""Fuzzing the hostile-input loaders: whatever a file holds, `edgecase check` exits 0, 1 or 2,
an exit 2 says `FILE:LINE:COL: ...` (or `FILE: ...` where there is no position), nothing is ever
executed, and each case takes well under a second with bounded memory.

Inputs come in classes (`CLASSES`): alias bombs, deep nesting, huge files, encodings (bad bytes,
BOMs, CRLF), Python tags, expression injection, absurd numbers, `extends:`/param/placement
cycles, and mutations (byte flips, line edits, key renames, value swaps) of the library
scenarios in scenarios/ and of the sensor rigs in sensors/.  Each class is a function of a
`random.Random`, so hypothesis here (a few hundred cases, the same on every run: see
tests/conftest.py) and benchmarks/bench_fuzz.py (tens of thousands, new each run) share the
generators: a failing seed reproduces with `generate(cls, seed)`.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import re
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgecase import cli
from edgecase.errors import EdgecaseError
from edgecase.scenario.loader import load_scenario
from edgecase.scenario.source import Limits, load_yaml
from edgecase.sensors.rig import load_rig

REPO = Path(__file__).resolve().parents[1]
LIBRARY = {p.name: p.read_text() for p in sorted((REPO / "scenarios").glob("*.yaml"))}
RIGS = {p.name: p.read_text() for p in sorted((REPO / "sensors").glob("*.yaml"))}
SENTINEL = "PWNED"  # an executed payload creates this file in the case's working directory
MAX_CASE_S = 1.0

# --- payloads ------------------------------------------------------------------------------------

INJECTIONS = [
    f"__import__('os').system('touch {SENTINEL}')",
    "().__class__.__bases__[0].__subclasses__()",
    f"open('{SENTINEL}', 'w').write('x')",
    f"exec(\"open('{SENTINEL}','w')\")",
    "eval('1+1')",
    "globals()['__builtins__']",
    "lambda: 0",
    "[c for c in ().__class__.__mro__]",
    "getattr(0, 'real')",
    "$ego_speed_mps.__class__",
    "ego.__dict__",
    "ego._private",
    "uniform(8, __import__('os'))",
    "min_ttc_s(ego, __import__('os'))",
    "max(1, 2).__class__.__base__",
    f"$(touch {SENTINEL})",
    f"`touch {SENTINEL}`",
    f"'; touch {SENTINEL} #",
    "{{7*7}}",
    "${HOME}",
    "9**9**9",
    "f'{1}'",
    "1 if 1 else 2",
    "breakpoint()",
    "__builtins__",
    "uniform(1, 2)(3)",
    "ego[0][0][0]",
    "not " * 40 + "true",
    "-" * 200 + "1",
    "(" * 40 + "1" + ")" * 40,
    "1" + " + 1" * 600,
    "uniform(" * 20 + "1, 2" + ")" * 20,
    "\\x41\\u0041",
    "\u0130\u0131",  # dotted/dotless i: case folding traps
    "ｅｖａｌ(1)",  # full-width letters
]

NUMBERS = [
    ".nan", ".NaN", ".inf", "-.inf", "+.inf", "nan", "inf", "NaN", "1e308", "-1e308", "1e309",
    "-1e400", "1e-320", "5e-324", "0", "-0.0", "-1", "-5", "99999999999999999999999",
    "9223372036854775808", "-9223372036854775809", "0x7fffffffffffffff", "0o777", "0b101",
    "1_000_000", "1e18", "1e9", "100000", "10000001", "uniform(1e308, 1e308)",
    "uniform(-1e308, 1e308)", "normal(0, 1e308)", "normal(0, 0)", "normal(1, -1)",
    "randint(0, 1e18)", "randint(0, 9223372036854775807)", "randint(5, 1)", "1e308 * 10",
    "1e308 + 1e308", "-1e308 - 1e308", "1 / 0", "0 / 0", "1 % 0", "choice()", "choice(1)",
    "uniform(2, 1)", "sqrt(-1)", "round(1e308)", "clip(1, 2)", "abs()", "1e308 * 1e308 - 1e308 * 1e308",
    "'1e3'", "\"12\"", "1:00", "12:30:00", "2001-12-14", "~", "null", "yes", "off", "[]", "{}",
]

TAGS = [
    f"!!python/object/apply:os.system ['touch {SENTINEL}']",
    f"!!python/object/apply:subprocess.check_output [['touch', '{SENTINEL}']]",
    f"!!python/object/new:os.system ['touch {SENTINEL}']",
    "!!python/object:__main__.X {a: 1}",
    "!!python/name:os.system",
    "!!python/module:os",
    "!!python/tuple [1, 2]",
    "!!python/unicode 'x'",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!!pairs [a: 1]",
    "!!timestamp 2001-12-14",
    f"!<tag:yaml.org,2002:python/object/apply:os.system> ['touch {SENTINEL}']",
    "!custom 8",
    "!secret 8",
    "! 8",
    "!!str 8",
    "!!int 8",
    "!!float 8",
    "!!float 8x",
    "!!int '12'",
    "!!bool maybe",
    "!!null x",
    "!!map {a: 1}",
    "!!seq [1]",
    "!!map [1]",
    "&anchor 8",
    "*undefined",
]

BAD_BYTES = [b"\x80", b"\xff", b"\xc3", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf",
             b"\x00", b"\x1b[2J", b"\x7f", b"\xef\xbb\xbf", b"\xfe\xff", b"\xff\xfe", b"\r", b"\r\n",
             b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9", b"\t", b"\xe2\x80\x8b", b"\xee\x80\x80"]

KEYS = sorted({k for text in (*LIBRARY.values(), *RIGS.values())
               for k in re.findall(r"^\s*(?:- )?([A-Za-z_][\w.]*):", text, re.M)}
              | {"extends", "<<", "step_s", "count", "sweep", "traffic_lights", "when", "target", "seeds"})

# --- the case generators --------------------------------------------------------------------------


@dataclass
class Case:
    """One fuzz input: files to write (name -> bytes) and which to check, as a scenario or a rig."""

    cls: str
    files: dict[str, bytes]
    main: str
    kind: str = "scenario"  # "scenario": `edgecase check FILE`; "rig": load_rig(FILE) in-process
    limits: Limits | None = None  # set: load_scenario(FILE, limits=...) in-process instead of the CLI


_VALUE_LINE = re.compile(r"^(\s*(?:- )?[\w$.<]+:[ \t]+|\s*- )([^#\n]*?)(\s+#.*)?$", re.M)


def _value_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every `key: value` and `- item` value written on its line, flow or not."""
    spans = []
    for m in _VALUE_LINE.finditer(text):
        if m.group(2).strip() and m.group(2).strip() not in (">", "|", ">-", "|-"):
            spans.append(m.span(2))
    # values inside flow mappings and lists: `{lane: driving, s_m: 20}`, `[car, van]`
    for m in re.finditer(r"(?<=[{\[,:] )([^,{}\[\]\n#:]+?)(?=[,}\]])", text):
        spans.append(m.span(1))
    return sorted(set(spans))


def _replace_value(rng: random.Random, text: str, new: str, *, where: Callable[[str], bool] | None = None) -> str:
    spans = _value_spans(text)
    if where:
        spans = [s for s in spans if where(text[s[0]:s[1]])] or spans
    if not spans:
        return text + f"\nx: {new}\n"
    start, end = rng.choice(spans)
    return text[:start] + new + text[end:]


def _quoted(rng: random.Random, value: str) -> str:
    style = rng.randrange(4)
    if style == 0:
        return value
    if style == 1:
        return "'" + value.replace("'", "''") + "'"
    if style == 2:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "|-\n" + "    " + value  # a block scalar (often mis-indented: that is fine too)


def _library(rng: random.Random) -> tuple[str, str]:
    name = rng.choice(sorted(LIBRARY))
    return name, LIBRARY[name]


def _rig(rng: random.Random) -> tuple[str, str]:
    name = rng.choice(sorted(RIGS))
    return name, RIGS[name]


def gen_alias_bomb(rng: random.Random) -> Case:
    fan, levels = rng.randint(2, 12), rng.randint(3, 14)
    style = rng.randrange(3)
    lines = ["edgecase: 1", "name: bomb"] if rng.random() < 0.5 else []
    if style == 0:  # billion laughs over lists
        lines.append(f"l0: &l0 [{', '.join(['lol'] * fan)}]")
        lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fan)}]" for i in range(1, levels)]
    elif style == 1:  # over mappings
        lines.append("l0: &l0 {" + ", ".join(f"k{j}: lol" for j in range(fan)) + "}")
        lines += ["l%d: &l%d {" % (i, i) + ", ".join(f"k{j}: *l{i - 1}" for j in range(fan)) + "}" for i in range(1, levels)]
    else:  # merge-key bomb
        lines.append("l0: &l0 {" + ", ".join(f"k{j}: [lol, lol]" for j in range(fan)) + "}")
        lines += ["l%d: &l%d {<<: *l%d, " % (i, i, i - 1) + ", ".join(f"m{j}: *l{i - 1}" for j in range(fan)) + "}"
                  for i in range(1, levels)]
    if rng.random() < 0.3:  # used where a value is expected in a library scenario
        name, text = _library(rng)
        text = _replace_value(rng, text, f"*l{levels - 1}")
        return Case("alias_bomb", {"c.yaml": ("\n".join(lines) + "\n").encode() + b"x-" + text.encode()}, "c.yaml")
    return Case("alias_bomb", {"c.yaml": ("\n".join(lines) + "\n").encode()}, "c.yaml")


def gen_deep_nesting(rng: random.Random) -> Case:
    depth = rng.choice([rng.randint(1, 70), 63, 64, 65, rng.randint(100, 2000), 5000, 50_000])
    style = rng.randrange(6)
    if style == 0:
        text = "a: " + "[" * depth + "]" * depth + "\n"
    elif style == 1:
        text = "a: " + "{a: " * depth + "1" + "}" * depth + "\n"
    elif style == 2:
        depth = min(depth, 3000)
        text = "".join("  " * i + f"k{i}:\n" for i in range(depth)) + "  " * depth + "v\n"
    elif style == 3:
        text = "a:\n" + "".join("  " * (i + 1) + "- " + "\n" for i in range(min(depth, 3000))) + "\n"
    elif style == 4:  # an unclosed bracket run
        text = "a: " + "[" * depth + "\n"
    else:  # nested expressions in a library field
        _, lib = _library(rng)
        d = min(depth, 400)
        expr = rng.choice(["(" * d + "1" + ")" * d, "-" * d + "1", "not " * d + "true",
                           "abs(" * d + "1" + ")" * d, "[" * d + "1" + "]" * d])
        text = _replace_value(rng, lib, _quoted(rng, expr))
    return Case("deep_nesting", {"c.yaml": text.encode()}, "c.yaml")


def gen_huge(rng: random.Random) -> Case:
    limit = Limits().max_bytes
    target = rng.choice([limit - 1, limit, limit + 1, 2 * limit, rng.randint(limit // 2, limit)])
    _, lib = _library(rng)
    style = rng.randrange(5)
    if style == 0:
        filler = "# padding\n"
    elif style == 1:
        filler = "- 1\n"  # list items after a mapping: a clean syntax error
    elif style == 2:
        filler = "k: " + "v" * rng.choice([9_999, 10_000, 10_001, 100_000]) + "\n"
    elif style == 3:
        filler = "".join(f"p{i}: {i}\n" for i in range(200))
    else:
        filler = "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"
    body = lib + filler * max(0, (target - len(lib)) // len(filler))
    data = body.encode()[:target]
    case = Case("huge", {"c.yaml": data}, "c.yaml")
    if rng.random() < 0.3:  # the limits are configurable: the loaders in-process with other Limits
        case.limits = Limits(max_bytes=rng.choice([1_000, 100_000, 3 * limit]), max_depth=rng.choice([4, 64, 200]),
                             max_nodes=rng.choice([50, 100_000, 500_000]), max_scalar_chars=rng.choice([10, 10_000, 200_000]))
    return case


def gen_encoding(rng: random.Random) -> Case:
    _, lib = _library(rng)
    op = rng.randrange(9)
    if op == 0:  # bad bytes inserted anywhere
        raw = lib.encode()
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(raw) + 1)
            raw = raw[:at] + rng.choice(BAD_BYTES) + raw[at:]
    elif op == 1:
        raw = b"\xef\xbb\xbf" + lib.encode()
    elif op == 2:
        raw = b"\xef\xbb\xbf" * rng.randint(2, 3) + lib.encode()
    elif op == 3:
        raw = lib.encode(rng.choice(["utf-16", "utf-16-le", "utf-16-be", "utf-32"]))
    elif op == 4:
        raw = lib.replace("\n", "\r\n").encode()
    elif op == 5:
        raw = lib.replace("\n", rng.choice(["\r", "\x85", "\u2028", "\n\r"])).encode()
    elif op == 6:  # CRLF in some lines only, with a BOM
        raw = ("\ufeff" + "".join(l + rng.choice(["\n", "\r\n"]) for l in lib.split("\n"))).encode()
    elif op == 7:
        raw = lib.replace("ego", rng.choice(["égo", "e\u0301go", "ego\u200b", "\u0435go"])).encode(rng.choice(["utf-8", "latin-1"]) if rng.random() < 0.5 else "utf-8", "replace")
    else:  # a BOM in the middle
        at = rng.randrange(len(lib))
        raw = (lib[:at] + "\ufeff" + lib[at:]).encode()
    return Case("encoding", {"c.yaml": raw}, "c.yaml")


def gen_python_tags(rng: random.Random) -> Case:
    _, lib = _library(rng)
    tag = rng.choice(TAGS)
    if rng.random() < 0.15:
        text = rng.choice(["%TAG ! tag:yaml.org,2002:python/object/apply:\n--- \n",
                           "%YAML 1.1\n---\n", "%YAML 1.3\n---\n", "%FOO bar\n---\n"]) + lib
    else:
        text = _replace_value(rng, lib, tag)
    return Case("python_tags", {"c.yaml": text.encode()}, "c.yaml")


def gen_injection(rng: random.Random) -> Case:
    _, lib = _library(rng)
    text = lib
    for _ in range(rng.randint(1, 3)):
        text = _replace_value(rng, text, _quoted(rng, rng.choice(INJECTIONS)))
    return Case("injection", {"c.yaml": text.encode()}, "c.yaml")


_NUMERIC = re.compile(r"^[-+$\w(][\w\s.,()$*/+\-=]*$")


def gen_absurd_numbers(rng: random.Random) -> Case:
    _, lib = _library(rng)
    text = lib
    for _ in range(rng.randint(1, 3)):
        value = rng.choice(NUMBERS)
        if rng.random() < 0.25:  # absurd counts and steps where they matter most
            key = rng.choice(["step_s", "count", "duration_s", "gap_m", "seeds"])
            text = re.sub(rf"^(\s*){key}:.*$", lambda m: f"{m.group(1)}{key}: {value}", text, count=1, flags=re.M)
            if f"{key}:" not in text:
                text = text.replace("\nactors:", f"\n{key}: {value}\nactors:", 1) if key != "count" else \
                    re.sub(r"^(    blueprint:)", f"    count: {value}\n\\1", text, count=1, flags=re.M)
        else:
            text = _replace_value(rng, text, value, where=lambda v: bool(re.search(r"\d|\$|\(", v)))
    return Case("absurd_numbers", {"c.yaml": text.encode()}, "c.yaml")


def gen_cycles(rng: random.Random) -> Case:
    _, lib = _library(rng)
    body = re.sub(r"^extends:.*\n", "", lib, flags=re.M)
    op = rng.randrange(7)
    if op == 0:  # extends: a cycle of n files
        n = rng.randint(1, 4)
        files = {f"f{i}.yaml": (f"extends: {rng.choice(['', './'])}f{(i + 1) % n}.yaml\n" + (body if rng.random() < 0.5 else "name: x\n")).encode()
                 for i in range(n)}
        return Case("cycles", files, "f0.yaml")
    if op == 1:  # a chain longer than the limit
        n = rng.randint(15, 20)
        files = {f"f{i}.yaml": (f"extends: f{i + 1}.yaml\n").encode() for i in range(n)}
        files[f"f{n}.yaml"] = body.encode()
        return Case("cycles", files, "f0.yaml")
    if op == 2:  # extends: odd targets
        target = rng.choice(["/dev/null", "/dev/zero", ".", "..", "c.yaml", "./c.yaml", "../c/c.yaml", "nowhere.yaml",
                             "[a, b]", "{a: 1}", "''", "~", "1", "/etc/passwd", "/proc/self/status", "a\\b.yaml", "*",
                             "f" * 300 + ".yaml", "c.yaml\x00x"])
        return Case("cycles", {"c.yaml": f"extends: {target}\n{body}".encode("utf-8", "replace")}, "c.yaml")
    if op == 3:  # cyclic params
        names = [f"p{i}" for i in range(rng.randint(1, 5))]
        params = "".join(f"  {n}: ${names[(i + 1) % len(names)]} + 1\n" for i, n in enumerate(names))
        text = re.sub(r"^params:\n", "params:\n" + params, body, count=1, flags=re.M) if "params:" in body else \
            body.replace("\nactors:", "\nparams:\n" + params + "actors:", 1)
        text = _replace_value(rng, text, f"${rng.choice(names)}", where=lambda v: "$" in v or v[:1].isdigit())
        return Case("cycles", {"c.yaml": text.encode()}, "c.yaml")
    if op == 4:  # a param that refers to itself
        text = re.sub(r"^(  )(\w+): .*$", lambda m: f"{m.group(1)}{m.group(2)}: ${m.group(2)} * 2", body, count=1, flags=re.M)
        return Case("cycles", {"c.yaml": text.encode()}, "c.yaml")
    if op == 5:  # placements that refer to each other or themselves
        actors = re.findall(r"^  (\w+):\n    ", body.split("\nactors:", 1)[-1], re.M) or ["ego"]
        a, b = rng.choice(actors), rng.choice(actors)
        text = _replace_value(rng, body, f"{{relative_to: {b}, lane: same, ahead_m: 5}}",
                              where=lambda v: v.startswith("{"))
        text = text.replace("relative_to: ego", f"relative_to: {a}", 1)
        text = text.replace('between: ["', f'between: ["{rng.choice(actors)}", "', 1)
        return Case("cycles", {"c.yaml": text.encode()}, "c.yaml")
    # an anchor that contains its own alias (a YAML-level cycle)
    return Case("cycles", {"c.yaml": rng.choice([b"a: &a [*a]\n", b"a: &a {b: *a}\n", b"&a a: *a\n",
                                                  b"a: &a\n  <<: *a\n", b"a: *a\n"])}, "c.yaml")


def _mutate_bytes(rng: random.Random, text: str) -> bytes:
    raw = bytearray(text.encode())
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(len(raw))
        op = rng.randrange(4)
        if op == 0:
            raw[at] ^= 1 << rng.randrange(8)
        elif op == 1:
            raw[at] = rng.randrange(256)
        elif op == 2:
            del raw[at]
        else:
            raw.insert(at, rng.choice(b"{}[]:,-#&*!|>'\"%@`\t\n ()$.0123456789"))
    return bytes(raw)


def _mutate_lines(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 4)):
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        op = rng.randrange(5)
        if op == 0 and len(lines) > 1:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[j])
        elif op == 2:
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 3:
            lines[i] = " " * rng.choice([1, 2, 4]) + lines[i] if rng.random() < 0.5 else lines[i].lstrip()
        else:
            lines[i:i] = [lines[i]] * rng.randint(2, 50)
    return "\n".join(lines)


def _rename_key(rng: random.Random, text: str) -> str:
    keys = list(re.finditer(r"^(\s*(?:- )?)([A-Za-z_<][\w.<]*):", text, re.M)) + \
        list(re.finditer(r"([{,] ?)([A-Za-z_]\w*):", text))
    if not keys:
        return text
    m = rng.choice(keys)
    old = m.group(2)
    new = rng.choice([rng.choice(KEYS), old[:-1], old + "s", old.upper(), old.replace("_", ""), "", "__class__", "<<",
                      "? " + old, old + " " + old, "'" + old + "'", "1", "null", "true", "[" + old + "]"])
    return text[:m.start(2)] + new + text[m.end(2):]


def _swap_values(rng: random.Random, text: str, other: str) -> str:
    spans, donor = _value_spans(text), _value_spans(other)
    if not spans or not donor:
        return text
    a, b = rng.choice(spans), rng.choice(donor)
    return text[:a[0]] + other[b[0]:b[1]] + text[a[1]:]


def _mutated(cls: str, rng: random.Random, text: str, pool: dict[str, str]) -> bytes:
    kind = cls.split("_", 1)[1]
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        if kind == "byte_flips":
            return _mutate_bytes(rng, text)
        if kind == "line_edits":
            text = _mutate_lines(rng, text)
        elif kind == "key_renames":
            text = _rename_key(rng, text)
        else:
            text = _swap_values(rng, text, pool[rng.choice(sorted(pool))] if rng.random() < 0.5 else text)
    return text.encode()


def _gen_mutation(cls: str) -> Callable[[random.Random], Case]:
    def gen(rng: random.Random) -> Case:
        if cls.startswith("rig"):
            _, text = _rig(rng)
            return Case(cls, {"r.yaml": _mutated(cls, rng, text, RIGS)}, "r.yaml", kind="rig")
        _, text = _library(rng)
        return Case(cls, {"c.yaml": _mutated(cls, rng, text, LIBRARY)}, "c.yaml")
    return gen


def gen_rig_hostile(rng: random.Random) -> Case:
    """The hostile classes above, aimed at a sensor rig file instead of a scenario."""
    _, text = _rig(rng)
    op = rng.randrange(4)
    if op == 0:
        text = _replace_value(rng, text, _quoted(rng, rng.choice(INJECTIONS)))
    elif op == 1:
        text = _replace_value(rng, text, rng.choice(NUMBERS))
    elif op == 2:
        text = _replace_value(rng, text, rng.choice(TAGS))
    else:
        text = gen_alias_bomb(rng).files["c.yaml"].decode("utf-8", "replace") + "\n" + text
    return Case("rig_hostile", {"r.yaml": text.encode()}, "r.yaml", kind="rig")


GENERATORS: dict[str, Callable[[random.Random], Case]] = {
    "alias_bomb": gen_alias_bomb,
    "deep_nesting": gen_deep_nesting,
    "huge": gen_huge,
    "encoding": gen_encoding,
    "python_tags": gen_python_tags,
    "injection": gen_injection,
    "absurd_numbers": gen_absurd_numbers,
    "cycles": gen_cycles,
    **{cls: _gen_mutation(cls) for cls in ("mut_byte_flips", "mut_line_edits", "mut_key_renames", "mut_value_swaps",
                                            "rig_byte_flips", "rig_line_edits", "rig_key_renames", "rig_value_swaps")},
    "rig_hostile": gen_rig_hostile,
}
CLASSES = tuple(GENERATORS)


def generate(cls: str, seed: int) -> Case:
    return GENERATORS[cls](random.Random(f"{cls}:{seed}"))


# --- running a case and judging the outcome ---------------------------------------------------------


@dataclass
class Outcome:
    cls: str
    code: int
    message: str
    elapsed_s: float
    verdict: str  # "ok", "exit2", or a failure: "exit3", "unpositioned", "slow", "executed", ...

    @property
    def failed(self) -> bool:
        return self.verdict not in ("ok", "exit1", "exit2")


_POSITIONED = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): \S")


def judge(case: Case, path: Path, code: int, message: str, elapsed_s: float, cwd: Path) -> str:
    if (cwd / SENTINEL).exists() or (path.parent / SENTINEL).exists():
        return "executed"
    if elapsed_s > MAX_CASE_S:
        return "slow"
    if code in (0, 1):
        return "ok" if code == 0 else "exit1"
    if code != 2:
        return f"exit{code}"
    if "Traceback" in message:
        return "traceback"
    first = message.splitlines()[0] if message else ""
    m = _POSITIONED.match(first)
    if m and int(m["line"]) >= 1 and int(m["col"]) >= 1:
        # the case file, or a file it names (an `extends:` base, a rig): it must exist and be said as given
        if m["file"] == str(path) or Path(m["file"]).exists():
            return "exit2"
        return "exit2_unknown_file"
    if first.startswith(f"{path}: "):
        return "exit2"
    return "unpositioned"


def run_case(case: Case, root: Path) -> Outcome:
    """Write the case's files into a fresh folder under `root`, check it there (cwd = that folder)."""
    folder = Path(tempfile.mkdtemp(dir=root))
    for name, data in case.files.items():
        (folder / name).write_bytes(data)
    path = folder / case.main
    err = io.StringIO()
    old_cwd = os.getcwd()
    os.chdir(folder)
    try:
        started = time.perf_counter()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = _check(case, path, err)
        elapsed = time.perf_counter() - started
    finally:
        os.chdir(old_cwd)
    message = err.getvalue()
    verdict = judge(case, path, code, message, elapsed, folder)
    shutil.rmtree(folder, ignore_errors=True)
    return Outcome(case.cls, code, message, elapsed, verdict)


def _check(case: Case, path: Path, err: io.StringIO) -> int:
    if case.kind == "scenario" and case.limits is None:
        return cli.run(["check", str(path)])
    try:
        if case.kind == "rig":
            load_rig(path)
        else:
            load_scenario(path, limits=case.limits or Limits())
        return 0
    except EdgecaseError as error:
        err.write(str(error) + "\n")
        return error.exit_code
    except Exception as error:  # noqa: BLE001 - a bug: the harness reports it as a failure
        err.write(f"internal error: {type(error).__name__}: {error}\n")
        return 3


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --- the tests -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz")
    warm = Case("warm", {"c.yaml": LIBRARY["occluded_child_dartout.yaml"].encode()}, "c.yaml")
    assert run_case(warm, folder).verdict == "ok"  # imports and caches outside the timed cases
    return folder


def assert_fine(outcome: Outcome, case: Case) -> None:
    assert not outcome.failed, (f"{case.cls}: {outcome.verdict} (exit {outcome.code}, {outcome.elapsed_s * 1000:.0f} ms)\n"
                                f"{outcome.message[:2000]}\nfiles: {({k: v[:3000] for k, v in case.files.items()})!r}")


FUZZ_SETTINGS = settings(max_examples=18, deadline=None, derandomize=True, database=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.mark.parametrize("cls", CLASSES)
@FUZZ_SETTINGS
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_fuzz_class_gives_a_clean_outcome(cls: str, seed: int, root: Path) -> None:
    case = generate(cls, seed)
    assert_fine(run_case(case, root), case)


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=400) | st.text(alphabet=st.sampled_from(list("abc_$(){}[]:,-#&*!|>'\" \n\t.0123456789eE+")), max_size=300).map(str.encode))
def test_fuzz_random_bytes_give_a_clean_outcome(raw: bytes, root: Path) -> None:
    case = Case("random", {"c.yaml": raw}, "c.yaml")
    assert_fine(run_case(case, root), case)


def _scalar_paths(data, path=()):
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _scalar_paths(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _scalar_paths(value, (*path, index))
    else:
        yield path


def _set(data, path, value):
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


# Free text: a payload there is only a string, never evaluated; every other scalar must refuse it.
FREE_TEXT = {("description",), ("tags",)}
PAYLOADS = [f"__import__('os').system('touch {SENTINEL}')", "().__class__.__bases__[0].__subclasses__()"]
# One scenario per kind of field: weather as a mapping, multi-step behaviors with triggers, `between`
# placements, counts and gaps, expect lines with keyword arguments, criticality.
# occluded_child_dartout gets every weather field and step_s as well.
INJECTED = {
    "occluded_child_dartout.yaml": {
        "step_s": 0.05,
        "weather": {"preset": "WetCloudySunset", "cloudiness": 80, "precipitation": "uniform(10, 30)",
                    "precipitation_deposits": 50, "wind_intensity": 10, "sun_azimuth_angle": 90,
                    "sun_altitude_angle": "uniform(10, 20)", "fog_density": 5, "fog_distance": 60, "wetness": 40},
    },
    "dense_highway_merge.yaml": {},
    "red_light_runner_junction.yaml": {},  # traffic_lights
}


def library_with(scenario: str, extra: dict) -> dict:
    return {**load_yaml(LIBRARY[scenario], scenario).data, **extra}


def test_the_injected_scenarios_are_valid_as_written(root: Path) -> None:
    for scenario, extra in INJECTED.items():
        text = yaml.safe_dump(library_with(scenario, extra), sort_keys=False)
        outcome = run_case(Case("every_scalar", {"c.yaml": text.encode()}, "c.yaml"), root)
        assert outcome.code == 0, outcome.message


@pytest.mark.parametrize("scenario", INJECTED)
def test_a_payload_in_any_scalar_is_refused_and_nothing_runs(scenario: str, root: Path) -> None:
    import copy

    data = library_with(scenario, INJECTED[scenario])
    paths = list(_scalar_paths(data))
    assert len(paths) > 30
    for path in paths:
        for payload in PAYLOADS:
            mutated = copy.deepcopy(data)
            _set(mutated, path, payload)
            text = yaml.safe_dump(mutated, sort_keys=False).replace(SENTINEL, str(root / SENTINEL))
            for written in (text, text.replace(str(root / SENTINEL), SENTINEL)):  # absolute and in the cwd
                case = Case("every_scalar", {"c.yaml": written.encode()}, "c.yaml")
                outcome = run_case(case, root)
                assert not (root / SENTINEL).exists()
                assert_fine(outcome, case)
                if path[:1] in FREE_TEXT:
                    assert outcome.code in (0, 2), outcome.message
                else:
                    assert outcome.code == 2, f"{path}: {payload} was accepted"


def test_the_sentinel_would_be_seen(root: Path) -> None:
    """The harness notices an executed payload: the same payload run by Python creates the file."""
    folder = Path(tempfile.mkdtemp(dir=root))
    old = os.getcwd()
    os.chdir(folder)
    try:
        eval(PAYLOADS[0])  # noqa: S307 - the control experiment: this is what the loader must never do
    finally:
        os.chdir(old)
    case = Case("control", {"c.yaml": LIBRARY["occluded_child_dartout.yaml"].encode()}, "c.yaml")
    assert judge(case, folder / "c.yaml", 0, "", 0.0, folder) == "executed"


def test_size_limit_is_the_default_and_configurable(root: Path) -> None:
    limit = Limits().max_bytes
    lib = LIBRARY["occluded_child_dartout.yaml"]
    padded = lib + "#" * (limit - len(lib.encode()) - 1) + "\n"
    assert len(padded.encode()) == limit
    at_limit = run_case(Case("huge", {"c.yaml": padded.encode()}, "c.yaml"), root)
    over = run_case(Case("huge", {"c.yaml": (padded + "#\n").encode()}, "c.yaml"), root)
    assert at_limit.verdict == "ok" and at_limit.elapsed_s < MAX_CASE_S, at_limit.message
    assert over.code == 2 and f"over {limit} bytes" in over.message and ":1:1: " in over.message
    bigger = run_case(Case("huge", {"c.yaml": (padded + "#\n").encode()}, "c.yaml", limits=Limits(max_bytes=2 * limit)), root)
    assert bigger.verdict == "ok", bigger.message
    smaller = run_case(Case("huge", {"c.yaml": lib.encode()}, "c.yaml", limits=Limits(max_bytes=100)), root)
    assert smaller.code == 2 and "over 100 bytes" in smaller.message


def test_memory_stays_bounded_under_bombs_and_big_files(root: Path) -> None:
    before = peak_rss_mb()
    for seed in range(15):
        for cls in ("alias_bomb", "huge", "deep_nesting"):
            case = generate(cls, 10_000 + seed)
            assert_fine(run_case(case, root), case)
    assert peak_rss_mb() - before < 300


@pytest.mark.parametrize("at", ["{road: 8, lane_id: -3, s_m: 25}", "{road: 1, lane_id: 45000, s_m: 25}"])
def test_a_road_or_lane_the_map_lacks_is_reported_at_the_at_key(at: str, root: Path) -> None:
    text = LIBRARY["dense_highway_merge.yaml"].replace("{lane: driving, s_m: 25}", at)
    case = Case("absurd_numbers", {"c.yaml": text.encode()}, "c.yaml")
    assert_fine(run_case(case, root), case)
