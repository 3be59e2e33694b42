"""The job shop families' records: plain job shops, and their variants (blocking, machines down)."""

from __future__ import annotations

from cpsched.instances.jobshop import KIND, VARIANT_KIND
from cpsched.learned_pdr import RULES
from cpsched.solvers.family import Family
from cpsched.solvers.jobshop import variant
from cpsched.solvers.jobshop.command import (
    check_command,
    generate_command,
    instances_command,
    report_jobshop,
    reschedule_command,
)
from cpsched.solvers.jobshop.recipes import RECIPES, auto_recipe, solve_dispatch, solve_jobshop
from cpsched.solvers.jobshop.train_command import train_pdr_command


def _recipe_method(name: str):
    def method(problem, **options):
        return solve_jobshop(problem, RECIPES[name], name, **options)

    return method


def _auto(problem, **options):
    chosen, recipe = auto_recipe(problem)
    return solve_jobshop(problem, recipe, f"auto({chosen})", **options)


JOBSHOP = Family(
    kind=KIND,
    title="job shops",
    methods={"auto": _auto, **{name: _recipe_method(name) for name in RECIPES}},
    default_method="auto",
    method_help=(
        "Job shops (default auto): auto: cpsat below 5,000 operations, else dispatch + tabu + LNS; "
        "cpsat: our model (dispatch + tabu warm start, tight horizon); cpsat-plain: the textbook "
        "model; lns: dispatch, then large-neighbourhood search with small CP-SAT models; "
        "pdr: the learned dispatching rule (greedy, on the instance and on its reversal: the shorter); "
        "pdr-sample:K: the best of K of its schedules (sampling stops at the time limit; "
        "rollouts=MADE/K says how many ran); a rule that cannot finish its first schedule in the time "
        "limit returns none (exit 1); "
        "pdr:RULE: one static dispatching rule, no search (RULE: " + ", ".join(RULES) +
        "; add ':active' for an active instead of a non-delay schedule)."),
    report=report_jobshop,
    dispatch=solve_dispatch,
    options=("warm_start", "weights"),
    commands=(check_command, reschedule_command, generate_command, instances_command, train_pdr_command),
)

JOBSHOP_VARIANT = Family(
    kind=VARIANT_KIND,
    title="blocking job shops and job shops with machines down",
    methods={"cpsat": variant.solve_cpsat},
    default_method="cpsat",
    method_help=("Blocking job shops (--blocking, default cpsat): cpsat, or pdr, pdr-sample:K, pdr:RULE on the "
                 "blocking simulator, which swaps deadlocked jobs."),
    report=report_jobshop,
    dispatch=variant.solve_dispatch,
)
