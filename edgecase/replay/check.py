"""`edgecase replay EPISODE --check`: run the recorded plan again and compare the traces, value by value.

An episode is meant to be a pure function of its plan (docs/episode-format.md: the same scenario
and seed give a byte-identical trace.npz). This check makes that promise testable after the fact:
it re-simulates episode.json's plan on the embedded backend through the very code path of the
recording (`edgecase.sim.loop.run_episode` on `make_backend("embedded")` and the plan's map), and
compares the new trace with trace.npz exactly (bit for bit; NaN equals NaN). The answer is
"identical" or the first divergence: the earliest tick, and at that tick the first actor (plan
order) and field (the trace's field order) that differ, with both values, so a
non-determinism or a changed behaviour is pinned to where it starts, not to where it grew large.

Sensor rigs are not re-rendered: frames only read the world, so the trace does not depend on them.

Finding the sources again: the plan names its scenario (`plan.scenario`) and map (`plan.map.source`,
as written in the scenario: a path there is relative to the scenario file). `find_scenario` looks
for the scenario file near the episode and accepts only the file whose content hash is the plan's
`scenario_sha256`; maps are accepted only with the plan's `map.sha256`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from edgecase.api import make_backend
from edgecase.errors import InputError
from edgecase.plan import EpisodePlan
from edgecase.record import read_episode
from edgecase.roads import RoadNetwork
from edgecase.scenario import Scenario, load_scenario
from edgecase.sim.loop import run_episode
from edgecase.sim.trace import FIELDS, Trace

COMPARED = ("t_s", *FIELDS, "light_codes")  # in the order a divergence at one tick is reported
SCENARIO_SUFFIXES = (".yaml", ".yml")
MAX_SCANNED_FILES = 200  # scenario files hashed while looking for one by content (a bound, not a target)


@dataclass(frozen=True)
class Divergence:
    """Where the re-simulated trace first differs from the recorded one."""

    tick: int
    t_s: float | None  # the recorded time of that tick (None past the recorded trace)
    actor: str | None  # None for whole-episode fields (t_s, the tick count); 'light <id>' for light_codes
    field: str  # a trace array name, 'ticks', 'actors' or 'events'
    recorded: Any
    resimulated: Any

    def describe(self) -> str:
        where = f"tick {self.tick}" + (f" (t = {self.t_s:g} s)" if self.t_s is not None else "")
        who = f" actor {self.actor!r}" if self.actor is not None else ""
        return f"diverged at {where}:{who} field {self.field!r}: recorded {self.recorded!r}, re-simulated {self.resimulated!r}"


@dataclass(frozen=True)
class CheckResult:
    """The verdict of `check_episode`; `identical` is what the CLI's exit code follows (0 / 1)."""

    episode: Path
    divergence: Divergence | None
    ticks: int  # rows of the recorded trace
    actors: tuple[str, ...]
    fields: tuple[str, ...]  # the arrays compared (older episodes lack some)
    notes: tuple[str, ...] = ()  # why a divergence may be expected (another edgecase version, a changed map)

    @property
    def identical(self) -> bool:
        return self.divergence is None

    def summary(self) -> str:
        if self.divergence is None:
            head = (f"identical: {self.ticks} ticks x {len(self.actors)} actors x {len(self.fields)} fields "
                    "and every event re-simulated on the embedded backend")
        else:
            head = self.divergence.describe()
        return "\n".join([head, *(f"note: {n}" for n in self.notes)])


def check_episode(episode_dir: str | Path, scenario: str | Path | None = None,
                  progress: Callable[[int, int], None] | None = None) -> CheckResult:
    """Re-simulate the episode's plan and compare it with trace.npz (see the module docstring).

    `scenario`: the scenario file (or a folder holding it) when it is not found near the episode;
    only needed for a map given as a path relative to the scenario. InputError if the map is gone.
    """
    record = read_episode(Path(episode_dir))
    found = find_scenario(record.plan, record.path, scenario)
    network, notes = road_network(record.plan, record.path, found)
    result = run_episode(record.plan, make_backend("embedded", None, network), network, progress)
    notes += _version_note(record.meta)
    if record.meta.get("backend", "embedded") != "embedded":
        notes += (f"recorded on the {record.meta['backend']} backend; re-simulated on the embedded one",)
    names = tuple(record.meta.get("trace", {}).get("actors", result.trace.names))
    light_ids = tuple(record.meta.get("trace", {}).get("light_ids", result.trace.light_ids))
    divergence = compare_traces(record.arrays, names, light_ids, result.trace)
    if divergence is None:
        divergence = compare_events(record.meta.get("events", []), result.trace, record.arrays["t_s"])
    fields = tuple(f for f in COMPARED if f in record.arrays)
    return CheckResult(record.path, divergence, len(record.arrays["t_s"]), names, fields, notes)


