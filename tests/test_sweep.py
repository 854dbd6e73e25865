"""`edgecase sweep`: many episodes into one directory, with a manifest that survives kill -9,
bounded retries of backend failures, shards, and the same bytes whatever the engine."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgecase import cli
from edgecase.errors import InputError
from edgecase.record import read_episode
from edgecase.sweep.jobs import expand, in_shard, parse_seeds, parse_shard
from edgecase.sweep.runner import read_servers, run_sweep
from edgecase.sweep.worker import FAULTS_ENV

SCENARIO = """\
edgecase: 1
name: {name}
map: builtin:urban_straight
duration_s: {duration_s}
params:
  gap_m: uniform(20, 40)
actors:
  ego:
    blueprint: vehicle.lincoln.mkz_2020
    at: {{lane: driving, s_m: 20}}
    speed_mps: 10
    behavior: follow_lane
  lead:
    blueprint: vehicle.tesla.model3
    at: {{relative_to: ego, ahead_m: $gap_m}}
    speed_mps: 9
    behavior: follow_lane
expect:
  - min_distance_m(ego, lead) > {min_gap_m}
{sweep}"""


def scenario(folder: Path, name: str = "pair", duration_s: float = 2, min_gap_m: float = 5, sweep: str = "") -> Path:
    """A two-car scenario: 2 s (40 ticks) by default, its expect holds unless min_gap_m is large."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(SCENARIO.format(name=name, duration_s=duration_s, min_gap_m=min_gap_m, sweep=sweep))
    return path


def sweep(*args: object) -> int:
    return cli.run(["sweep", *map(str, args), "--quiet"])


def rows(sweep_dir: Path) -> list[dict]:
    db = sqlite3.connect(sweep_dir / "manifest.sqlite", timeout=30)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM episodes ORDER BY rowid")]
    finally:
        db.close()


def episode_dirs(sweep_dir: Path) -> set[str]:
    """Every entry under episodes/*/, hidden ones (temporaries) included, relative to the sweep."""
    return {str(p.relative_to(sweep_dir)) for p in sweep_dir.glob("episodes/*/*")} | \
           {str(p.relative_to(sweep_dir)) for p in sweep_dir.glob("episodes/*/.*")}


def assert_consistent(sweep_dir: Path) -> None:
    """Done rows <-> whole episode directories, one each; nothing half-written."""
    done = {r["out_path"] for r in rows(sweep_dir) if r["status"] == "done"}
    assert episode_dirs(sweep_dir) == done
    for path in done:
        record = read_episode(sweep_dir / path)  # episode.json and trace.npz read back
        assert record.arrays["x_m"].shape[0] == record.plan.steps + 1


# --- kill -9 and --resume --------------------------------------------------------------------


