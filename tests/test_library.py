"""The library's files are documented, and the starter scenarios really are their edge cases:
their oracles hold in >= 90 % of 50 seeds."""

from __future__ import annotations

import pytest

import edgecase
from tests.helpers import SCENARIOS, realized

STARTERS = ["occluded_child_dartout", "jaywalker_midblock", "aggressive_cut_in"]


@pytest.mark.parametrize("name", STARTERS)
def test_starter_scenario_realizes_its_edge_case_in_90_percent_of_50_seeds(name):
    scenario = edgecase.load(SCENARIOS / f"{name}.yaml")
    held, failures = realized(scenario, range(50))
    assert held >= 45, f"{name}: {held}/50 held; failures: {failures[:5]}"


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_library_scenario_is_documented_on_a_builtin_map_with_sourced_ranges(path):
    spec = edgecase.load(path).spec
    assert spec.name == path.stem and spec.map.startswith("builtin:")
    assert spec.description and spec.tags and spec.expect, "description, tags (how the library is searched) and oracles"
    lines = path.read_text().splitlines()
    for param in spec.params:  # every param's range carries a comment: its source
        line = next(line for line in lines if line.strip().startswith(f"{param}:"))
        assert "#" in line, f"{path.stem}: param {param} has no source comment"
