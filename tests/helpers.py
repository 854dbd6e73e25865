"""Shared test helpers: where things are, and a lane polyline read straight from carla."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"


def shared_maps_dir() -> Path:
    return Path(os.environ.get("EDGECASE_SHARED_MAPS", REPO.parent / "shared" / "maps"))


def shared_map(name: str) -> Path:
    path = shared_maps_dir() / f"{name}.xodr"
    if not path.is_file():
        pytest.skip(f"{path} is absent: the real CARLA towns live in ../shared/maps (set EDGECASE_SHARED_MAPS to move it)")
    return path


def lane_polyline(carla_map, road_id: int, lane_id: int, s_m: float, length_m: float, step_m: float = 0.1) -> np.ndarray:
    """Points along a lane's centre, from (road, lane, s) in its direction of travel, by carla's own waypoints.

    Independent of edgecase.roads, so tests read distances back without trusting the code under test.
    Through junctions it keeps the branch whose heading changes least (straight on).
    """
    wp = carla_map.get_waypoint_xodr(road_id, lane_id, s_m)
    points = [(wp.transform.location.x, wp.transform.location.y)]
    travelled = 0.0
    while travelled < length_m:
        options = wp.next(step_m)
        if not options:
            break
        yaw = wp.transform.rotation.yaw
        wp = min(options, key=lambda w: abs(math.remainder(w.transform.rotation.yaw - yaw, 360.0)))
        points.append((wp.transform.location.x, wp.transform.location.y))
        travelled += step_m
    return np.array(points)


def project(polyline: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arc length along `polyline` and signed lateral offset (positive: right of travel, CARLA's +y side) of points."""
    a, b = polyline[:-1], polyline[1:]
    seg = b - a
    seg_len = np.linalg.norm(seg, axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    xy = np.atleast_2d(xy)
    rel = xy[:, None, :] - a[None, :, :]
    t = np.clip(np.einsum("psk,sk->ps", rel, seg) / seg_len**2, 0.0, 1.0)
    foot = a[None] + t[..., None] * seg[None]
    dist = np.linalg.norm(xy[:, None, :] - foot, axis=2)
    best = dist.argmin(axis=1)
    rows = np.arange(len(xy))
    arc = cum[best] + t[rows, best] * seg_len[best]
    s = seg[best]
    r = xy - foot[rows, best]
    lateral = (s[:, 0] * r[:, 1] - s[:, 1] * r[:, 0]) / seg_len[best]  # left-handed frame: cross > 0 is to the right
    return arc, lateral


def realized(scenario, seeds, every_oracle: bool = False) -> tuple[int, list]:
    """How many of these seeds' episodes hold every `expect` line, and the others' failed lines.

    An episode whose oracles were all left unevaluated would pass vacuously: that is an error (with
    `every_oracle`, so is any unevaluated line)."""
    import edgecase

    held, failures = 0, []
    for seed in seeds:
        result = edgecase.run(scenario, seed)
        evaluated = [o.passed is not None for o in result.oracles]
        assert all(evaluated) if every_oracle else any(evaluated), f"seed {seed}: an oracle was not evaluated"
        if result.passed:
            held += 1
        else:
            failures.append((seed, [(o.expr, o.actual) for o in result.oracles if o.passed is False]))
    return held, failures
