"""`edgecase replay`: every output through the command line, and its exit codes."""

from __future__ import annotations

import cv2
import numpy as np

import edgecase
from edgecase import cli
from tests.helpers import SCENARIOS


def test_replay_writes_video_still_html_mcap_and_checks(tmp_path, capsys):
    episode = tmp_path / "ep"
    edgecase.run(SCENARIOS / "occluded_child_dartout.yaml", 2, out=episode, sensors="front_camera", frame_every=20)
    code = cli.run(["replay", str(episode), "--video", str(tmp_path / "v.mp4"), "--still", "40", "--png",
                    str(tmp_path / "s.png"), "--html", "--mcap", str(tmp_path / "e.mcap"), "--check"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "identical" in out and (episode / "report.html").is_file() and (tmp_path / "e.mcap").stat().st_size > 0
    capture = cv2.VideoCapture(str(tmp_path / "v.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 11 and int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)) == 1280
    assert cv2.imread(str(tmp_path / "s.png")).shape == (720, 1280, 3)


def test_replay_check_exits_1_at_a_divergence_and_2_for_bad_input(tmp_path, capsys):
    episode = tmp_path / "ep"
    edgecase.run(SCENARIOS / "jaywalker_midblock.yaml", 0, out=episode, sensors=False)
    with np.load(episode / "trace.npz") as npz:
        arrays = {name: npz[name].copy() for name in npz.files}
    arrays["speed_mps"][30, 0] += 1.0
    np.savez(episode / "trace.npz", **arrays)
    assert cli.run(["replay", str(episode), "--check"]) == 1
    assert "tick 30" in capsys.readouterr().out
    assert cli.run(["replay", str(episode)]) == 2
    assert cli.run(["replay", str(tmp_path / "nowhere"), "--check"]) == 2
    assert "Traceback" not in capsys.readouterr().err
