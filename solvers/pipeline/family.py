"""The pipeline-stage placement family's record."""

from __future__ import annotations

from cpsched.instances.pipeline import KIND
from cpsched.solvers.family import Family, baseline_method
from cpsched.solvers.pipeline.baselines import BASELINES
from cpsched.solvers.pipeline.command import pipeline_profile_command, report_pipeline
from cpsched.solvers.pipeline.planner import solve_baseline, solve_cpsat

PIPELINE = Family(
    kind=KIND,
    title="pipeline problems",
    methods={"cpsat": solve_cpsat, **{name: baseline_method(solve_baseline, name) for name in BASELINES}},
    default_method="cpsat",
    method_help="Pipeline problems (default cpsat): cpsat, or one baseline: " + ", ".join(BASELINES) + ".",
    report=report_pipeline,
    emits=("megatron", "json"),
    commands=(pipeline_profile_command,),
)
