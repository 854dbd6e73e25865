"""The public Python API: what the CLI does, for scripts and notebooks.

    import edgecase
    scenario = edgecase.load("scenarios/occluded_child_dartout.yaml")
    plan = edgecase.compile(scenario, seed=7)
    plan.content_hash(), plan.actors[0].pose
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from edgecase.plan import EpisodePlan, compile_plan
from edgecase.plan.sampling import Scalar
from edgecase.scenario import Scenario, load_scenario, loads_scenario


def load(path: str | Path) -> Scenario:
    """Read and check a scenario file; bad input raises `edgecase.errors.InputError` with file:line:col."""
    return load_scenario(path)


def loads(text: str, name: str = "<string>", base_dir: str | Path | None = None) -> Scenario:
    """A scenario from YAML text; `extends:` and relative map paths resolve against base_dir (default: cwd)."""
    return loads_scenario(text, name, base_dir=Path(base_dir) if base_dir else None)


def compile(scenario: Scenario | str | Path, seed: int, overrides: Mapping[str, Scalar] | None = None) -> EpisodePlan:  # noqa: A001
    """The episode plan for one seed; `overrides` fixes params (as a sweep grid does)."""
    if not isinstance(scenario, Scenario):
        scenario = load(scenario)
    return compile_plan(scenario, seed, overrides)
