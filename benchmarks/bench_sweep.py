"""Sweep throughput: 200 embedded episodes without sensors, 1 vs 2 local workers, and Ray.

Figures (bench-results/sweep.json):
- `speedup_2_local_vs_1`: scheduling wall time with 1 local worker over that with 2 (target >= 1.8);
- `overhead_ms_per_episode`: what the coordinator costs beyond the episodes themselves: (wall time
  - sum of the workers' episode wall times / workers) / episodes (target <= 5 ms). The manifest
  writes, the hand-offs between processes and any idle slot all land here;
- `speedup_2_ray_vs_1_local` (target >= 1.6), the Ray cluster started beforehand, as with
  --ray-address (its start-up is reported apart).
"Scheduling wall" runs from the moment the workers are up to the last row recorded; the
`total_wall_s` figures also count worker start-up, the manifest's creation and the report.
Scenario: bench_sim's two cars on builtin:urban_straight, 5 s (100 steps) per episode.
On a 2-core machine the coordinator shares the cores with the two workers, and any other load
(tests, other benchmarks) shows up in every figure: the numbers are noisy.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sim import TWO  # noqa: E402
from common import parse_args, write  # noqa: E402

EPISODES = 200
TARGETS = {"speedup_2_local_vs_1": 1.8, "overhead_ms_per_episode": 5.0, "speedup_2_ray_vs_1_local": 1.6}

SCENARIO = TWO.format(duration_s=5)  # bench_sim's ego + lead car on builtin:urban_straight, 5 s


def timed_sweep(scenario: Path, out: Path, workers: int, engine: str = "local") -> dict:
    """One sweep; its scheduling and total wall times, and the overhead per episode."""
    from edgecase.sweep.progress import LogReporter
    from edgecase.sweep.runner import run_sweep

    class Clock(LogReporter):
        """Silent; notes when the workers are up (start) and when the last row is in (close)."""

        def start(self, *args) -> None:
            super().start(*args)
            self.started = time.perf_counter()

        def close(self) -> None:
            self.closed = time.perf_counter()

        def line(self, text: str) -> None:
            pass

    clock = Clock()
    began = time.perf_counter()
    summary = run_sweep([scenario], out, episodes=EPISODES, workers=workers, engine=engine, reporter=clock)
    total = time.perf_counter() - began
    assert summary.counts == {"done": EPISODES}, summary
    with sqlite3.connect(out / "manifest.sqlite") as db:
        episode_s = db.execute("SELECT sum(wall_s) FROM episodes").fetchone()[0]
    wall = clock.closed - clock.started
    return {"workers": workers, "engine": engine, "scheduling_wall_s": round(wall, 3), "total_wall_s": round(total, 3),
            "sum_episode_wall_s": round(episode_s, 3), "episodes_per_s": round(EPISODES / wall, 1),
            "overhead_ms_per_episode": round(1000 * (wall - episode_s / workers) / EPISODES, 2),
            "total_overhead_ms_per_episode": round(1000 * (total - episode_s / workers) / EPISODES, 2)}


def ray_sweep(scenario: Path, out: Path) -> dict:
    try:
        import ray
    except ImportError:
        return {"skipped": "ray is not installed (pip install 'edgecase[ray]')"}
    began = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    startup = time.perf_counter() - began
    try:
        return {**timed_sweep(scenario, out, 2, "ray"), "ray_init_s": round(startup, 2)}
    finally:
        ray.shutdown()


def main() -> None:
    out = parse_args("sweep")
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "bench_sweep_2.yaml"
        scenario.write_text(SCENARIO)
        one = timed_sweep(scenario, Path(tmp) / "local1", 1)
        two = timed_sweep(scenario, Path(tmp) / "local2", 2)
        ray_two = ray_sweep(scenario, Path(tmp) / "ray2")
    figures = {
        "speedup_2_local_vs_1": round(one["scheduling_wall_s"] / two["scheduling_wall_s"], 2),
        "speedup_2_local_vs_1_total": round(one["total_wall_s"] / two["total_wall_s"], 2),
        "overhead_ms_per_episode": max(one["overhead_ms_per_episode"], two["overhead_ms_per_episode"]),
    }
    if "scheduling_wall_s" in ray_two:
        figures["speedup_2_ray_vs_1_local"] = round(one["scheduling_wall_s"] / ray_two["scheduling_wall_s"], 2)
        figures["speedup_2_ray_vs_1_local_total"] = round(one["total_wall_s"] / ray_two["total_wall_s"], 2)
    meets = {name: (figures[name] <= target if name.startswith("overhead") else figures[name] >= target)
             for name, target in TARGETS.items() if name in figures}
    write(out, "sweep", {"episodes": EPISODES, "scenario": "2 cars, builtin:urban_straight, 5 s", "figures": figures,
                         "targets": {k: (f"<= {v}" if k.startswith("overhead") else f">= {v}") for k, v in TARGETS.items()},
                         "meets_target": meets, "runs": {"local_1": one, "local_2": two, "ray_2": ray_two}})


if __name__ == "__main__":
    main()
