"""`edgecase replay EPISODE --carla`: play an episode's CARLA recording again on a live server.

Episodes run on the carla backend keep CARLA's own recorder file in the episode directory
(`edgecase.api.CARLA_RECORDING`, written by the server with `client.start_recorder`). CARLA's
replayer re-enacts it exactly (every actor's transform, light states, the weather), so this is how
to look at the episode in the simulator's own rendering, e.g. from the spectator or a new sensor.

How (CARLA 0.9.16 recorder API, carla.readthedocs.io adv_recorder): `client.replay_file(name,
start, duration, follow_id)` with the file's absolute path (a bare name would be looked for in the
server's CarlaUE4/Saved folder); the spectator follows the ego, found in the file's info as the
actor created with `role_name = hero` (the bridge's name for the ego). The replayer advances with
the world: in synchronous mode nothing moves unless someone ticks, so we tick until the replayed
duration has passed; in asynchronous mode the server runs by itself and we wait on its ticks for
as much simulated time. Then the replayer is stopped (actors removed), so the server is left as
it was found. Every carla error becomes a BackendError (exit 3) saying what failed where.

Like the bridge, this takes the carla module as a value (`carla_module`, default: the installed
wheel via `edgecase.backends.carla.connection`), so tests run it against tests/fake_carla.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgecase.api import CARLA_RECORDING
from edgecase.backends.carla import connection
from edgecase.backends.carla.connection import DEFAULT_TIMEOUT_S, carla_errors, resolve_address
from edgecase.errors import BackendError, InputError

_CREATE = re.compile(r"^\s*Create (\d+):")
_HERO = re.compile(r"^\s*role_name = hero\s*$")


@dataclass(frozen=True)
class CarlaReplay:
    """What was replayed: the file, the span of it, the actor followed, and how time was advanced."""

    recording: Path
    start_s: float
    duration_s: float
    follow_id: int  # 0: the spectator stays free
    synchronous: bool
    ticks: int  # world ticks made (synchronous) or waited for (asynchronous)
    info: str  # what the server answered to replay_file


def replay_on_carla(episode_dir: str | Path, host: str | None = None, port: int | None = None,
                    timeout: float = DEFAULT_TIMEOUT_S, *, start_s: float = 0.0, duration_s: float | None = None,
                    follow_id: int | None = None, carla_module: Any = None) -> CarlaReplay:
    """Replay the episode's CARLA recording on the server at host[:port] (default $EDGECASE_CARLA_HOST).

    `duration_s`: how much to replay (default: the episode's duration from `start_s`); `follow_id`:
    the actor the spectator follows (default: the ego found in the recording, else none).
    InputError when the episode has no recording (it was not run on the carla backend)."""
    episode = Path(episode_dir)
    recording = (episode / CARLA_RECORDING).absolute()
    if not recording.is_file():
        raise InputError(f"{episode} has no CARLA recording ({CARLA_RECORDING})",
                         hint="only episodes run with --backend carla have one; replay others with --html or --mcap")
    length = _duration(episode, start_s) if duration_s is None else float(duration_s)
    carla = carla_module if carla_module is not None else connection.carla_module()
    address = resolve_address(host, port)
    client, _, _ = connection.connect(carla, address, timeout)
    with carla_errors("replay the episode's recording", address, timeout):
        if follow_id is None:
            follow_id = hero_id(client.show_recorder_file_info(str(recording), False))
        world = client.get_world()
        info = client.replay_file(str(recording), float(start_s), length, int(follow_id))
        settings = world.get_settings()
        if settings.synchronous_mode:
            ticks = _tick_through(world, length, settings.fixed_delta_seconds or 0.05, timeout)
        else:
            ticks = _wait_through(world, length, timeout)
        client.stop_replayer(False)
    return CarlaReplay(recording, float(start_s), length, int(follow_id), bool(settings.synchronous_mode), ticks, str(info))


def hero_id(info: str) -> int:
    """The id of the actor created with role_name = hero in `show_recorder_file_info` text, else 0.

    The text lists ' Create ID: TYPE (...) at (...)' lines, each followed by its attributes indented
    ('  role_name = hero'), so the hero is the last Create seen before that attribute."""
    current = 0
    for line in info.splitlines():
        created = _CREATE.match(line)
        if created:
            current = int(created.group(1))
        elif current and _HERO.match(line):
            return current
    return 0


def _duration(episode: Path, start_s: float) -> float:
    """The rest of the episode after start_s, from episode.json's plan (the recording spans the run)."""
    try:
        plan = json.loads((episode / "episode.json").read_text())["plan"]
        total = float(plan["duration_s"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"{episode}/episode.json: cannot read the episode's duration ({e})") from None
    remaining = total - start_s if start_s >= 0 else -start_s  # CARLA: a negative start counts from the end
    if remaining <= 0:
        raise InputError(f"start {start_s:g} s is past the episode's end ({total:g} s)")
    return remaining


def _tick_through(world: Any, length_s: float, step_s: float, timeout: float) -> int:
    """Synchronous mode: the replayer moves one step per world tick; tick until length_s has passed (+1)."""
    ticks = math.ceil(length_s / step_s - 1e-9) + 1
    for _ in range(ticks):
        world.tick(timeout)
    return ticks


def _wait_through(world: Any, length_s: float, timeout: float) -> int:
    """Asynchronous mode: the server ticks by itself; wait on its ticks until length_s of simulated
    time passed. A world that stops advancing for `timeout` seconds is an error, not a hang."""
    first = world.wait_for_tick(timeout)
    start, frame, changed = first.timestamp.elapsed_seconds, first.frame, time.monotonic()
    ticks = 0
    while True:
        snapshot = world.wait_for_tick(timeout)
        if snapshot.frame != frame:
            ticks, frame, changed = ticks + 1, snapshot.frame, time.monotonic()
        elif time.monotonic() - changed > timeout:
            raise BackendError(f"the CARLA world did not advance for {timeout:g} s while replaying",
                               hint="the server is in synchronous mode with nobody ticking it, or stalled")
        if snapshot.timestamp.elapsed_seconds - start >= length_s:
            return ticks
