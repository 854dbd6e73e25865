"""The scenario language: YAML with positions, a typed model, safe expressions, checked names."""

from edgecase.scenario.loader import Scenario, load_scenario, loads_scenario
from edgecase.scenario.model import FORMAT_VERSION, ScenarioSpec

__all__ = ["FORMAT_VERSION", "Scenario", "ScenarioSpec", "load_scenario", "loads_scenario"]
