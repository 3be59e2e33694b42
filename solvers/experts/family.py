"""The MoE expert placement family's record."""

from __future__ import annotations

from cpsched.instances.experts import KIND
from cpsched.solvers.experts.baselines import BASELINES
from cpsched.solvers.experts.command import experts_generate_command, report_experts
from cpsched.solvers.experts.planner import solve_baseline, solve_cpsat
from cpsched.solvers.family import planner_family

EXPERTS = planner_family(KIND, "expert placement problems", "Expert placement", solve_cpsat, solve_baseline, BASELINES,
                       report=report_experts, emits=("json",), commands=(experts_generate_command,))
