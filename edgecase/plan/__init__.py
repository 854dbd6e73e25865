"""The compiler: scenario + seed -> a frozen, hashable EpisodePlan, all randomness resolved."""

from edgecase.plan.compiler import compile_plan
from edgecase.plan.model import PLAN_FORMAT_VERSION, ActorPlan, EpisodePlan

__all__ = ["PLAN_FORMAT_VERSION", "ActorPlan", "EpisodePlan", "compile_plan"]
