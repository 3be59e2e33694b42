"""The MoE expert placement family's record."""

from __future__ import annotations

from cpsched.instances.experts import KIND
from cpsched.solvers.experts.baselines import BASELINES
from cpsched.solvers.experts.command import experts_generate_command, report_experts
from cpsched.solvers.experts.planner import solve_baseline, solve_cpsat
from cpsched.solvers.family import Family, baseline_method

EXPERTS = Family(
    kind=KIND,
    title="expert placement problems",
    methods={"cpsat": solve_cpsat, **{name: baseline_method(solve_baseline, name) for name in BASELINES}},
    default_method="cpsat",
    method_help="Expert placement (default cpsat): cpsat, or one baseline: " + ", ".join(BASELINES) + ".",
    report=report_experts,
    emits=("json",),
    commands=(experts_generate_command,),
)
