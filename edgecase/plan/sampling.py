"""Turn a scenario's values into numbers for one episode: the only place randomness is drawn.

One `numpy.random.Generator` per episode, seeded by the episode seed, consumed in a fixed
order (params in dependency order, then actors in placement order), so a (scenario, seed)
pair always gives the same numbers, in any process.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from edgecase.errors import InputError
from edgecase.scenario import Scenario
from edgecase.scenario.evaluate import evaluate
from edgecase.scenario.expr import Expr

Scalar = bool | int | float | str
MAX_SEED = 2**63 - 1


class Sampler:
    def __init__(self, scenario: Scenario, seed: int, overrides: Mapping[str, Scalar] | None = None):
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
            raise InputError(f"seed must be an integer in 0..{MAX_SEED}, got {seed!r}")
        self.scenario = scenario
        self.rng = np.random.default_rng(seed)
        self.params: dict[str, Scalar] = {}
        self._drawn: dict[tuple, Scalar] = {}
        overrides = dict(overrides or {})
        for name in overrides:
            if name not in scenario.spec.params:
                raise InputError(f"no param '{name}' to override", scenario.pos("params", key=True))
        for name in scenario.param_order:
            if name in overrides:
                self.params[name] = overrides[name]
            else:
                self.params[name] = self.any(scenario.spec.params[name], ("params", name))

    def any(self, value: Any, path: tuple, key: str | None = None) -> Scalar:
        """A value of any type (string, number, bool), as written or evaluated.

        Each (field, key) is evaluated once per episode: the solver and the behavior that read
        the same `duration_s: uniform(1.5, 2.5)` must see the same draw. `key` separates the
        actors of a row, which draw their own values.
        """
        if not isinstance(value, Expr):
            return value
        memo = (path, key)
        if memo not in self._drawn:
            try:
                self._drawn[memo] = evaluate(value, self.params, self.rng)
            except InputError:  # again with the position, which is only worth looking up for an error
                evaluate(value, self.params, self.rng, self.scenario.pos(*path))
                raise
        return self._drawn[memo]

    def number(self, value: Any, path: tuple, *, lo: float = -1e6, hi: float = 1e6, what: str = "", key: str | None = None) -> float:
        """A finite number within [lo, hi]; anything else is an error at `path`."""
        result = self.any(value, path, key)
        if isinstance(result, bool) or not isinstance(result, (int, float)):
            raise InputError(f"{what or path[-1]}: expected a number, got {result!r}", self.scenario.pos(*path))
        if not math.isfinite(result) or not lo <= result <= hi:
            raise InputError(f"{what or path[-1]}: {result:g} is outside {lo:g}..{hi:g}", self.scenario.pos(*path))
        return float(result)

    def integer(self, value: Any, path: tuple, *, lo: int, hi: int, key: str | None = None) -> int:
        result = self.number(value, path, lo=lo, hi=hi, key=key)
        if result != int(result):
            raise InputError(f"{path[-1]}: expected a whole number, got {result:g}", self.scenario.pos(*path))
        return int(result)

    def pick(self, count: int) -> int:
        """An index in 0..count-1 (blueprint choices, junction approaches)."""
        return int(self.rng.integers(count))
