"""Compile speed: parse+validate, cold compile (fresh process, map load included), warm plans/s.

A 5-actor scenario (ego, lead, follower, a parked car, a crossing pedestrian with a solved
time-to-conflict) on builtin:urban_straight and on Town10HD (../shared/maps; skipped when absent).
Targets on a 2-core machine: cold compile < 0.2 s, >= 1,000 plans/s warm.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import median_s, parse_args, write  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TOWN10 = REPO.parent / "shared" / "maps" / "Town10HD.xodr"

SCENARIO = """\
edgecase: 1
name: bench_five_actors
map: {map}
duration_s: 12
params:
  ego_speed_mps: uniform(8, 12)
  ttc_s: uniform(1.5, 2.5)
actors:
  ego:
    blueprint: vehicle.lincoln.mkz_2020
    at: {ego_at}
    speed_mps: $ego_speed_mps
    behavior: follow_lane
  lead:
    blueprint: vehicle.*
    classes: [car]
    at: {{relative_to: ego, ahead_m: uniform(25, 35)}}
    speed_mps: $ego_speed_mps - 1
    behavior: [follow_lane, {{hard_brake: {{decel_mps2: 7}}, when: {{after_s: 3}}}}]
  follower:
    blueprint: vehicle.*
    classes: [car, van]
    at: {{relative_to: ego, behind_m: uniform(15, 25)}}
    speed_mps: $ego_speed_mps
    behavior: follow_lane
  parked:
    blueprint: vehicle.*
    classes: [car]
    at: {{relative_to: ego, lane: {side_lane}, ahead_m: 12}}
  walker:
    blueprint: walker.pedestrian.*
    at: {{relative_to: ego, lane: {walker_lane}, ahead_m: uniform(100, 110)}}
    behavior: {{cross: {{speed_mps: 1.5}}}}
criticality:
  conflict: [ego, walker]
  ttc_s: $ttc_s
expect:
  - min_ttc_s(ego, walker) < 3
"""

MAPS = {
    "urban_straight": dict(map="builtin:urban_straight", ego_at="{road: 0, lane_id: -1, s_m: 40}", side_lane="parking_right", walker_lane="sidewalk_right"),
    # On the town the ego's place is left open: the compile includes the search for a lane where all five fit.
    "Town10HD": dict(map=str(TOWN10), ego_at="{lane: driving, s_m: 5}", side_lane="opposite", walker_lane="sidewalk_right"),
}

COLD = """
import sys, time, json
import edgecase, edgecase.plan, edgecase.roads   # imports are not part of the compile
started = time.perf_counter()
plan = edgecase.compile(edgecase.load(sys.argv[1]), 0)
print(json.dumps({"cold_s": time.perf_counter() - started, "hash": plan.content_hash()}))
"""


def bench_map(label: str, fields: dict, folder: Path) -> dict:
    import edgecase

    path = folder / f"bench_{label}.yaml"
    path.write_text(SCENARIO.format(**fields))
    parse_s = median_s(lambda: edgecase.load(path), 20)
    cold = [json.loads(subprocess.run([sys.executable, "-c", COLD, str(path)], capture_output=True, text=True, check=True).stdout) for _ in range(5)]
    scenario = edgecase.load(path)
    edgecase.compile(scenario, 0)  # warm the map and blueprint caches
    seeds = 2000
    started = time.perf_counter()
    for seed in range(seeds):
        edgecase.compile(scenario, seed)
    warm_s = time.perf_counter() - started
    cold_s = sorted(c["cold_s"] for c in cold)[len(cold) // 2]
    return {
        "map": fields["map"],
        "actors": 5,
        "parse_validate_s": round(parse_s, 5),
        "cold_compile_s": round(cold_s, 4),
        "warm_plans_per_s": round(seeds / warm_s, 1),
        "targets": {"cold_compile_s": "< 0.2", "warm_plans_per_s": ">= 1000"},
        "meets_targets": cold_s < 0.2 and seeds / warm_s >= 1000,
    }


def main() -> None:
    out = parse_args("compile")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, fields in MAPS.items():
            if label == "Town10HD" and not TOWN10.is_file():
                results[label] = {"skipped": f"{TOWN10} is absent"}
                continue
            results[label] = bench_map(label, fields, Path(tmp))
    write(out, "compile", results)


if __name__ == "__main__":
    main()
