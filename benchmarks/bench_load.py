"""Load: one long embedded sweep without sensors, watching the coordinator for leaks.

N episodes (default 10,000; `--episodes` to shrink) of a 2 s two-car scenario on local workers.
Every 100 finished episodes the coordinator (this process) samples its RSS (psutil if installed,
else VmRSS from /proc/self/status), its open file descriptors (/proc/self/fd) and its descendant
processes (the fork server and the workers, from /proc/*/stat). Figures (bench-results/load.json):
- `rss_growth_mb`: RSS at the end minus RSS at episode 100 (target <= 50 MB);
- `fd_growth`, `process_growth`: the same for fds and descendants (target: 0, i.e. flat;
  a replaced worker would show as a transient, not as growth).
The sweep directory lives in a temporary folder (about 30 KB an episode) unless `--keep DIR`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write  # noqa: E402

EVERY = 100
TARGETS = {"rss_growth_mb": 50.0, "fd_growth": 0, "process_growth": 0}

SCENARIO = """\
edgecase: 1
name: bench_load
map: builtin:urban_straight
duration_s: 2
params:
  gap_m: uniform(20, 40)
actors:
  ego:
    blueprint: vehicle.lincoln.mkz_2020
    at: {lane: driving, s_m: 20}
    speed_mps: 10
    behavior: follow_lane
  lead:
    blueprint: vehicle.tesla.model3
    at: {relative_to: ego, ahead_m: $gap_m}
    speed_mps: 9
    behavior: follow_lane
expect:
  - min_distance_m(ego, lead) > 5
"""


def rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def descendants() -> int:
    """Processes below this one (fork server, workers, their helpers), from /proc."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = 0, [os.getpid()]
    while frontier:
        pid = frontier.pop()
        children = [p for p, pp in parent.items() if pp == pid]
        found += len(children)
        frontier += children
    return found


def sample(done: int, began: float) -> dict:
    return {"episodes": done, "wall_s": round(time.perf_counter() - began, 2), "rss_mb": round(rss_mb(), 1),
            "fds": open_fds(), "processes": descendants()}


def main() -> None:
    parser = argparse.ArgumentParser(description="benchmark: load (a long sweep, watched for leaks)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"), help="folder for load.json")
    parser.add_argument("--episodes", type=int, default=10_000, help="episodes in the sweep (default 10,000)")
    parser.add_argument("--workers", type=int, default=2, help="local worker processes (default 2)")
    parser.add_argument("--keep", type=Path, default=None, help="write the sweep here and keep it (default: a temporary folder)")
    args = parser.parse_args()
    if args.episodes < EVERY:
        parser.error(f"--episodes must be at least {EVERY}")

    from edgecase.sweep.progress import LogReporter
    from edgecase.sweep.runner import run_sweep

    samples: list[dict] = []
    began = time.perf_counter()

    class Sampler(LogReporter):
        """Silent; samples the coordinator every EVERY finished episodes."""

        def start(self, total, finished, workers) -> None:
            self.done = finished
            samples.append(sample(0, began))  # workers up, nothing run yet

        def episode(self, job, row) -> None:
            self.done += 1
            if self.done % EVERY == 0:
                samples.append(sample(self.done, began))

        def retry(self, *args) -> None:
            pass

        def line(self, text: str) -> None:
            pass

        def close(self) -> None:
            pass

    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "bench_load.yaml"
        scenario.write_text(SCENARIO)
        sweep_dir = args.keep or Path(tmp) / "sweep"
        summary = run_sweep([scenario], sweep_dir, episodes=args.episodes, workers=args.workers, reporter=Sampler())
        total_s = time.perf_counter() - began
        after = sample(args.episodes, began)  # after the workers were ended and the report written
    lost = args.episodes - summary.counts.get("done", 0)
    base = next(s for s in samples if s["episodes"] == EVERY)
    end = samples[-1]
    figures = {
        "rss_growth_mb": round(end["rss_mb"] - base["rss_mb"], 1),
        "fd_growth": end["fds"] - base["fds"],
        "process_growth": end["processes"] - base["processes"],
        "rss_range_mb": [min(s["rss_mb"] for s in samples[1:]), max(s["rss_mb"] for s in samples[1:])],
        "fd_range": [min(s["fds"] for s in samples[1:]), max(s["fds"] for s in samples[1:])],
        "process_range": [min(s["processes"] for s in samples[1:]), max(s["processes"] for s in samples[1:])],
        "episodes_per_s": round(args.episodes / total_s, 1),
        "episodes_lost": lost,
    }
    meets = {"rss_growth_mb": figures["rss_growth_mb"] <= TARGETS["rss_growth_mb"],
             "fd_growth": figures["fd_growth"] <= 0, "process_growth": figures["process_growth"] <= 0,
             "episodes_lost": lost == 0}
    write(args.out, "load", {
        "episodes": args.episodes, "workers": args.workers, "scenario": "2 cars, builtin:urban_straight, 2 s, no sensors",
        "sample_every": EVERY, "rss_source": _rss_source(), "figures": figures,
        "targets": {"rss_growth_mb": "<= 50 (episode 100 -> end)", "fd_growth": "0 (flat)", "process_growth": "0 (flat)",
                    "episodes_lost": "0"},
        "meets_target": meets, "counts": summary.counts, "exit_code": summary.exit_code,
        "total_wall_s": round(total_s, 1), "after_close": after, "samples": samples})


def _rss_source() -> str:
    import importlib.util

    return "psutil" if importlib.util.find_spec("psutil") else "/proc/self/status VmRSS"


if __name__ == "__main__":
    main()
