"""The optimizer offload family's record."""

from __future__ import annotations

from cpsched.instances.offload import KIND
from cpsched.solvers.family import Family, baseline_method
from cpsched.solvers.offload.baselines import BASELINES
from cpsched.solvers.offload.command import offload_profile_command, report_offload
from cpsched.solvers.offload.planner import solve_baseline, solve_cpsat

OFFLOAD = Family(
    kind=KIND,
    title="offload problems",
    methods={"cpsat": solve_cpsat, **{name: baseline_method(solve_baseline, name) for name in BASELINES}},
    default_method="cpsat",
    method_help="Optimizer offload (default cpsat): cpsat, or one baseline: " + ", ".join(BASELINES) + ".",
    report=report_offload,
    emits=("json",),
    commands=(offload_profile_command,),
)
