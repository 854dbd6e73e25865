"""Paths: no scenario field, episode name or label entry writes outside the output directory or
reads a file the user did not name (docs/reliability.md, "Paths")."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import edgecase
from edgecase import api
from edgecase.errors import InputError
from edgecase.sweep.jobs import expand, make_job
from edgecase.sweep.runner import run_sweep
from tests.test_sweep import SCENARIO, assert_consistent, rows, scenario

HOSTILE_NAMES = ["../escape", "../../etc/x", "/tmp/abs", "a/b", "a\x00b", "..", ".", "x/../../y", "-rf", "a b", "ü"]


def _write(folder: Path, text: str, file: str = "s.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file
    path.write_text(text)
    return path


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# --- scenario names --------------------------------------------------------------------------


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_hostile_scenario_name_is_refused_at_load(tmp_path, name):
    text = SCENARIO.format(name=json.dumps(name), duration_s=2, min_gap_m=5, sweep="")
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as caught:
        api.load(path)
    assert "name" in str(caught.value)


@pytest.mark.parametrize("name", ["../escape", "/tmp/abs"])
def test_a_hostile_name_in_a_sweep_is_a_bad_input_row_and_writes_nothing_outside(tmp_path, name):
    path = _write(tmp_path / "in", SCENARIO.format(name=json.dumps(name), duration_s=2, min_gap_m=5, sweep=""))
    out = tmp_path / "sweep"
    summary = run_sweep([path], out, episodes=2, workers=1, quiet=True)
    assert summary.exit_code == 2
    assert [(r["status"], r["exit_code"], r["out_path"]) for r in rows(out)] == [("failed", 2, None)]
    assert _tree(tmp_path) <= {"in", "in/s.yaml"} | {f"sweep/{p}" for p in _tree(out)} | {"sweep"}
    assert not (out / "episodes").exists()


def test_episode_paths_stay_under_episodes_whatever_the_grid_values(tmp_path):
    grid = 'sweep:\n  seeds: 2\n  grid:\n    gap_m: [20, 30]\n'
    path = scenario(tmp_path / "in", sweep=grid)
    jobs, bad = expand([path])
    assert not bad and len(jobs) == 4
    hostile = [make_job(path, "pair", "0" * 64, 0, {"gap_m": v}) for v in ("../../x", "/etc/passwd", "a/../..", "\x00")]
    for job in [*jobs, *hostile]:
        out = Path(job.out_path)
        assert not out.is_absolute() and ".." not in out.parts
        assert out.parts[:2] == ("episodes", "pair") and len(out.parts) == 3
        assert "/" not in out.name and out.name.startswith("s")


def test_a_grid_value_that_is_a_path_is_a_value_not_a_place(tmp_path):
    """A string grid value with '/' and '..' is refused by the param's type, and never names a directory."""
    grid = 'sweep:\n  seeds: 1\n  grid:\n    gap_m: ["../../../victim", 30]\n'
    path = scenario(tmp_path / "in", sweep=grid)
    out = tmp_path / "sweep"
    try:
        summary = run_sweep([path], out, workers=1, quiet=True)
    except InputError:
        assert not out.exists() or not (out / "episodes").exists()
        return
    assert summary.exit_code != 0
    assert not (tmp_path / "victim").exists()
    assert all(p.resolve().is_relative_to((out / "episodes").resolve()) for p in out.glob("episodes/**/*"))


# --- symlinks: --out and inside the output directory -----------------------------------------