def compare_traces(recorded: dict[str, np.ndarray], names: tuple[str, ...], light_ids: tuple[int, ...],
                   trace: Trace) -> Divergence | None:
    """The first difference between stored arrays and a Trace: earliest tick, then actor row, then field.

    Fields the recording lacks (written before they existed) are skipped; the shorter trace sets the
    ticks compared, and a length difference is reported after every shared tick agreed."""
    if tuple(names) != tuple(trace.names):
        return Divergence(0, None, None, "actors", list(names), list(trace.names))
    rec_t = np.asarray(recorded["t_s"])
    count = min(len(rec_t), len(trace.t_s))
    found: list[tuple[tuple[int, int, int], Divergence]] = []
    for order, field in enumerate(COMPARED):
        if field not in recorded:
            continue
        a, b = np.asarray(recorded[field])[:count], np.asarray(getattr(trace, field))[:count]
        if a.shape[1:] != b.shape[1:]:
            found.append(((0, -1, order), Divergence(0, None, None, field, a.shape, b.shape)))
            continue
        hit = _first_difference(a, b)
        if hit is not None:
            tick, column = hit
            rank = -1 if a.ndim == 1 else column + (len(names) if field == "light_codes" else 0)
            who = None if a.ndim == 1 else (f"light {light_ids[column]}" if field == "light_codes" else names[column])
            at = (tick,) if a.ndim == 1 else (tick, column)
            found.append(((tick, rank, order), Divergence(tick, float(rec_t[tick]), who, field, a[at].item(), b[at].item())))
    if found:
        return min(found, key=lambda item: item[0])[1]
    if len(rec_t) != len(trace.t_s):
        return Divergence(count, None, None, "ticks", int(len(rec_t)), int(len(trace.t_s)))
    return None


def compare_events(recorded: list[dict[str, Any]], trace: Trace, rec_t: np.ndarray) -> Divergence | None:
    """The first event that differs (or is missing on one side), as a Divergence with field 'events'."""
    new = [asdict(e) for e in trace.events]
    for k in range(max(len(recorded), len(new))):
        a = recorded[k] if k < len(recorded) else None
        b = new[k] if k < len(new) else None
        if a != b:
            tick = min(e["tick"] for e in (a, b) if e is not None)
            actor = (a or b)["actor"]
            t_s = float(rec_t[tick]) if tick < len(rec_t) else None
            return Divergence(tick, t_s, actor, "events", _event_text(a), _event_text(b))
    return None


def _first_difference(a: np.ndarray, b: np.ndarray) -> tuple[int, int] | None:
    """(tick, column) of the first unequal value in row-major order (NaN equals NaN); None if equal."""
    differs = a != b
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        differs &= ~(np.isnan(a) & np.isnan(b))
    flat = differs.reshape(len(a), -1)
    rows = np.flatnonzero(flat.any(axis=1))
    if len(rows) == 0:
        return None
    return int(rows[0]), int(np.argmax(flat[rows[0]]))


def _event_text(event: dict[str, Any] | None) -> str:
    if event is None:
        return "(no event)"
    return f"{event['kind']} {event['actor']} {event.get('detail', '')} at tick {event['tick']}".replace("  ", " ")


def _version_note(meta: dict[str, Any]) -> tuple[str, ...]:
    recorded = meta.get("versions", {}).get("edgecase")
    try:
        current = metadata.version("edgecase")
    except metadata.PackageNotFoundError:
        current = "unknown"
    if recorded and recorded != current:
        return (f"recorded by edgecase {recorded}, re-simulated by {current}: behaviour may have changed",)
    return ()


# --- finding the sources again ---------------------------------------------------------------------


def find_scenario(plan: EpisodePlan, episode_dir: str | Path, hint: str | Path | None = None) -> Scenario | None:
    """The scenario file the plan was compiled from, or None: the first candidate whose content
    hash is the plan's scenario_sha256. Looked for: `hint` (a file or folder), then NAME.yaml
    (NAME = plan.scenario) in the episode's folder, its three parents, the working directory and
    their scenarios/ subfolders, then any scenario file there (hashed, at most MAX_SCANNED_FILES)."""
    seen: set[Path] = set()
    for path in _candidates(plan.scenario, Path(episode_dir), hint):
        resolved = path.resolve()
        if resolved in seen or not path.is_file():
            continue
        seen.add(resolved)
        try:
            scenario = load_scenario(path)
        except InputError:
            continue
        if scenario.sha256 == plan.scenario_sha256:
            return scenario
    return None


def _candidates(name: str, episode_dir: Path, hint: str | Path | None) -> Iterator[Path]:
    folders = [episode_dir.absolute(), *list(episode_dir.absolute().parents)[:3], Path.cwd()]
    folders = [f for base in folders for f in (base, base / "scenarios")]
    if hint is not None:
        hint = Path(hint)
        if hint.is_file():
            yield hint
        folders.insert(0, hint)
    for folder in folders:
        for suffix in SCENARIO_SUFFIXES:
            yield folder / f"{name}{suffix}"
    scanned = 0
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.iterdir() if p.suffix in SCENARIO_SUFFIXES):
            scanned += 1
            if scanned > MAX_SCANNED_FILES:
                return
            yield path


def road_network(plan: EpisodePlan, episode_dir: Path, scenario: Scenario | None) -> tuple[RoadNetwork, tuple[str, ...]]:
    """The plan's map: a builtin, or a file relative to the scenario (then the working directory, the
    episode's folder and its parent). Only the map with the plan's sha256 is taken as it is; a map
    that loads but changed is used with a note (the check will likely diverge), none is an InputError."""
    source = plan.map.source
    bases = [scenario.base_dir if scenario is not None else None, None, episode_dir, episode_dir.parent]
    changed: RoadNetwork | None = None
    for base in bases:
        try:
            network = RoadNetwork.load(source, base_dir=base)
        except InputError:
            continue
        if network.sha256 == plan.map.sha256:
            return network, ()
        changed = changed or network
    if changed is not None:
        return changed, (f"map {source!r} changed since the recording (its sha256 differs from the plan's)",)
    if source.startswith(("builtin:", "carla:")):
        RoadNetwork.load(source)  # raises its own InputError (an unknown builtin, a map on a CARLA server)
    hint = "pass the scenario file (replay --scenario FILE): relative map paths resolve against it"
    raise InputError(f"map {source!r} of {episode_dir} not found", hint=None if scenario else hint)
