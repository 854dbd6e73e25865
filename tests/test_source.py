"""The YAML loader: exact positions, plain data, and a clean InputError for anything hostile."""

from __future__ import annotations

import re
import time

import pytest
import yaml
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from edgecase.errors import InputError, SourcePos
from edgecase.scenario import source
from edgecase.scenario.source import Limits, YamlDoc, load_yaml, load_yaml_file

FILE = "s.yaml"


@pytest.fixture(params=["libyaml", "python"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test over libyaml's events and over PyYAML's pure-Python ones: same results."""
    if request.param == "python":
        monkeypatch.setattr(source, "_Events", source._PyEvents)
    return request.param


def at(line: int, col: int) -> SourcePos:
    return SourcePos(FILE, line, col)


def fails(text: str | bytes, limits: Limits = Limits()) -> InputError:
    with pytest.raises(InputError) as info:
        load_yaml(text, FILE, limits=limits)
    error = info.value
    assert error.pos is not None and error.pos.file == FILE
    assert str(error).startswith(f"{FILE}:{error.pos.line}:{error.pos.col}: ")
    return error


NESTED = """\
name: demo
actors:
  ego:
    speed_mps: 12
    at: {lane: driving, s_m: 20}
  parked:
    - first
    - {count: 3}
tags: [a, b]
"""


def test_positions_of_nested_keys_values_and_items(backend: str) -> None:
    doc = load_yaml(NESTED, FILE)
    assert doc.data == {
        "name": "demo",
        "actors": {
            "ego": {"speed_mps": 12, "at": {"lane": "driving", "s_m": 20}},
            "parked": ["first", {"count": 3}],
        },
        "tags": ["a", "b"],
    }
    assert doc.value_pos[()] == at(1, 1)
    assert doc.value_pos[("name",)] == at(1, 7)
    assert doc.key_pos[("actors",)] == at(2, 1)
    assert doc.key_pos[("actors", "ego")] == at(3, 3)
    assert doc.key_pos[("actors", "ego", "speed_mps")] == at(4, 5)
    assert doc.value_pos[("actors", "ego", "speed_mps")] == at(4, 16)
    assert doc.value_pos[("actors", "ego", "at")] == at(5, 9)
    assert doc.key_pos[("actors", "ego", "at", "s_m")] == at(5, 25)
    assert doc.value_pos[("actors", "ego", "at", "s_m")] == at(5, 30)
    assert doc.value_pos[("actors", "parked", 0)] == at(7, 7)
    assert doc.value_pos[("actors", "parked", 1)] == at(8, 7)
    assert doc.value_pos[("actors", "parked", 1, "count")] == at(8, 15)
    assert doc.value_pos[("tags", 1)] == at(9, 11)


def test_pos_falls_back_to_the_deepest_known_prefix() -> None:
    doc = load_yaml(NESTED, FILE)
    assert doc.pos(("actors", "ego", "speed_mps")) == at(4, 16)
    assert doc.pos(["actors", "ego", "speed_mps"], key=True) == at(4, 5)
    assert doc.pos(("actors", "ego", "missing", "deeper")) == at(4, 5)  # the value of 'ego'
    assert doc.pos(("actors", "ego", "missing"), key=True) == at(3, 3)  # the key 'ego'
    assert doc.pos(("tags", 7)) == at(9, 7)
    assert doc.pos(()) == at(1, 1)
    assert doc.pos((), key=True) == at(1, 1)


def test_positions_read_like_a_mapping() -> None:
    doc = load_yaml("a: 1\nb: [2]\n", FILE)
    assert dict(doc.value_pos) == {(): at(1, 1), ("a",): at(1, 4), ("b",): at(2, 4), ("b", 0): at(2, 5)}
    assert len(doc.key_pos) == 2 and ("b",) in doc.key_pos and ("c",) not in doc.key_pos
    assert "('b', 0): s.yaml:2:5" in repr(doc.value_pos)


def test_bom_and_crlf_load_with_editor_positions(backend: str) -> None:
    raw = "\ufeffname: x\r\nactors:\r\n  ego: {speed: 2}\r\n".encode()
    doc = load_yaml(raw, FILE)
    assert doc.data == {"name": "x", "actors": {"ego": {"speed": 2}}}
    assert doc.value_pos[("name",)] == at(1, 7)
    assert doc.value_pos[("actors", "ego", "speed")] == at(3, 16)


def test_scalars_resolve_like_yaml_with_plain_exponents_as_floats() -> None:
    doc = load_yaml(
        "a: 1e3\nb: 2.5e-3\nc: '1e3'\nd: -.5\ne: 1_000\nf: 0x1F\ng: yes\nh: ~\ni:\n"
        "j: 2001-01-01\nk: !!str 12\nl: !!int '7'\nm: 09\nn: -9223372036854775808\n",
        FILE,
    )
    assert doc.data == {
        "a": 1000.0, "b": 0.0025, "c": "1e3", "d": -0.5, "e": 1000, "f": 31, "g": True,
        "h": None, "i": None, "j": "2001-01-01", "k": "12", "l": 7, "m": "09", "n": -(2**63),
    }  # fmt: skip
    assert isinstance(doc.data["a"], float) and isinstance(doc.data["e"], int)


def test_merge_keys_explicit_keys_win_and_positions_follow_the_source() -> None:
    doc = load_yaml(
        "base: &base {speed: 10, lane: driving}\n"
        "extra: &extra {lane: parking, gap: 1}\n"
        "car:\n"
        "  <<: [*base, *extra]\n"
        "  speed: 12\n",
        FILE,
    )
    assert doc.data["car"] == {"speed": 12, "lane": "driving", "gap": 1}
    assert doc.value_pos[("car", "speed")] == at(5, 10)  # the explicit key
    assert doc.value_pos[("car", "lane")] == at(1, 31)  # from the first source
    assert doc.key_pos[("car", "gap")] == at(2, 31)
    assert load_yaml("a: &a {x: 1}\nb: {<<: *a, y: 2}\n", FILE).data["b"] == {"x": 1, "y": 2}


def test_commas_inside_a_call_stay_in_the_expression_in_flow_style() -> None:
    doc = load_yaml("a:\n  at: {ahead_m: uniform(25, 40), lane: x, w: choice(1, 2, weights=[1, 3])}\n", FILE)
    assert doc.data == {"a": {"at": {"ahead_m": "uniform(25, 40)", "lane": "x", "w": "choice(1, 2, weights=[1, 3])"}}}
    assert doc.value_pos[("a", "at", "lane")] == at(2, 40)  # positions after the call are unchanged
    doc = load_yaml("a: {x: 'uniform(25, 40)', y: f(1), z: [g(2)]}\nb: uniform(1, 2)\nc: [x (y, z), w]\n", FILE)
    assert doc.data == {"a": {"x": "uniform(25, 40)", "y": "f(1)", "z": ["g(2)"]}, "b": "uniform(1, 2)", "c": ["x (y", "z)", "w"]}  # only calls group


def test_an_expression_cut_by_a_comma_across_lines_is_explained() -> None:
    error = fails("a:\n  at: {ahead_m: uniform(25\n   , 40), lane: x}\n")
    assert (error.pos.line, error.pos.col) == (2, 17)
    assert "'uniform(25' is cut short by a comma" in str(error) and "quotes" in str(error)


def test_aliases_expand_into_independent_copies() -> None:
    doc = load_yaml("a: &a [1, {b: 2}]\nc: *a\n", FILE)
    assert doc.data["a"] == doc.data["c"] and doc.data["a"] is not doc.data["c"]
    assert doc.value_pos[("c", 1, "b")] == at(1, 15)  # where the value is written


HOSTILE = [
    # (name, text, line, col, message fragment)
    ("syntax error", "a: [1, 2\nb: 3\n", 2, 2, "invalid YAML"),
    ("tab indentation", "actors:\n\tego: 1\n", 2, 1, "cannot start any token"),
    ("duplicate key", "name: a\ntags: []\nname: b\n", 3, 1, "duplicate key 'name'"),
    ("nested duplicate", "a:\n  b: 1\n  c: 2\n  b: 3\n", 4, 3, "duplicate key 'b'"),
    ("python object", "x: !!python/object/apply:os.system [echo]\n", 1, 4,
     "YAML tag '!!python/object/apply:os.system' is not allowed"),
    ("python name", "x: !!python/name:os.system\n", 1, 4, "'!!python/name:os.system' is not allowed"),
    ("python module", "x: !!python/module:os\n", 1, 4, "is not allowed"),
    ("custom tag", "a:\n  b: !custom 1\n", 2, 6, "YAML tag '!custom' is not allowed"),
    ("binary", "x: !!binary aGk=\n", 1, 4, "'!!binary' is not allowed"),
    ("timestamp", "x: !!timestamp 2001-01-01\n", 1, 4, "'!!timestamp' is not allowed"),
    ("set", "x: !!set {a, b}\n", 1, 4, "'!!set' is not allowed"),
    ("omap", "x: !!omap [a: 1]\n", 1, 4, "'!!omap' is not allowed"),
    ("map tag on scalar", "x: !!map 1\n", 1, 4, "'!!map' is not allowed"),
    ("tagged root", "--- !!python/object:os.Foo {a: 1}\n", 1, 5, "is not allowed"),
    ("nan", "a: 1\nb: .nan\n", 2, 4, "not a finite number"),
    ("inf", "b: [-.inf]\n", 1, 5, "not a finite number"),
    ("float overflow", "b: 1e400\n", 1, 4, "not a finite number"),
    ("huge int", "a: 1000000000000000000000000000000\n", 1, 4, "does not fit in 64 bits"),
    ("int just over", "a: 9223372036854775808\n", 1, 4, "does not fit in 64 bits"),
    ("many digits", "a: " + "9" * 5000 + "\n", 1, 4, "does not fit in 64 bits"),
    ("bad explicit int", "a: !!int twelve\n", 1, 4, "'twelve' is not an integer"),
    ("two documents", "a: 1\n---\nb: 2\n", 2, 1, "more than one YAML document"),
    ("empty", "", 1, 1, "the file is empty"),
    ("only comments", "# nothing\n\n", 1, 1, "the file is empty"),
    ("list at top", "- a\n- b\n", 1, 1, "expected a mapping of keys at the top level, found a list"),
    ("scalar at top", "just text\n", 1, 1, "found the value 'just text'"),
    ("empty document", "---\n", 2, 1, "found nothing"),
    ("int key", "a: 1\n2: b\n", 2, 1, "key '2' reads as an integer"),
    ("bool key", "on: push\n", 1, 1, "key 'on' reads as a boolean"),
    ("null key", "a:\n  ~: 1\n", 2, 3, "reads as null"),
    ("list key", "? [a, b]\n: 1\n", 1, 3, "a mapping key must be a string"),
    ("control char", "a: 1\nb: x\x07y\n", 2, 5, "U+0007 is not allowed"),
    ("nul byte", "a: \x00\n", 1, 4, "U+0000 is not allowed"),
    ("undefined alias", "a: *nope\n", 1, 4, "alias '*nope' names no anchor"),
    ("recursive alias", "a: &x [1, *x]\n", 1, 11, "used inside its own anchor"),
    ("duplicate anchor", "a: &x 1\nb: &x 2\n", 2, 4, "anchor '&x' is defined twice"),
    ("bad merge", "a: {<<: [1]}\n", 1, 10, "'<<' merges a mapping"),
    ("long scalar", "a: " + "x" * 10_001 + "\n", 1, 4, "over 10000 characters"),
    ("deep block", "a:\n" + "".join(" " * i + "- \n" for i in range(1, 100)), 65, 65,
     "nested more than 64 levels"),
]


@pytest.mark.parametrize(("text", "line", "col", "fragment"), [case[1:] for case in HOSTILE],
                         ids=[case[0] for case in HOSTILE])
def test_hostile_and_broken_input_is_an_input_error_at_the_spot(
    backend: str, text: str, line: int, col: int, fragment: str
) -> None:
    error = fails(text)
    assert (error.pos.line, error.pos.col) == (line, col), str(error)
    assert fragment in str(error)


def test_tab_error_says_why() -> None:
    assert "indent with spaces" in str(fails("a:\n\tb: 1\n"))


def test_python_tags_never_run(tmp_path) -> None:
    marker = tmp_path / "pwned"
    for tag in ("!!python/object/apply:os.system", "!!python/object/new:os.system"):
        fails(f'x: {tag} ["echo pwned > {marker}"]\n')
    fails(f'x: !!python/object/apply:subprocess.check_call [["touch", "{marker}"]]\n')
    assert not marker.exists()


def test_billion_laughs_fails_fast() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    start = time.perf_counter()
    error = fails("\n".join(lines) + "\n")
    assert time.perf_counter() - start < 1.0
    assert "expands to more than 100000 values" in str(error)


def test_merge_bomb_fails_fast() -> None:
    lines = ["a0: &a0 {x: 1}"]
    lines += [f"a{i}: &a{i} {{<<: [" + ", ".join([f"*a{i - 1}"] * 9) + "]}" for i in range(1, 12)]
    start = time.perf_counter()
    assert "expands to more than" in str(fails("\n".join(lines) + "\n"))
    assert time.perf_counter() - start < 1.0


def test_alias_depth_counts_where_the_alias_is_used() -> None:
    text = "a: &a [[[1]]]\nb: [[*a]]\n"
    assert load_yaml(text, FILE).data["b"] == [[[[[1]]]]]
    error = fails(text, Limits(max_depth=5))
    assert "nested more than 5 levels" in str(error)


@pytest.mark.parametrize("text", ["[" * 100_000, "{a: " * 50_000, "- " * 400_000, "a:\n" + " - " * 300_000])
def test_deep_nesting_is_a_clean_error(backend: str, text: str) -> None:
    start = time.perf_counter()
    error = fails(text)
    assert time.perf_counter() - start < 1.0
    assert "nest" in str(error) and error.pos.line in (1, 2)


def test_size_limit_comes_before_parsing(tmp_path) -> None:
    big = "a: [" + "1, " * 700_000 + "1]\n"  # 2 MB
    for text in (big, big.encode()):
        error = fails(text)
        assert (error.pos.line, error.pos.col) == (1, 1) and "over 1000000 bytes" in str(error)
    path = tmp_path / "big.yaml"
    path.write_text(big)
    with pytest.raises(InputError, match="over 1000000 bytes"):
        load_yaml_file(path)


def test_node_limit_stops_a_big_flat_file_fast() -> None:
    start = time.perf_counter()
    error = fails("a: [" + "1," * 400_000 + "1]\n")
    assert time.perf_counter() - start < 1.0
    assert "more than 100000 values" in str(error)


def test_custom_limits() -> None:
    assert "more than 3 values" in str(fails("a: [1, 2, 3]\n", Limits(max_nodes=3)))
    assert "over 5 characters" in str(fails("a: abcdef\n", Limits(max_scalar_chars=5)))
    assert "over 10 bytes" in str(fails("a: 12345678901\n", Limits(max_bytes=10)))


@pytest.mark.parametrize(
    ("raw", "line", "col"),
    [
        (b"a: \xff\n", 1, 4),
        (b"a: 1\nb: caf\xc3\xa9 \xe9t\xe9\n", 2, 9),
        (b"\xef\xbb\xbfa: 1\r\n\xc0\n", 2, 1),
    ],
)
def test_non_utf8_names_the_bad_byte(raw: bytes, line: int, col: int) -> None:
    error = fails(raw)
    assert (error.pos.line, error.pos.col) == (line, col)
    assert "not UTF-8" in str(error)


def test_load_yaml_file(tmp_path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_bytes(b"a: [1, 2]\n")
    doc = load_yaml_file(path)
    assert doc.data == {"a": [1, 2]} and doc.file == str(path)
    assert doc.value_pos[("a", 1)] == SourcePos(str(path), 1, 8)
    for bad in (tmp_path / "missing.yaml", tmp_path):
        with pytest.raises(InputError) as info:
            load_yaml_file(bad)
        assert str(info.value).startswith(f"{bad}:1:1: cannot read the file")


def test_yamldoc_is_frozen() -> None:
    doc = load_yaml("a: 1\n", FILE)
    with pytest.raises(AttributeError):
        doc.data = {}  # type: ignore[misc]
    assert isinstance(doc, YamlDoc)


# --- properties ------------------------------------------------------------------------------


@settings(deadline=None, max_examples=200)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_give_a_doc_or_an_input_error(raw: bytes) -> None:
    try:
        doc = load_yaml(raw, FILE)
    except InputError as error:
        assert error.pos is not None and error.pos.line >= 1 and error.pos.col >= 1
    else:
        assert isinstance(doc.data, dict)


YAMLISH = st.text(alphabet=st.sampled_from(list("ab:-[]{},&*!|>'\"#? \n\t%@`~01.e")), max_size=200)


@settings(deadline=None, max_examples=200)
@given(YAMLISH)
def test_yaml_looking_text_gives_a_doc_or_an_input_error(text: str) -> None:
    try:
        load_yaml(text, FILE)
    except InputError as error:
        assert error.pos is not None




def plain_alike(text: str) -> bool:
    """Strings that PyYAML's dumper writes plain but that this loader reads otherwise, on
    purpose: floats such as 1e3 or -.5, and a call cut short by a comma in a flow collection."""
    cut = re.search(r"[A-Za-z_]\w*\(", text) and text.count("(") > text.count(")")
    return bool(source._EXTRA_FLOAT.fullmatch(text) or cut)


TEXT = st.text(max_size=20).filter(lambda s: not plain_alike(s))
SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | TEXT
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=25,
)


@settings(deadline=None, max_examples=200)
@given(st.dictionaries(TEXT, JSONISH, max_size=5), st.booleans())
@example({"": [{")": None, "": '"\x1f('}]}, True)  # an escaped quote before '(' once hid a flow comma as a call's
def test_safe_dumped_data_loads_back_equal(data: dict, flow: bool) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=flow)
    assume(yaml.safe_load(text) == data)  # PyYAML folds a raw NEL written in a quoted key
    assert load_yaml(text, FILE).data == data