def test_kill_9_mid_sweep_then_resume_runs_every_episode_exactly_once(tmp_path):
    path = scenario(tmp_path, "slow", duration_s=20)  # ~0.1 s an episode: the kill lands mid-sweep
    out = tmp_path / "sweep"
    code = "from edgecase.cli import main; main()"
    process = subprocess.Popen([sys.executable, "-c", code, "sweep", str(path), "--out", str(out), "--episodes", "40",
                                "--workers", "2", "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while not _done_count(out) >= 4:
            assert process.poll() is None, process.communicate()[1].decode()
            assert time.monotonic() < deadline, "the sweep finished no episode within 60 s"
            time.sleep(0.01)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the coordinator, the fork server and both workers
        process.wait()
    before = {r["key"]: r for r in rows(out) if r["status"] == "done"}
    assert 4 <= len(before) < 40, "the kill should land mid-sweep"
    assert any(r["status"] == "running" for r in rows(out)), "and mid-episode"
    started = {k: _wall_clock(out / r["out_path"]) for k, r in before.items()}

    assert sweep("--out", out, "--resume", "--workers", "2") == 0

    after = rows(out)
    assert [r["status"] for r in after] == ["done"] * 40
    assert {r["out_path"] for r in after} == {f"episodes/slow/s{i}" for i in range(40)}
    assert_consistent(out)
    for key, row in before.items():  # finished before the kill: not run again
        now = next(r for r in after if r["key"] == key)
        assert (now["started_utc"], now["attempts"]) == (row["started_utc"], row["attempts"])
        assert _wall_clock(out / row["out_path"]) == started[key]


def _done_count(sweep_dir: Path) -> int:
    if not (sweep_dir / "manifest.sqlite").exists():
        return 0
    try:
        return sum(r["status"] == "done" for r in rows(sweep_dir))
    except sqlite3.OperationalError:  # created but not yet switched to WAL: try again
        return 0


def _wall_clock(episode_dir: Path) -> dict:
    return json.loads((episode_dir / "episode.json").read_text())["wall_clock"]


def test_resume_trusts_complete_directories_and_removes_half_written_ones(tmp_path, capsys):
    path = scenario(tmp_path)
    out = tmp_path / "sweep"
    assert sweep(path, "--out", out, "--episodes", "3", "--workers", "1") == 0
    assert sweep(path, "--out", out, "--episodes", "3") == 2  # a second sweep into the same directory
    assert "--resume" in capsys.readouterr().err
    # As a kill leaves it: s1 renamed into place but its row still 'running'; s2 half-written.
    s1_json = (out / "episodes/pair/s1/episode.json").stat().st_mtime_ns
    (out / "episodes/pair/s2").rename(out / "episodes/pair/.s2.tmp-99999")
    db = sqlite3.connect(out / "manifest.sqlite")
    db.execute("UPDATE episodes SET status = 'running' WHERE seed IN (1, 2)")
    db.commit()
    db.close()

    assert sweep("--out", out, "--resume", "--episodes", "5") == 2  # not the sweep that is stored
    assert "seeds differ from the sweep" in capsys.readouterr().err
    assert sweep(path, "--out", out, "--resume", "--workers", "1") == 0
    assert "resume: 1 finished on disk, 1 back to pending, 1 half-written temporaries removed" in capsys.readouterr().err
    by_seed = {r["seed"]: r for r in rows(out)}
    assert (by_seed[1]["status"], by_seed[1]["attempts"]) == ("done", 1)  # recognised, not redone
    assert (out / "episodes/pair/s1/episode.json").stat().st_mtime_ns == s1_json
    assert (by_seed[2]["status"], by_seed[2]["attempts"]) == ("done", 2)  # run again
    assert_consistent(out)


def test_a_scenario_edited_before_resume_is_refused_not_mixed(tmp_path, capsys):
    path = scenario(tmp_path)
    out = tmp_path / "sweep"
    assert sweep(path, "--out", out, "--episodes", "2", "--workers", "1") == 0
    db = sqlite3.connect(out / "manifest.sqlite")
    db.execute("UPDATE episodes SET status = 'pending' WHERE seed = 1")
    db.commit()
    db.close()
    (out / "episodes/pair/s1/episode.json").unlink()
    (out / "episodes/pair/s1/trace.npz").unlink()
    (out / "episodes/pair/s1").rmdir()
    path.write_text(path.read_text().replace("speed_mps: 9", "speed_mps: 8"))
    assert sweep("--out", out, "--resume", "--workers", "1") == 2
    s1 = rows(out)[1]
    assert (s1["status"], s1["attempts"], s1["exit_code"]) == ("failed", 2, 2)  # one more attempt: bad input is not retried
    assert "changed since the sweep started" in s1["error"]


# --- engines ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster():
    """A real local Ray cluster, once for the module (it takes seconds to start)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


def test_engines_and_worker_counts_give_identical_episodes_and_a_merged_dataset(tmp_path, ray_cluster):
    path = scenario(tmp_path)
    common = [path, "--episodes", "3", "--sensors", "front_camera", "--frame-every", "20"]
    assert sweep(*common, "--out", tmp_path / "one", "--workers", "1", "--export", "coco") == 0
    assert sweep(*common, "--out", tmp_path / "two", "--workers", "2") == 0
    assert sweep(*common, "--out", tmp_path / "ray", "--workers", "2", "--engine", "ray") == 0

    hashes = {name: {r["key"]: r["plan_sha256"] for r in rows(tmp_path / name)} for name in ("one", "two", "ray")}
    assert hashes["one"] == hashes["two"] == hashes["ray"] and len(hashes["one"]) == 3
    assert {r["worker"].split()[0] for r in rows(tmp_path / "ray")} <= {"ray-0", "ray-1"}
    for row in rows(tmp_path / "one"):
        assert json.loads(row["label_counts"]) == {"car": 3}  # the lead car in each of the 3 frames
        files = sorted(p.relative_to(tmp_path / "one" / row["out_path"]) for p in (tmp_path / "one" / row["out_path"]).rglob("*")
                       if p.name == "trace.npz" or p.parent.name == "labels")
        assert len(files) == 4
        for other in ("two", "ray"):
            for file in files:
                assert (tmp_path / "one" / row["out_path"] / file).read_bytes() == (tmp_path / other / row["out_path"] / file).read_bytes()
    coco = json.loads(next((tmp_path / "one" / "dataset-coco" / "annotations").glob("*.json")).read_text())
    assert len(coco["images"]) == 9 and coco["annotations"]


def test_the_ray_engine_replaces_a_dead_actor(tmp_path, ray_cluster, monkeypatch):
    monkeypatch.setenv(FAULTS_ENV, "pair:1=crash@1")
    out = tmp_path / "sweep"
    summary = run_sweep([scenario(tmp_path)], out, episodes=3, workers=2, engine="ray", retry_delay_s=0.01, quiet=True)
    assert summary.exit_code == 0
    assert [r["attempts"] for r in rows(out)] == [1, 2, 1]
    assert_consistent(out)


# --- failures --------------------------------------------------------------------------------


def test_a_broken_scenario_is_reported_with_its_position_and_the_others_still_run(tmp_path, capsys):
    folder = tmp_path / "scenarios"
    scenario(folder, "good")
    broken = folder / "broken.yaml"
    broken.write_text(SCENARIO.format(name="broken", duration_s=2, min_gap_m=5, sweep="").replace("speed_mps: 9", "sped_mps: 9"))
    out = tmp_path / "sweep"
    assert sweep(folder, "--out", out, "--episodes", "2", "--workers", "2") == 2
    err = capsys.readouterr().err
    bad = [r for r in rows(out) if r["scenario_name"] == "broken"]
    assert len(bad) == 1 and (bad[0]["status"], bad[0]["attempts"], bad[0]["exit_code"]) == ("failed", 1, 2)
    assert bad[0]["error"].startswith(f"{broken}:16:5: ")  # file:line:col of the misspelt key
    assert f"bad input: {broken}:16:5: " in err
    assert [r["status"] for r in rows(out) if r["scenario_name"] == "good"] == ["done", "done"]


def test_backend_failures_are_retried_with_a_bound_and_dead_workers_replaced(tmp_path, monkeypatch, capsys):
    # s1 fails once, s2 always; s3's worker process dies (os._exit) mid-episode on its first attempt,
    # s4's just after its directory was renamed into place (so it is done, not run again)
    monkeypatch.setenv(FAULTS_ENV, "pair:1=backend@1;pair:2=backend;pair:3=crash@1;pair:4=crash-after@1")
    out = tmp_path / "sweep"
    assert sweep(scenario(tmp_path), "--out", out, "--episodes", "6", "--workers", "2", "--retries", "2", "--retry-delay", "0.01") == 3
    by_seed = {r["seed"]: r for r in rows(out)}
    assert [(by_seed[s]["status"], by_seed[s]["attempts"]) for s in range(6)] == \
        [("done", 1), ("done", 2), ("failed", 3), ("done", 2), ("done", 1), ("done", 1)]
    assert by_seed[2]["exit_code"] == 3 and "injected backend failure" in by_seed[2]["error"] and "attempt 3" in by_seed[2]["error"]
    err = capsys.readouterr().err
    assert "retry pair s3 (attempt 1; " in err and "died while running it" in err
    assert re.search(r"^failed [1-6]/6 pair s2 \(3 attempts\): injected", err, re.M)
    assert_consistent(out)  # the dead worker's half-written temporary is gone too


def test_workers_that_keep_failing_are_retired_and_the_sweep_stops_resumable(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(FAULTS_ENV, "pair:*=backend")  # as if both workers' servers were down
    out = tmp_path / "sweep"
    assert sweep(scenario(tmp_path), "--out", out, "--episodes", "16", "--workers", "2", "--retries", "0") == 3
    statuses = [r["status"] for r in rows(out)]
    assert statuses.count("failed") == 10 and statuses.count("pending") == 6  # stopped: the rest not burnt on dead workers
    captured = capsys.readouterr()
    assert captured.err.count("retired: 5 episodes failed in a row") == 2 and "pass --resume" in captured.out
    monkeypatch.delenv(FAULTS_ENV)
    assert sweep("--out", out, "--resume", "--workers", "2") == 0  # the servers are back: failed and pending rows run
    assert [r["status"] for r in rows(out)] == ["done"] * 16
    assert_consistent(out)


def test_exit_code_1_when_an_expect_failed_and_the_log_lines(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert sweep(scenario(tmp_path, min_gap_m=1000), "--out", out, "--episodes", "2", "--workers", "1") == 1
    captured = capsys.readouterr()
    assert "done 1/2 pair s0 expect-failed " in captured.err
    assert "Realization rate (expect held / done): pair 0% (0/2)" in captured.out
    assert "Exit 1." in captured.out
    row = rows(out)[0]
    metrics = json.loads(row["metrics"])
    assert row["passed"] == 0 and metrics["collisions"] == 0 and metrics["min_ttc_s"] is None and metrics["min_distance_m"] > 10
    assert json.loads(row["oracles"])[0]["expr"] == "min_distance_m(ego, lead) > 1000"


# --- what runs: seeds, grids, shards -----------------------------------------------------------


def test_a_sweep_block_runs_its_grid_times_its_seeds(tmp_path):
    path = scenario(tmp_path, sweep="sweep:\n  seeds: {start: 5, count: 2}\n  grid:\n    gap_m: [20, 30, 40]\n")
    jobs, bad = expand([path])
    assert not bad and len(jobs) == 6
    assert {(j.seed, j.overrides["gap_m"]) for j in jobs} == {(s, g) for s in (5, 6) for g in (20, 30, 40)}
    assert len({j.out_path for j in jobs}) == 6 and all(j.out_path.startswith("episodes/pair/s") for j in jobs)
    assert [j.seed for j in expand([path], parse_seeds("0:3"))[0]] == [0, 1, 2]  # --seeds: no grid, params drawn


def test_options_that_make_no_sense_are_refused_before_anything_is_written(tmp_path):
    path = scenario(tmp_path)
    with pytest.raises(InputError, match="no seeds for .* no `sweep:` block"):
        expand([path])
    for bad in ({"episodes": 2, "seeds": "0:2"}, {"seeds": "3:3"}, {"episodes": 2, "shard": "3/3"},
                {"episodes": 2, "backend": "carla"}, {"episodes": 2, "backend": "carla", "carla_servers": "a:2000,a:2000"},
                {"episodes": 2, "backend": "carla", "carla_servers": "a:2000,b:2000", "workers": 3},
                {"episodes": 2, "export": ["coco"]}, {"episodes": 2, "engine": "spark"}):
        with pytest.raises(InputError):
            run_sweep([path], tmp_path / "sweep", quiet=True, **bad)
        assert not (tmp_path / "sweep" / "manifest.sqlite").exists()
    assert parse_shard("1/3") == (1, 3)
    servers = tmp_path / "servers.txt"
    servers.write_text("# one per worker\nlocalhost:2000\n\nlocalhost:2002\n")
    assert read_servers(str(servers)) == read_servers("localhost:2000, localhost:2002") == ["localhost:2000", "localhost:2002"]


def test_shards_split_a_sweep_into_disjoint_parts_that_make_the_whole(tmp_path):
    a = scenario(tmp_path, "a", sweep="sweep:\n  seeds: 3\n  grid:\n    gap_m: [20, 30]\n")
    b = scenario(tmp_path, "b", sweep="sweep: {seeds: 4}\n")
    whole = {j.key for j in expand([a, b])[0]}
    parts = []
    for index in range(3):
        out = tmp_path / f"shard{index}"
        assert sweep(a, b, "--out", out, "--shard", f"{index}/3", "--workers", "2") == 0
        parts.append({r["key"] for r in rows(out) if r["status"] == "done"})
        assert_consistent(out)
    assert set().union(*parts) == whole and sum(map(len, parts)) == len(whole) == 10
    reordered = expand([b, a], shard=(1, 3))[0]  # the files in another order: the same split
    assert {j.key for j in reordered} == parts[1] == {k for k in whole if in_shard(k, (1, 3))}
