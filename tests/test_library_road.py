"""The road and highway scenarios of the library (issue 9) really are their edge cases.

Each compiles for seeds 0..49 (the compiler checks overlaps and lane types), and its `expect`
oracles hold in at least 9 of seeds 0..9 on its builtin map (a 50-seed sweep is the fuller
measure: `edgecase sweep scenarios/FILE --episodes 50`). Lines that need sensor data
(`max_visible_fraction`) are not evaluated here; at least one other line always is.
"""

from __future__ import annotations

import pytest

import edgecase
from tests.helpers import SCENARIOS, realized

ROAD_SCENARIOS = {
    "wrong_way_driver": "builtin:highway_merge",
    "stalled_after_curve": "builtin:curve",
    "cut_out_reveals_stalled": "builtin:highway_merge",
    "dense_highway_merge": "builtin:highway_merge",
    "lost_cargo_truck": "builtin:highway_merge",
    "overtake_into_oncoming": "builtin:curve",
}


@pytest.fixture(scope="module", params=sorted(ROAD_SCENARIOS))
def scenario(request):
    return request.param, edgecase.load(SCENARIOS / f"{request.param}.yaml")


def test_scenario_is_documented_and_on_its_builtin_map(scenario):
    name, sc = scenario
    plan = edgecase.compile(sc, 0)
    assert plan.scenario == name
    assert plan.map.source == ROAD_SCENARIOS[name]
    assert plan.tags, "tags are how the library is searched"
    text = (SCENARIOS / f"{name}.yaml").read_text()
    assert "description:" in text and "#" in text.split("params:", 1)[1], "every param range names its source in a comment"


def test_seeds_0_to_49_compile(scenario):
    name, sc = scenario
    for seed in range(50):
        plan = edgecase.compile(sc, seed)
        assert plan.seed == seed
        assert any(a.role == "ego" for a in plan.actors)


def test_edge_case_is_realized_in_9_of_10_seeds(scenario):
    name, sc = scenario
    held, failures = realized(sc, range(10))
    assert held >= 9, f"{name}: {held}/10 held; failures: {failures[:5]}"

