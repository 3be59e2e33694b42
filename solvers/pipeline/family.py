"""The pipeline-stage placement family's record."""

from __future__ import annotations

from cpsched.instances.pipeline import KIND
from cpsched.solvers.family import planner_family
from cpsched.solvers.pipeline.baselines import BASELINES
from cpsched.solvers.pipeline.command import pipeline_profile_command, report_pipeline
from cpsched.solvers.pipeline.planner import solve_baseline, solve_cpsat

PIPELINE = planner_family(KIND, "pipeline problems", "Pipeline problems", solve_cpsat, solve_baseline, BASELINES,
                       report=report_pipeline, emits=("megatron", "json"), commands=(pipeline_profile_command,))
