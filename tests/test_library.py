"""The starter scenarios really are their edge cases: their oracles hold in >= 90 % of 50 seeds."""

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
