"""The CARLA bridge's own overhead per tick, measured against the fake server (tests/fake_carla).

The 20-actor scenario of bench_sim (`scenario_text(20)`: the ego and 19 cars on builtin:highway_merge)
with the front_camera_lidar rig, through the real loop (`run_episode`), frames read at 10 Hz as
`edgecase run` does. The fake times itself (`FakeServer.busy_s`: every call into it, its physics,
and its rendering, which happens when the bridge first reads a buffer), so for each backend call
the bridge's own time is the call's wall time minus the fake's time inside it. Reported:

* `control_and_state`: apply() + tick() per tick (Controls -> VehicleControl batch, traffic lights,
  tick, snapshot -> ActorStates). Target: <= 1 ms per tick beyond the fake's time.
* `sensing`: sense() per recorded frame (gathering by frame id, and the conversion of four
  1280x720 camera images and the LiDAR by convert.py, whose share is reported on its own), and
  amortized per tick at the recording rate.
* `total_per_tick_ms`: both together, per tick.
The recorder (JPEG/PNG writing, labels) is not the bridge's and is not run.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # tests.fake_carla
from bench_sim import scenario_text  # noqa: E402
from common import parse_args, write  # noqa: E402

TARGET_MS = 1.0
FRAME_EVERY = 2  # 10 Hz at the 0.05 s step: api.run's default


class Timed:
    """A Backend proxy that times each call, and the fake's share of it."""

    def __init__(self, backend, server) -> None:
        self.backend, self.server, self.name = backend, server, backend.name
        self.calls: dict[str, list[tuple[float, float]]] = {"reset": [], "apply": [], "tick": [], "sense": []}

    def _time(self, name, *args):
        fake_before, started = self.server.busy_s, time.perf_counter()
        out = getattr(self.backend, name)(*args)
        self.calls[name].append((time.perf_counter() - started, self.server.busy_s - fake_before))
        return out

    def reset(self, plan):
        return self._time("reset", plan)

    def apply(self, controls):
        return self._time("apply", controls)

    def tick(self):
        return self._time("tick")

    def sense(self):
        return self._time("sense")

    def close(self):
        self.backend.close()


def convert_timer(server):
    """Wrap convert's functions to time the conversion inside sense(), net of the fake's time (reading
    a buffer makes the fake render it)."""
    from edgecase.backends.carla import convert

    spent = [0.0]
    for name in ("camera_frame", "lidar_frame", "image_array"):
        original = getattr(convert, name)

        def timed(*args, _original=original, **kwargs):
            fake_before, started = server.busy_s, time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - started - (server.busy_s - fake_before)

        setattr(convert, name, timed)
    return spent


def ms(values: list[float]) -> dict[str, float]:
    return {"mean_ms": round(1000 * statistics.fmean(values), 4), "median_ms": round(1000 * statistics.median(values), 4)}


def main() -> None:
    import edgecase
    import tests.fake_carla as fake_carla
    from edgecase.backends.carla import CarlaBackend
    from edgecase.roads import RoadNetwork
    from edgecase.sensors import load_rig
    from edgecase.sim.loop import run_episode

    out = parse_args("bridge")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench_bridge_20.yaml"
        path.write_text(scenario_text(20))
        plan = edgecase.compile(edgecase.load(path), 0)
    network, rig = RoadNetwork.load(plan.map.source), load_rig("front_camera_lidar")
    server = fake_carla.FakeServer("localhost", 2000)
    spent = convert_timer(server)
    backend = Timed(CarlaBackend("localhost:2000", rig=rig, network=network, carla_module=fake_carla), server)
    frames = [0]
    started = time.perf_counter()
    run_episode(plan, backend, network, on_frames=lambda state, got: frames.__setitem__(0, frames[0] + 1),
                frame_every=FRAME_EVERY)
    wall_s = time.perf_counter() - started
    server.shutdown()

    ticks = len(backend.calls["tick"])
    control = [a[0] - a[1] + t[0] - t[1] for a, t in zip(backend.calls["apply"], backend.calls["tick"])]
    sense = [wall - fake for wall, fake in backend.calls["sense"]]
    convert_ms = 1000 * spent[0] / len(sense)
    control_ms = 1000 * statistics.fmean(control)
    sense_per_tick_ms = 1000 * sum(sense) / ticks
    results = {
        "actors": len(plan.actors), "rig": rig.name, "ticks": ticks, "frames": frames[0], "frame_every": FRAME_EVERY,
        "control_and_state": {**ms(control), "target_ms": f"<= {TARGET_MS}", "meets_target": control_ms <= TARGET_MS},
        "sensing": {"per_frame": ms(sense), "of_which_convert_ms": round(convert_ms, 3),
                    "gathering_ms": round(1000 * statistics.fmean(sense) - convert_ms, 3),
                    "per_tick_amortized_ms": round(sense_per_tick_ms, 3)},
        "total_per_tick_ms": round(control_ms + sense_per_tick_ms, 3),
        "fake_per_tick_ms": round(1000 * server.busy_s / ticks, 3),
        "episode_wall_s": round(wall_s, 2),
        "reset_ms": ms([w - f for w, f in backend.calls["reset"]]),
    }
    write(out, "bridge", results)


if __name__ == "__main__":
    main()
