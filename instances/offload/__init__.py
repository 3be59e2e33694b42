"""Optimizer offload: the problem and its profiles."""

from cpsched.instances.kind import ProblemKind
from cpsched.instances.offload.problem import (
    OffloadEvaluation,
    OffloadPlan,
    OffloadProblem,
    evaluate,
    offload_from_json,
)

KIND = ProblemKind("offload", OffloadProblem, OffloadPlan, evaluate, "offload", offload_from_json)

__all__ = ["KIND", "OffloadEvaluation", "OffloadPlan", "OffloadProblem", "evaluate"]
