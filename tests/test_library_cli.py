"""`edgecase library`: the list (one line per scenario, errors included) and `show` (the file and
its parameters as written, with their source comments); an unknown name exits 2 with did-you-mean.

The tests use their own small library in a temporary folder: scenarios/ grows while others work."""

from __future__ import annotations

import shutil

import pytest

from edgecase import cli
from edgecase.scenario.library import list_library, params_as_written
from edgecase.scenario.loader import load_scenario
from tests.helpers import SCENARIOS

BROKEN = "edgecase: 1\nname: broken\nmap: builtin:urban_straight\nactrs: {}\n"


@pytest.fixture()
def library(tmp_path):
    for name in ("jaywalker_midblock", "aggressive_cut_in"):
        shutil.copy(SCENARIOS / f"{name}.yaml", tmp_path / f"{name}.yaml")
    return tmp_path


def test_list_has_one_line_per_scenario_with_name_tags_and_description(library, capsys):
    assert cli.run(["library", "--dir", str(library)]) == 0
    lines = capsys.readouterr().out.splitlines()  # not a terminal: plain tab-separated text
    assert [line.split("\t")[0] for line in lines] == ["aggressive_cut_in", "jaywalker_midblock"]
    name, tags, description = lines[1].split("\t")
    assert tags == "vru, pedestrian, urban" and description.startswith("An adult steps off the kerb")


def test_a_file_that_does_not_load_is_listed_with_its_error(library, capsys):
    (library / "broken.yaml").write_text(BROKEN)
    entries = list_library(library)
    assert [e.name for e in entries] == ["aggressive_cut_in", "broken", "jaywalker_midblock"]
    assert "did you mean 'actors'" in entries[1].error
    assert cli.run(["library", "--dir", str(library)]) == 0
    assert "error: " in capsys.readouterr().out


def test_show_prints_the_file_and_each_param_as_written_with_its_comment(library, capsys):
    assert cli.run(["library", "show", "jaywalker_midblock", "--dir", str(library)]) == 0
    out = capsys.readouterr().out
    assert (library / "jaywalker_midblock.yaml").read_text().strip() in out
    params = out.split("parameters (3):")[1]
    assert "walk_speed_mps  normal(1.4, 0.15, min=1.0, max=1.9)  # adults walking" in params


def test_params_as_written_keep_the_source_comment_and_the_expression():
    params = {p.name: p for p in params_as_written(load_scenario(SCENARIOS / "jaywalker_midblock.yaml"))}
    assert params["ego_speed_mps"].written == "uniform(8, 13)"
    assert "km/h" in params["ego_speed_mps"].comment


def test_unknown_name_exits_2_with_did_you_mean(library, capsys):
    assert cli.run(["library", "show", "jaywalker_midblok", "--dir", str(library)]) == 2
    assert "did you mean 'jaywalker_midblock'" in capsys.readouterr().err


def test_a_missing_library_folder_exits_2(tmp_path, capsys):
    assert cli.run(["library", "--dir", str(tmp_path / "nowhere")]) == 2
    assert "no scenario library" in capsys.readouterr().err