def test_run_out_that_is_a_symlink_to_an_existing_directory_is_refused_without_force(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    link = tmp_path / "ep"
    link.symlink_to(target)
    with pytest.raises(InputError, match="already exists"):
        edgecase.run(scenario(tmp_path / "in"), seed=0, out=link, sensors=False)
    assert (target / "keep.txt").read_text() == "mine"


def test_run_force_onto_a_symlink_replaces_the_link_not_its_target(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    link = tmp_path / "ep"
    link.symlink_to(target)
    edgecase.run(scenario(tmp_path / "in"), seed=0, out=link, sensors=False, force=True)
    assert not link.is_symlink() and (link / "episode.json").is_file()
    assert _tree(target) == {"keep.txt"} and (target / "keep.txt").read_text() == "mine"


def test_run_onto_a_dangling_symlink_does_not_create_its_target(tmp_path):
    link = tmp_path / "ep"
    link.symlink_to(tmp_path / "victim")
    with pytest.raises((InputError, OSError)):
        edgecase.run(scenario(tmp_path / "in"), seed=0, out=link, sensors=False)
    assert not (tmp_path / "victim").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_sweep_out_that_is_a_symlink_writes_where_the_user_pointed_it(tmp_path):
    """--out LINK -> DIR: the user named LINK, so the sweep goes into DIR (resolved once, at the start)."""
    target = tmp_path / "real"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    summary = run_sweep([scenario(tmp_path / "in")], link, episodes=2, workers=1, quiet=True)
    assert summary.exit_code == 0 and summary.sweep_dir == target.resolve()
    assert (target / "manifest.sqlite").is_file()
    assert_consistent(target)


def test_a_symlink_planted_inside_the_sweep_is_not_written_through(tmp_path):
    """episodes/pair -> /victim planted before --resume: the episodes fail, nothing lands in /victim."""
    path = scenario(tmp_path / "in")
    out = tmp_path / "sweep"
    assert run_sweep([path], out, episodes=1, workers=1, quiet=True).exit_code == 0
    victim = tmp_path / "victim"
    victim.mkdir()
    import shutil
    import sqlite3

    shutil.rmtree(out / "episodes" / "pair")
    (out / "episodes" / "pair").symlink_to(victim)
    db = sqlite3.connect(out / "manifest.sqlite")
    db.execute("UPDATE episodes SET status = 'pending'")
    db.commit()
    db.close()
    summary = run_sweep([], out, resume=True, workers=1, quiet=True)
    assert list(victim.iterdir()) == []
    assert summary.exit_code != 0
    assert all(r["status"] == "failed" and "symbolic link" in r["error"] for r in rows(out))


def test_a_symlink_planted_as_an_episode_directory_is_not_followed(tmp_path):
    path = scenario(tmp_path / "in")
    out = tmp_path / "sweep"
    assert run_sweep([path], out, episodes=1, workers=1, quiet=True).exit_code == 0
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("x")
    import shutil
    import sqlite3

    shutil.rmtree(out / "episodes" / "pair" / "s0")
    (out / "episodes" / "pair" / "s0").symlink_to(victim)
    db = sqlite3.connect(out / "manifest.sqlite")
    db.execute("UPDATE episodes SET status = 'pending'")
    db.commit()
    db.close()
    run_sweep([], out, resume=True, workers=1, quiet=True)
    assert _tree(victim) == {"precious"}


# --- map paths -------------------------------------------------------------------------------


def test_a_relative_map_path_resolves_against_the_scenario_file_not_the_cwd(tmp_path, monkeypatch):
    from edgecase.roads.builtin import builtin_xodr

    folder = tmp_path / "scen"
    (folder / "maps").mkdir(parents=True)
    (folder / "maps" / "road.xodr").write_text(builtin_xodr("urban_straight"))
    path = _write(folder, SCENARIO.format(name="pair", duration_s=2, min_gap_m=5, sweep="")
                  .replace("builtin:urban_straight", "maps/road.xodr"))
    monkeypatch.chdir(tmp_path)  # no maps/ here
    plan = api.compile(path, seed=0)
    assert plan is not None


@pytest.mark.parametrize("target", ["/etc/passwd", "/etc/shadow", "/proc/self/environ", "../../../../etc/passwd", "/dev/zero"])
def test_a_map_that_is_not_a_map_is_a_clean_error_without_its_contents(tmp_path, target, monkeypatch):
    monkeypatch.setenv("EDGECASE_TEST_SECRET", "s3cr3t-value")
    path = _write(tmp_path, SCENARIO.format(name="pair", duration_s=2, min_gap_m=5, sweep="")
                  .replace("builtin:urban_straight", target))
    with pytest.raises(InputError) as caught:
        api.compile(path, seed=0)
    message = str(caught.value)
    assert "s3cr3t-value" not in message
    if Path("/etc/passwd").is_file():
        passwd = Path("/etc/passwd").read_text().splitlines()
        for line in passwd[1:]:  # a parser may quote the first line; never the file beyond it
            assert line not in message
        assert "root:x:0:0" not in message or message.count("\n") == 0
    assert len(message) < 600


# --- export reads only the episode's own files -----------------------------------------------


@pytest.fixture(scope="module")
def episode(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ep")
    edgecase.run(scenario(root / "in"), seed=0, out=root / "ep", sensors="front_camera", frame_every=20)
    return root / "ep"


def _hostile_copy(episode: Path, tmp_path: Path, value: str) -> Path:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(episode, copy)
    label = sorted((copy / "labels").glob("*.json"))[0]
    doc = json.loads(label.read_text())
    doc["captures"]["front"]["files"]["rgb"] = value
    label.write_text(json.dumps(doc))
    return copy


@pytest.mark.parametrize("value", ["../../../../../../etc/passwd", "/etc/passwd", "sensors/../../outside.jpg"])
@pytest.mark.parametrize("fmt", ["kitti", "coco"])
def test_export_refuses_captures_that_escape_the_episode(episode, tmp_path, value, fmt):
    from edgecase.export import export

    (tmp_path / "outside.jpg").write_bytes((episode / "sensors" / "front" / "000000.jpg").read_bytes())
    copy = _hostile_copy(episode, tmp_path, value)
    out = tmp_path / "dataset"
    with pytest.raises(InputError, match="outside the episode"):
        export([copy], fmt, out)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_export_refuses_a_capture_file_that_is_a_symlink_out_of_the_episode(episode, tmp_path):
    from edgecase.export import export

    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(episode, copy)
    outside = tmp_path / "outside.jpg"
    shutil.copy(copy / "sensors" / "front" / "000000.jpg", outside)
    (copy / "sensors" / "front" / "000000.jpg").unlink()
    (copy / "sensors" / "front" / "000000.jpg").symlink_to(outside)
    with pytest.raises(InputError, match="outside the episode"):
        export([copy], "kitti", tmp_path / "dataset")


def test_export_of_the_untouched_episode_still_works(episode, tmp_path):
    from edgecase.export import export

    summary = export([episode], "kitti", tmp_path / "dataset")
    assert summary.frames == 3
    assert os.listdir(tmp_path) == ["dataset"]
