"""The optimizer offload family's record."""

from __future__ import annotations

from cpsched.instances.offload import KIND
from cpsched.solvers.family import planner_family
from cpsched.solvers.offload.baselines import BASELINES
from cpsched.solvers.offload.command import offload_profile_command, report_offload
from cpsched.solvers.offload.planner import solve_baseline, solve_cpsat

OFFLOAD = planner_family(KIND, "offload problems", "Optimizer offload", solve_cpsat, solve_baseline, BASELINES,
                       report=report_offload, emits=("json",), commands=(offload_profile_command,))
