"""Simulation speed, no sensors: steps/s with 2, 20 and 100 actors on builtin maps.

Two figures per size, reported separately:
- `backend_steps_per_s`: EmbeddedBackend.apply + tick alone, under constant controls (no behaviors);
- `loop.steps_per_s`: the loop's ticks (edgecase.sim.loop.run_episode: behaviors, triggers,
  controls, backend step, collision checks, recording), timed from the first tick to the last;
  `loop.with_setup_and_metrics_steps_per_s` also counts each episode's set-up (paths, lights)
  and its metrics and oracles.
Scenarios: ego + a lead car on builtin:urban_straight; ego + rows of cars (`count:`) on the three
lanes of builtin:highway_merge for 20 and 100. Targets on a 2-core machine: >= 5,000 steps/s with
2 actors, >= 1,000 with 20, >= 200 with 100 (the issue's; Scenic 3.1's Newtonian simulator does
~1,120 with 2 actors, highway-env ~140 with 21 vehicles).
"""

from __future__ import annotations

import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import parse_args, write  # noqa: E402

TARGETS = {2: 5000, 20: 1000, 100: 200}
DURATION_S = 20  # 400 steps of 0.05 s per episode
MIN_TIMED_S = 1.0  # repeat episodes until at least this long has been timed

TWO = """\
edgecase: 1
name: bench_sim_2
map: builtin:urban_straight
duration_s: {duration_s}
actors:
  ego:
    blueprint: vehicle.lincoln.mkz_2020
    at: {{lane: driving, s_m: 20}}
    speed_mps: 10
    behavior: follow_lane
  lead:
    blueprint: vehicle.tesla.model3
    at: {{relative_to: ego, ahead_m: 30}}
    speed_mps: 9
    behavior: follow_lane
"""

HIGHWAY = """\
edgecase: 1
name: bench_sim_{n}
map: builtin:highway_merge
duration_s: {duration_s}
actors:
  ego:
    blueprint: vehicle.lincoln.mkz_2020
    at: {{road: 1, lane_id: -2, s_m: 20}}
    speed_mps: 25
    behavior: follow_lane
"""

ROW = """\
  {lane}_row:
    count: {count}
    blueprint: vehicle.*
    classes: [car, van]
    gap_m: 8
    at: {{relative_to: ego, lane: {lane}, ahead_m: {ahead_m}}}
    speed_mps: 25
    behavior: follow_lane
"""


def scenario_text(n: int) -> str:
    """`n` actors: the ego, then the others split over the ego's lane and the lanes left and right."""
    if n == 2:
        return TWO.format(duration_s=DURATION_S)
    others = n - 1
    counts = {"same": others - 2 * (others // 3), "left": others // 3, "right": others // 3}
    rows = [ROW.format(lane=lane, count=c, ahead_m=15 if lane == "same" else 5) for lane, c in counts.items() if c]
    return HIGHWAY.format(n=n, duration_s=DURATION_S) + "".join(rows)


def backend_steps_per_s(plan) -> float:
    """apply + tick under constant controls: gentle acceleration and a slight steer, every actor present."""
    from edgecase.backends.embedded import EmbeddedBackend
    from edgecase.sim.state import Controls

    n = len(plan.actors)
    controls = Controls(accel_mps2=np.full(n, 0.3), steer_rad=np.full(n, 0.002), heading_rad=np.full(n, np.nan),
                        width_m=np.full(n, np.nan), active=np.ones(n, dtype=bool))
    backend = EmbeddedBackend()
    steps, timed_s = 0, 0.0
    while timed_s < MIN_TIMED_S:
        backend.reset(plan)
        started = time.perf_counter()
        for _ in range(plan.steps):
            backend.apply(controls)
            backend.tick()
        timed_s += time.perf_counter() - started
        steps += plan.steps
    backend.close()
    return steps / timed_s


def loop_steps_per_s(plan) -> dict:
    """The whole loop, episode by episode (its per-episode metrics and oracles included in the time)."""
    try:
        from edgecase.backends.embedded import EmbeddedBackend
        from edgecase.roads import RoadNetwork
        from edgecase.sim.loop import run_episode

        network = RoadNetwork.load(plan.map.source)
        run_episode(plan, EmbeddedBackend(), network)  # warm caches (lane geometry, routes)
        steps, timed_s, tick_s = 0, 0.0, 0.0
        stamps: list[float] = []
        while timed_s < MIN_TIMED_S:
            stamps.clear()
            started = time.perf_counter()
            run_episode(plan, EmbeddedBackend(), network, progress=lambda tick, total: stamps.append(time.perf_counter()))
            timed_s += time.perf_counter() - started
            tick_s += stamps[-1] - stamps[0]  # the ticks alone: no per-episode set-up, metrics or oracles
            steps += plan.steps
    except Exception as error:  # the loop is built in parallel: report why it could not be timed
        return {"skipped": f"{type(error).__name__}: {error}", "where": traceback.format_exc(limit=-1).strip().splitlines()[-3:]}
    episodes = steps // plan.steps
    return {"steps_per_s": round(steps / tick_s * (plan.steps - 1) / plan.steps, 1), "with_setup_and_metrics_steps_per_s": round(steps / timed_s, 1), "episodes": episodes}


def main() -> None:
    import edgecase

    out = parse_args("sim")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n, target in TARGETS.items():
            path = Path(tmp) / f"bench_sim_{n}.yaml"
            path.write_text(scenario_text(n))
            plan = edgecase.compile(edgecase.load(path), 0)
            assert len(plan.actors) == n, f"{path.name} compiled to {len(plan.actors)} actors"
            backend_rate = backend_steps_per_s(plan)
            loop = loop_steps_per_s(plan)
            results[f"{n}_actors"] = {
                "map": plan.map.source,
                "actors": n,
                "steps_per_episode": plan.steps,
                "backend_steps_per_s": round(backend_rate, 1),
                "loop": loop,
                "target_steps_per_s": f">= {target}",
                "backend_meets_target": backend_rate >= target,
                "loop_meets_target": loop["steps_per_s"] >= target if "steps_per_s" in loop else None,
            }
    write(out, "sim", results)


if __name__ == "__main__":
    main()
