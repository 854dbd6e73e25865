"""What a finished episode gives the manifest, read from its directory (episode.json, labels/).

One reader for both ways a row becomes 'done': a worker that just wrote the episode, and
`--resume` finding a complete directory for a row that a killed sweep left 'running' (killed
after the rename, before the manifest update). Reading the directory rather than the in-memory
result means both give the same row.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgecase.sweep.jobs import Job


def episode_columns(episode_dir: Path) -> dict[str, Any]:
    """The manifest columns an episode directory fills (status, exit code, outcome, metrics, labels)."""
    meta = json.loads((episode_dir / "episode.json").read_text())
    oracles = [{"expr": o["expr"], "passed": o["passed"], "actual": o.get("actual")} for o in meta["outcome"]["oracles"]]
    passed = verdict(oracles)
    ego = next((a["name"] for a in meta["plan"]["actors"] if a.get("role") == "ego"), None)
    return {
        "status": "done",
        "exit_code": 1 if passed is False else 0,
        "error": None,
        "plan_sha256": meta["plan_sha256"],
        "passed": None if passed is None else int(passed),
        "oracles": json.dumps(oracles),
        "metrics": json.dumps(key_metrics(meta["metrics"], ego)),
        "label_counts": json.dumps(label_counts(episode_dir)),
    }


def recovered_columns(episode_dir: Path, job: Job) -> dict[str, Any] | None:
    """The columns of a complete directory left by a killed sweep, if it is this job's episode
    (same scenario content, seed and grid point); None when there is none, or it is not."""
    if not (episode_dir / "episode.json").is_file() or any(p.is_symlink() for p in (episode_dir, episode_dir.parent, episode_dir.parent.parent)):
        return None  # a link planted inside the sweep is no episode of it
    try:
        meta = json.loads((episode_dir / "episode.json").read_text())
        plan = meta["plan"]
        same = (plan["scenario_sha256"] == job.scenario_sha256 and plan["seed"] == job.seed
                and all(plan["params"].get(k) == v for k, v in job.overrides.items()))
        if not same:
            return None
        columns = episode_columns(episode_dir)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # not an episode this edgecase wrote: leave it to the worker, which will say so
    finished = datetime.fromtimestamp((episode_dir / "episode.json").stat().st_mtime, timezone.utc)
    wall = meta.get("wall_clock", {})
    return {**columns, "started_utc": wall.get("started_utc"), "finished_utc": finished.isoformat(),
            "wall_s": wall.get("sim_wall_s")}


def verdict(oracles: list[dict[str, Any]]) -> bool | None:
    """True: every evaluated oracle held; False: one failed; None: nothing was evaluated."""
    judged = [o["passed"] for o in oracles if o["passed"] is not None]
    return all(judged) if judged else None


def key_metrics(metrics: dict[str, Any], ego: str | None) -> dict[str, Any]:
    """The few numbers a sweep compares episodes by: the minima over the ego's pairs (null when no
    pair ever had a finite value), the collision count, and the ego's hardest braking."""
    pairs = [p for p in metrics.get("pairs", []) if ego in p.get("actors", ())]
    ego_row = next((a for a in metrics.get("actors", []) if a.get("name") == ego), {})
    return {
        "min_ttc_s": _min_finite(p.get("min_ttc_s") for p in pairs),
        "min_distance_m": _min_finite(p.get("min_distance_m") for p in pairs),
        "collisions": len(metrics.get("collisions", [])),
        "ego_max_decel_mps2": _finite(ego_row.get("max_decel_mps2")),
    }


def label_counts(episode_dir: Path) -> dict[str, int]:
    """Labelled objects per class (the labels' `actor_class`: car, van, pedestrian, ...) over all
    frames; {} for an episode recorded without sensors."""
    counts: Counter[str] = Counter()
    for file in sorted((episode_dir / "labels").glob("*.json")):
        counts.update(obj["actor_class"] for obj in json.loads(file.read_text())["objects"])
    return dict(sorted(counts.items()))


def _finite(value: Any) -> float | None:
    """A number, or None for null, 'inf' / '-inf' / 'nan' (how episode.json writes infinities)."""
    if value is None or isinstance(value, str):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _min_finite(values: Any) -> float | None:
    finite = [v for v in map(_finite, values) if v is not None]
    return min(finite) if finite else None
