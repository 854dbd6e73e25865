"""The `edgecase` command as a user runs it: the installed console script in a subprocess for the
exit codes and streams a shell sees, `edgecase.cli.run` in-process for the rest."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import edgecase
from edgecase import cli
from tests.helpers import REPO, SCENARIOS

SCRIPT = Path(sys.executable).parent / "edgecase"
SCENARIO_FILES = sorted(SCENARIOS.glob("*.yaml"))
CHILD = SCENARIOS / "occluded_child_dartout.yaml"
CUT_IN = SCENARIOS / "aggressive_cut_in.yaml"
BAD = "edgecase: 1\nname: bad\nmap: builtin:urban_straight\nactrs: {}\n"  # 'actrs': line 4, col 1

# Each process costs about half a second, so all of them start at once and are awaited together.
CALLS = {
    "check": ["check", "scenarios/"],
    "plan": ["plan", "scenarios/aggressive_cut_in.yaml", "--seed", "3"],
    "bad_file": ["check", "BAD"],
    "unknown_option": ["plan", "scenarios/aggressive_cut_in.yaml", "--sed", "3"],
    "unknown_command": ["frobnicate"],
}


@pytest.fixture(scope="module")
def shell(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    if not SCRIPT.is_file():
        pytest.skip(f"the console script is not installed next to {sys.executable} (run `make test`, which installs it)")
    bad = tmp_path_factory.mktemp("cli") / "bad.yaml"
    bad.write_text(BAD)
    running = {
        name: subprocess.Popen([str(SCRIPT), *(str(bad) if a == "BAD" else a for a in args)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, args in CALLS.items()
    }
    done = {}
    for name, proc in running.items():
        out, err = proc.communicate(timeout=60)
        done[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    done["bad_path"] = bad  # type: ignore[assignment]
    return done


def test_check_prints_one_ok_line_per_scenario(shell):
    result = shell["check"]
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(SCENARIO_FILES) and all(line.startswith("ok ") for line in lines)
    for line, path in zip(lines, SCENARIO_FILES):
        assert f"scenarios/{path.name}: {path.stem}," in line and "3 seed(s) compiled" in line


def test_plan_prints_the_plan_json_with_its_hash(shell):
    result = shell["plan"]
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    plan = edgecase.compile(CUT_IN, 3)
    assert printed["plan_sha256"] == plan.content_hash()
    assert {k: v for k, v in printed.items() if k != "plan_sha256"} == plan.model_dump(mode="json")


def test_a_bad_file_is_exit_2_with_its_position_and_no_traceback(shell):
    result = shell["bad_file"]
    assert result.returncode == 2
    assert result.stderr.startswith(f"{shell['bad_path']}:4:1: unknown key 'actrs' (did you mean 'actors'?)")
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize("call, fragment", [("unknown_option", "No such option: --sed"), ("unknown_command", "No such command 'frobnicate'")])
def test_usage_errors_are_exit_2_with_clicks_message(shell, call, fragment):
    result = shell[call]
    assert result.returncode == 2, result.stderr
    assert fragment in result.stderr and "Usage: edgecase" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


# --- in-process ---------------------------------------------------------------------------------


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.run(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_set_fixes_a_param(capsys):
    code, out, err = run(capsys, "plan", str(CHILD), "--seed", "3", "--set", "ttc_s=1.5", "--set", "first_parked_m=50")
    assert code == 0, err
    printed = json.loads(out)
    assert printed["params"]["ttc_s"] == 1.5 and printed["params"]["first_parked_m"] == 50
    assert printed["criticality"]["target_s"] == 1.5
    assert printed["plan_sha256"] == edgecase.compile(CHILD, 3, {"ttc_s": 1.5, "first_parked_m": 50.0}).content_hash()


def test_summary_names_every_actor(capsys):
    code, out, err = run(capsys, "plan", str(CHILD), "--seed", "7", "--summary")
    assert code == 0, err
    plan = edgecase.compile(CHILD, 7)
    assert out.startswith(f"scenario  occluded_child_dartout  seed 7  plan {plan.content_hash()[:16]}")
    for actor in plan.actors:
        assert f" {actor.name} " in out and actor.blueprint in out
    assert "criticality conflict ego / child" in out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["plan", str(CHILD), "--set", "ttc_s"], "--set takes name=value"),
        (["plan", str(CHILD), "--set", "tcc_s=1.5"], "no param 'tcc_s'"),
        (["plan", str(CHILD), "--seed", "-1"], "Invalid value for '--seed'"),
        (["plan", str(CHILD), "--seed", str(2**64)], "seed must be an integer"),
        (["check", str(CHILD), "--seeds", "0"], "Invalid value for '--seeds'"),
        (["plan"], "Missing argument"),
        ([], "Usage: edgecase"),
    ],
)
def test_usage_and_argument_errors_are_exit_2(capsys, argv, fragment):
    code, out, err = run(capsys, *argv)
    assert code == 2 and fragment in out + err, err  # no arguments at all: the help, which rich prints to stdout
    assert "internal error" not in err


def test_check_of_a_folder_without_scenarios_fails(tmp_path, capsys):
    code, out, err = run(capsys, "check", str(tmp_path))
    assert code == 2 and out == "" and "no scenario files" in err


def test_check_reports_each_file_and_exits_with_the_worst(tmp_path, capsys):
    shutil.copy(CUT_IN, tmp_path / "a.yaml")
    (tmp_path / "b.yml").write_text(BAD)
    (tmp_path / "notes.txt").write_text("not a scenario")
    code, out, err = run(capsys, "check", str(tmp_path), "--seeds", "2")
    assert code == 2
    assert out.splitlines() == [f"ok   {tmp_path / 'a.yaml'}: aggressive_cut_in, 3 actors on builtin:highway_merge, 2 seed(s) compiled"]
    assert err.startswith(f"{tmp_path / 'b.yml'}:4:1: ")


def test_schema_is_json_for_editors(capsys):
    code, out, _ = run(capsys, "schema")
    schema = json.loads(out)
    assert code == 0 and schema["type"] == "object" and schema["additionalProperties"] is False
