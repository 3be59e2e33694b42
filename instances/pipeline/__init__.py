"""Pipeline-stage placement: the problem, profiles of real models, the 1F1B schedule simulator."""

from cpsched.instances.kind import ProblemKind
from cpsched.instances.pipeline.problem import PipelineProblem, Placement, pipeline_from_json
from cpsched.instances.pipeline.schedule import PipelineEvaluation, evaluate

KIND = ProblemKind("pipeline", PipelineProblem, Placement, evaluate, "pipeline", pipeline_from_json)

__all__ = ["KIND", "PipelineEvaluation", "PipelineProblem", "Placement", "evaluate"]
