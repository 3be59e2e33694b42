"""MoE expert placement: the problem, synthetic loads, the independent check."""

from cpsched.instances.experts.problem import (
    ExpertEvaluation,
    ExpertPlacement,
    ExpertProblem,
    evaluate,
    experts_from_json,
)
from cpsched.instances.kind import ProblemKind

KIND = ProblemKind("experts", ExpertProblem, ExpertPlacement, evaluate, "experts", experts_from_json)

__all__ = ["KIND", "ExpertEvaluation", "ExpertPlacement", "ExpertProblem", "evaluate"]
