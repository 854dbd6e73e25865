"""`edgecase run` and the episode directory: deterministic, atomic, readable, with honest exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import edgecase
from edgecase import cli
from edgecase.record import read_episode
from tests.helpers import SCENARIOS

CHILD = SCENARIOS / "occluded_child_dartout.yaml"


def _without_wall_clock(path: Path) -> dict:
    document = json.loads((path / "episode.json").read_text())
    document.pop("wall_clock")
    return document


def test_two_runs_write_identical_episodes(tmp_path):
    a = edgecase.run(CHILD, seed=3, out=tmp_path / "a", sensors=False)
    edgecase.run(CHILD, seed=3, out=tmp_path / "b", sensors=False)
    assert (tmp_path / "a" / "trace.npz").read_bytes() == (tmp_path / "b" / "trace.npz").read_bytes()
    assert _without_wall_clock(tmp_path / "a") == _without_wall_clock(tmp_path / "b")
    assert a.plan.content_hash() == json.loads((tmp_path / "a" / "episode.json").read_text())["plan_sha256"]


def test_episode_reads_back_with_the_plan_and_trace(tmp_path):
    result = edgecase.run(CHILD, seed=5, out=tmp_path / "ep", sensors=False)
    record = read_episode(tmp_path / "ep")
    assert record.plan == result.plan
    steps = result.plan.steps
    assert record.arrays["x_m"].shape == (steps + 1, len(result.plan.actors))
    assert np.array_equal(record.arrays["x_m"], result.trace.x_m)
    assert record.meta["outcome"]["passed"] == result.passed
    assert [o["expr"] for o in record.meta["outcome"]["oracles"]] == list(result.plan.expect)


def test_a_failed_write_leaves_no_directory(tmp_path, monkeypatch):
    import edgecase.record.episode as episode

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(episode, "_write_trace", broken)
    with pytest.raises(OSError):
        edgecase.run(CHILD, seed=1, out=tmp_path / "ep")
    assert list(tmp_path.iterdir()) == []  # neither the episode nor a temporary is left


def test_an_existing_directory_needs_force(tmp_path, capsys):
    out = tmp_path / "ep"
    assert cli.run(["run", str(CHILD), "--seed", "2", "--out", str(out), "--quiet", "--no-sensors"]) in (0, 1)
    assert cli.run(["run", str(CHILD), "--seed", "2", "--out", str(out), "--quiet", "--no-sensors"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert cli.run(["run", str(CHILD), "--seed", "2", "--out", str(out), "--quiet", "--force", "--no-sensors"]) in (0, 1)


def test_run_exit_code_says_whether_the_oracles_held(tmp_path, capsys):
    text = (SCENARIOS / "jaywalker_midblock.yaml").read_text()
    impossible = tmp_path / "impossible.yaml"
    impossible.write_text(text.replace("- min_ttc_s(ego, pedestrian) < 3.0", "- min_distance_m(ego, pedestrian) > 1000"))
    assert cli.run(["run", str(impossible), "--seed", "0", "--out", str(tmp_path / "x"), "--quiet", "--no-sensors"]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_run_bad_input_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("edgecase: 1\nname: x\nmap: builtin:nowhere\nactors: {}\n")
    assert cli.run(["run", str(bad), "--quiet"]) == 2
    assert capsys.readouterr().err.startswith(f"{bad}:")
    assert cli.run(["run", str(CHILD), "--backend", "nonesuch", "--quiet"]) == 2


def test_ctrl_c_during_a_run_leaves_no_episode_and_no_temporary(tmp_path):
    """SIGINT mid-simulation: exit 130, and neither the episode directory nor a hidden temporary remains."""
    import signal
    import subprocess
    import sys
    import time

    long_run = tmp_path / "long.yaml"
    long_run.write_text(CHILD.read_text().replace("duration_s: 10", "duration_s: 3000"))
    out = tmp_path / "episodes" / "ep"
    code = "from edgecase.cli import main; main()"
    # a shell's background job starts with SIGINT ignored, and Python then installs no handler: restore it
    process = subprocess.Popen([sys.executable, "-c", code, "run", str(long_run), "--out", str(out), "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(3.0)  # imports, compile, then well into the 60,000-step loop (about 12 s in all)
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert not out.exists()
    assert not (tmp_path / "episodes").exists() or list((tmp_path / "episodes").iterdir()) == []


def test_kill_9_during_a_run_leaves_nothing_that_looks_complete_and_the_next_run_cleans_up(tmp_path):
    """SIGKILL mid-recording: no episode directory (only a hidden temporary, which cannot be taken
    for an episode); the next run of the same episode removes it and writes the whole episode."""
    import signal
    import subprocess
    import sys
    import time

    long_run = tmp_path / "long.yaml"
    long_run.write_text(CHILD.read_text().replace("duration_s: 10", "duration_s: 3000"))
    out = tmp_path / "episodes" / "ep"
    code = "from edgecase.cli import main; main()"
    process = subprocess.Popen([sys.executable, "-c", code, "run", str(long_run), "--out", str(out), "--quiet",
                                "--sensors", "front_camera", "--frame-every", "5"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list((tmp_path / "episodes").glob(".ep.tmp-*/labels/*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)  # until frames are being written
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert not out.exists()
    assert [p.name.startswith(".ep.tmp-") for p in (tmp_path / "episodes").iterdir()] == [True]
    edgecase.run(CHILD, 1, out=out, sensors=False)
    assert sorted(p.name for p in (tmp_path / "episodes").iterdir()) == ["ep"]
    assert (out / "episode.json").is_file() and (out / "trace.npz").is_file()
