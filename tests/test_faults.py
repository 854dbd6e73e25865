"""Faults: a full disk while frames, labels or the trace are written, and workers that die while
writing sensor data. A failed episode leaves nothing half-written; a sweep's manifest stays
true (docs/reliability.md, "Faults"). The Ray engine's dead actor: tests/test_sweep.py."""

from __future__ import annotations

import errno
import pathlib
from concurrent.futures import Future

import pytest

from edgecase import cli
from edgecase.sweep import runner
from edgecase.sweep.runner import run_sweep
from edgecase.sweep.worker import FAULTS_ENV, SlotWorker
from tests.test_sweep import assert_consistent, episode_dirs, rows, scenario

SENSORS = ["--sensors", "front_camera", "--frame-every", "20"]  # 40 ticks: frames at 0, 20, 40


def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def full_disk_for(monkeypatch, what: str, after: int = 1) -> None:
    """ENOSPC from the `after`-th call on: cv2.imwrite (the frame writer), a labels file, or the trace."""
    import edgecase.record.episode as episode
    import edgecase.record.frames as frames

    calls = {"n": 0}

    def counted(real):
        def call(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] >= after:
                enospc()
            return real(*args, **kwargs)

        return call

    if what == "imwrite":
        monkeypatch.setattr(frames.cv2, "imwrite", counted(frames.cv2.imwrite))
    elif what == "labels":
        real_write_text = pathlib.Path.write_text

        def write_text(self, *args, **kwargs):
            if self.parent.name == "labels":
                return counted(real_write_text)(self, *args, **kwargs)
            return real_write_text(self, *args, **kwargs)

        monkeypatch.setattr(pathlib.Path, "write_text", write_text)
    elif what == "trace":
        monkeypatch.setattr(episode, "_write_trace", counted(episode._write_trace))
    else:
        raise AssertionError(what)


# --- one run ---------------------------------------------------------------------------------


@pytest.mark.parametrize("what,after", [("imwrite", 1), ("imwrite", 4), ("labels", 2), ("trace", 1)])
def test_a_full_disk_fails_the_run_clearly_and_leaves_nothing(tmp_path, monkeypatch, capsys, what, after):
    path = scenario(tmp_path / "in")
    full_disk_for(monkeypatch, what, after)
    out = tmp_path / "out" / "ep"
    code = cli.run(["run", str(path), "--seed", "0", "--out", str(out), "--quiet", *SENSORS])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "No space left on device" in err and "internal error" not in err and "Traceback" not in err
    assert str(out) in err  # which episode could not be written
    assert not out.exists()
    assert list((tmp_path / "out").iterdir()) == []  # no hidden temporary either


# --- a sweep, workers in this process (so the monkeypatched disk reaches them) ---------------


class InlineEngine:
    """The engine interface of edgecase/sweep/engines.py, running each episode in this process."""

    def __init__(self, engine, sweep_dir, settings, servers, address=None) -> None:
        self.names = [f"inline-{i}" for i in range(len(servers))]
        self._worker = SlotWorker(sweep_dir, settings, None, "inline")
        self.replaced = 0

    @property
    def size(self) -> int:
        return len(self.names)

    def submit(self, slot, job, attempt) -> Future:
        future: Future = Future()
        future.set_result(self._worker.run(job.to_dict(), attempt))
        return future

    def wait(self, handles, timeout):
        return [(h, h.result()) for h in handles if h.done()][:1]

    def replace(self, slot) -> None:
        self.replaced += 1

    def close(self, abort: bool = False) -> None:
        pass


def test_a_full_disk_in_a_sweep_is_one_failed_episode_and_the_manifest_stays_true(tmp_path, monkeypatch):
    import edgecase.record.frames as frames

    real = frames.cv2.imwrite
    monkeypatch.setattr(runner, "make_engine", InlineEngine)

    def imwrite(file, *args, **kwargs):
        if "/s1/" in file or "/.s1.tmp-" in file:  # only episode s1's frames hit the full disk
            enospc()
        return real(file, *args, **kwargs)

    monkeypatch.setattr(frames.cv2, "imwrite", imwrite)
    out = tmp_path / "sweep"
    summary = run_sweep([scenario(tmp_path / "in")], out, episodes=3, workers=1, sensors="front_camera", frame_every=20,
                        retry_delay_s=0.01, quiet=True)
    by_seed = {r["seed"]: r for r in rows(out)}
    assert [by_seed[s]["status"] for s in range(3)] == ["done", "failed", "done"]
    failed = by_seed[1]
    assert failed["exit_code"] == 3 and "No space left on device" in failed["error"] and "internal error" not in failed["error"]
    assert failed["attempts"] == 1  # a full disk is not retried: it would fail again
    assert summary.exit_code == 3 and summary.counts == {"done": 2, "failed": 1}
    assert_consistent(out)  # no episodes/pair/s1, no temporary


def test_after_the_disk_is_freed_a_resume_runs_only_the_failed_episode(tmp_path, monkeypatch):
    import edgecase.record.frames as frames

    real = frames.cv2.imwrite
    monkeypatch.setattr(runner, "make_engine", InlineEngine)
    monkeypatch.setattr(frames.cv2, "imwrite", lambda file, *a, **k: enospc() if "s1" in file else real(file, *a, **k))
    out = tmp_path / "sweep"
    run_sweep([scenario(tmp_path / "in")], out, episodes=3, workers=1, sensors="front_camera", frame_every=20, quiet=True)
    before = {r["seed"]: r["finished_utc"] for r in rows(out)}
    monkeypatch.setattr(frames.cv2, "imwrite", real)
    summary = run_sweep([], out, resume=True, workers=1, quiet=True)
    assert summary.exit_code == 0 and summary.counts == {"done": 3}
    after = {r["seed"]: r["finished_utc"] for r in rows(out)}
    assert after[0] == before[0] and after[2] == before[2] and after[1] != before[1]
    assert_consistent(out)


# --- workers that die while writing sensor data (real processes) -----------------------------


def test_a_worker_killed_mid_frames_is_replaced_and_its_episode_retried_whole(tmp_path, monkeypatch):
    """os._exit halfway through an episode with sensors (the writer thread mid-frame): the
    half-written temporary is removed, the episode retried on a fresh worker and completed."""
    monkeypatch.setenv(FAULTS_ENV, "pair:0=crash@1;pair:2=crash@1")
    out = tmp_path / "sweep"
    summary = run_sweep([scenario(tmp_path / "in")], out, episodes=3, workers=2, sensors="front_camera", frame_every=20,
                        retries=2, retry_delay_s=0.01, quiet=True)
    assert summary.exit_code == 0, summary
    by_seed = {r["seed"]: r for r in rows(out)}
    assert [by_seed[s]["attempts"] for s in range(3)] == [2, 1, 2]
    assert_consistent(out)
    for seed in range(3):
        ep = out / by_seed[seed]["out_path"]
        assert len(list((ep / "labels").glob("*.json"))) == 3 and len(list((ep / "sensors" / "front").glob("*.jpg"))) == 3
    assert not any(".tmp-" in p for p in episode_dirs(out))
