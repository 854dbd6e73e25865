"""Bad input of every kind gets `file:line:col: message` and exit 2, quickly, and nothing runs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edgecase import cli

GOOD = """\
edgecase: 1
name: bad_input_base
map: builtin:urban_straight
duration_s: 8
params:
  ego_speed_mps: uniform(8, 12)
  ttc_s: uniform(1.5, 2.0)
actors:
  ego:
    blueprint: vehicle.lincoln.mkz_2020
    at: {lane: driving, s_m: 20}
    speed_mps: $ego_speed_mps
    behavior: follow_lane
  walker:
    blueprint: walker.pedestrian.0001
    at: {relative_to: ego, lane: sidewalk_right, ahead_m: 90}
    behavior: {cross: {speed_mps: 1.4}}
criticality:
  conflict: [ego, walker]
  ttc_s: $ttc_s
expect:
  - min_ttc_s(ego, walker) < 3
"""

ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")
)

# (id, file text, expected "line:col", a fragment of the message)
CASES = [
    ("yaml_syntax", GOOD.replace("[ego, walker]", "[ego, walker"), "20:8", "invalid YAML"),
    ("tab_indent", GOOD.replace("  ego_speed_mps", "\tego_speed_mps"), "6:1", "YAML"),
    ("top_key_typo", GOOD.replace("actors:", "actrs:"), "8:1", "did you mean 'actors'"),
    ("actor_key_typo", GOOD.replace("    speed_mps: $ego", "    speed_mp: $ego"), "12:5", "did you mean 'speed_mps'"),
    ("wrong_type_list", GOOD.replace("duration_s: 8", "duration_s: [8]"), "4:13", "expected a number"),
    ("word_not_value", GOOD.replace("duration_s: 8", "duration_s: ten"), "4:13", "'ten' is not a value"),
    ("boolean_not_number", GOOD.replace("duration_s: 8", "duration_s: yes"), "4:13", "got a boolean"),
    ("bad_distribution_args", GOOD.replace("uniform(8, 12)", "uniform(8)"), "6:18", "uniform"),
    ("normal_bounds_reversed", GOOD.replace("uniform(8, 12)", "normal(10, 1, min=12, max=8)"), "6:18", "min"),
    ("unknown_function", GOOD.replace("uniform(8, 12)", "unifrom(8, 12)"), "6:18", "did you mean 'uniform'"),
    ("unknown_param", GOOD.replace("$ego_speed_mps", "$ego_sped_mps"), "12:16", "did you mean 'ego_speed_mps'"),
    ("cyclic_params", GOOD.replace("uniform(8, 12)", "$ttc_s * 5").replace("uniform(1.5, 2.0)", "$ego_speed_mps / 5"), "6:18", "cycle"),
    ("negative_duration", GOOD.replace("duration_s: 8", "duration_s: -5"), "4:13", "outside"),
    ("nan", GOOD.replace("duration_s: 8", "duration_s: .nan"), "4:13", "finite"),
    ("huge_number", GOOD.replace("ahead_m: 90", "ahead_m: 1e308"), "16:59", "outside"),
    ("python_tag", GOOD.replace("duration_s: 8", "duration_s: !!python/object/apply:os.system ['touch {marker}']"), "4:13", "not allowed"),
    ("custom_tag", GOOD.replace("duration_s: 8", "duration_s: !secret 8"), "4:13", "not allowed"),
    ("alias_bomb", ALIAS_BOMB, None, "alias"),
    ("import_injection", GOOD.replace("uniform(8, 12)", "\"__import__('os').system('touch {marker}')\""), "6:18", "'_'"),
    ("subclasses_escape", GOOD.replace("uniform(8, 12)", "\"().__class__.__bases__[0].__subclasses__()\""), "6:21", "'_'"),
    ("power_hang", GOOD.replace("uniform(8, 12)", "9**9**9"), "6:19", "'**'"),
    ("missing_map_file", GOOD.replace("builtin:urban_straight", "maps/nowhere.xodr"), "3:6", "nowhere.xodr"),
    ("unknown_builtin_map", GOOD.replace("builtin:urban_straight", "builtin:urban_straigt"), "3:6", "did you mean 'urban_straight'"),
    ("unknown_blueprint", GOOD.replace("vehicle.lincoln.mkz_2020", "vehicle.lincoln.mkz2020"), "10:16", "did you mean"),
    ("unknown_behavior", GOOD.replace("behavior: follow_lane", "behavior: folow_lane"), "13:15", "did you mean 'follow_lane'"),
    ("unknown_oracle", GOOD.replace("min_ttc_s(ego, walker)", "min_tc_s(ego, walker)"), "22:5", "did you mean 'min_ttc_s'"),
    ("unknown_actor_ref", GOOD.replace("relative_to: ego", "relative_to: eg"), "16:9", "did you mean 'ego'"),
    ("lane_relation_typo", GOOD.replace("sidewalk_right", "sidewalk_rigth"), "16:9", "did you mean 'sidewalk_right'"),
    ("format_version", GOOD.replace("edgecase: 1", "edgecase: 2"), "1:11", "format 2"),
    ("missing_key", GOOD.replace("map: builtin:urban_straight\n", ""), "1:1", "missing key 'map'"),
    ("two_egos", GOOD.replace("  walker:\n", "  walker:\n    role: ego\n"), "15:11", "exactly one ego"),
    ("weather_typo", GOOD.replace("duration_s: 8", "duration_s: 8\nweather: WetCloudySunst"), "5:10", "did you mean 'WetCloudySunset'"),
    ("off_the_lane_end", GOOD.replace("ahead_m: 90", "ahead_m: 5000"), "16:9", "lane ends"),
    ("criticality_unmeetable", GOOD.replace("uniform(1.5, 2.0)", "9.5"), "20:10", "cannot be met"),
    ("overlapping_actors", GOOD.replace("  walker:\n", "  twin:\n    blueprint: vehicle.audi.tt\n    at: {lane: driving, s_m: 22}\n  walker:\n"), "16:9", "overlaps"),
    ("empty_file", "", "1:1", "empty"),
    ("not_a_mapping", "- just\n- a list\n", "1:1", "mapping"),
    ("deep_nesting", "a: " + "[" * 5000 + "]" * 5000 + "\n", None, "nesting"),
]


def run_check(tmp_path: Path, name: str, text: str | bytes, capsys) -> tuple[int, str, float]:
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    started = time.perf_counter()
    code = cli.run(["check", str(path)])
    elapsed = time.perf_counter() - started
    return code, capsys.readouterr().err, elapsed


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_position_and_exit_2(case, tmp_path, capsys):
    name, text, where, fragment = case
    marker = tmp_path / "pwned"
    code, err, elapsed = run_check(tmp_path, name, text.replace("{marker}", str(marker)), capsys)
    path = tmp_path / f"{name}.yaml"
    assert code == 2, err
    prefix = f"{path}:{where}: " if where else f"{path}:"
    assert err.startswith(prefix), err
    assert fragment in err
    assert "Traceback" not in err
    assert elapsed < 1.0
    assert not marker.exists()


def test_non_utf8_file(tmp_path, capsys):
    code, err, _ = run_check(tmp_path, "latin1", GOOD.replace("bad_input_base", "caf\xe9").encode("latin-1"), capsys)
    assert code == 2 and err.startswith(f"{tmp_path / 'latin1.yaml'}:2:") and "UTF-8" in err


def test_huge_file_is_refused_before_parsing(tmp_path, capsys):
    code, err, elapsed = run_check(tmp_path, "huge", GOOD + "# padding\n" * 200_000, capsys)
    assert code == 2 and "1:1:" in err and elapsed < 1.0


def test_missing_file(tmp_path, capsys):
    code = cli.run(["check", str(tmp_path / "absent.yaml")])
    assert code == 2 and capsys.readouterr().err.startswith(f"{tmp_path / 'absent.yaml'}:1:1: ")


def test_extends_cycle(tmp_path, capsys):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n" + GOOD)
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n" + GOOD)
    code = cli.run(["check", str(tmp_path / "a.yaml")])
    err = capsys.readouterr().err
    assert code == 2 and ":1:10: " in err and "cycle" in err


def test_good_base_passes(tmp_path, capsys):
    code, err, _ = run_check(tmp_path, "good", GOOD, capsys)
    assert code == 0, err


def test_one_bad_file_does_not_stop_the_others(tmp_path, capsys):
    (tmp_path / "a_good.yaml").write_text(GOOD)
    (tmp_path / "b_bad.yaml").write_text(GOOD.replace("actors:", "actrs:"))
    code = cli.run(["check", str(tmp_path)])
    out = capsys.readouterr()
    assert code == 2
    assert "a_good.yaml: bad_input_base" in out.out
    assert "b_bad.yaml:8:1:" in out.err
