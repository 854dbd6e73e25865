"""Realization rates of a few scenarios while writing them: the share of seeds whose `expect`
oracles all hold, on their own map and on CARLA's towns (the same measure as
benchmarks/bench_library.py, for the files named instead of the whole library).

    python tools/scenario_rates.py scenarios/red_light_runner_junction.yaml [--seeds 50] [--maps builtin,Town10HD,Town01]
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_library  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--seeds", type=int, default=bench_library.SEEDS)
    parser.add_argument("--maps", default="builtin,Town10HD,Town01")
    args = parser.parse_args()
    bench_library.SEEDS = args.seeds
    maps = {m: None if m == "builtin" else str(bench_library.TOWNS[m]) for m in args.maps.split(",")}
    jobs = [(f, name, source) for f in args.files for name, source in maps.items()]
    with ProcessPoolExecutor(os.cpu_count() or 1, initializer=_seeds, initargs=(args.seeds,)) as pool:
        futures = [(f, name, pool.submit(bench_library.rate, f, source)) for f, name, source in jobs]
        for f, name, future in futures:
            outcome = future.result()
            error = f"  first error: {outcome['error'][:300]}" if outcome["error"] else ""
            print(f"{Path(f).stem:34s} {name:9s} {outcome['held']:3d}/{args.seeds} held, {outcome['compiled']:3d} compiled{error}", flush=True)

def _seeds(count: int) -> None:
    bench_library.SEEDS = count


if __name__ == "__main__":
    main()
